"""The ``beet`` commands, one module each: ``report`` (``musicnn-report``)."""
