"""A run over a beets library: ``settings`` (the configuration, checked),
``options`` (what a run does), ``selection`` (which items), ``runner`` (feeding
an executor), ``import_stage`` (during ``beet import``), ``saving`` (results to
fields), ``rederive`` (fields again from stored results), ``store`` and
``recovery`` (the full results beside the library), ``library_calibration``
(strengths fitted on this library) and ``progress``.
"""
