"""From scores to beets fields: ``fields`` (the field contract),
``calibration`` (scores to strengths, with ``calibration.json``), ``genres``
(lastgenre's tree) and ``moods``.
"""
