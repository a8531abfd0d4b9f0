"""From scores to beets fields: ``fields`` (the field contract),
``calibration`` (scores to strengths, with ``calibration.json``), ``heads``
(the learned genre-family and mood heads, with ``heads.json``), ``content``
(music, speech or effects, with ``content.json``), ``genres`` (lastgenre's
tree) and ``moods``.
"""
