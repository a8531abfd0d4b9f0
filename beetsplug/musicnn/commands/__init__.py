"""The ``beet`` commands: ``base`` (what each gets), then one module each:
``analyse`` (``musicnn``), ``similar`` (``musicnn-similar``,
``musicnn-radio``), ``families`` (``musicnn-families``) and ``report``
(``musicnn-report``).
"""
