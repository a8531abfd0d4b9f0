"""From scores to beets fields: ``fields`` (the field contract),
``calibration`` (scores to strengths, with ``calibration.json``), ``genres``
(lastgenre's tree), ``moods`` and ``content`` (music, speech or effects, with
``content.json``).
"""
