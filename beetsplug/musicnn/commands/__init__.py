"""The ``beet`` commands, one module each: ``analyse`` (``musicnn``),
``similar`` (``musicnn-similar``, ``musicnn-radio``), ``families``
(``musicnn-families``) and ``report`` (``musicnn-report``).
"""
