"""Playing the results in MPD: the connection and ``--play``/``--queue``
(:mod:`.mpd`), the DJ that keeps MPD's queue topped up (:mod:`.dj`)."""
