"""beets-musicnn: tag a beets library by sound with the MusicNN networks.

The package is laid out by stage of the data flow, one folder per layer;
a module imports only its own layer and those above it in this list
(tests/test_layout.py checks it):

- ``engine``: audio in, scores and embeddings out (no beets);
- ``executors``: the engine on many files (local processes, Dask);
- ``labels``: scores to beets fields (genre, moods, tags, calibration, the
  learned heads);
- ``library``: a run over a beets library, the configuration, the store;
- ``sound``: similarity, the radio, families, playlists;
- ``player``: playing them;
- ``report``: the HTML report;
- ``commands``: the ``beet`` commands, one module each;
- ``plugin``: the beets glue (the plugin class, import stage, events).

beets looks for the plugin class in this package's namespace, hence the
import below. It must be unconditional: beets reads the namespace of the
package as already imported (e.g. by ``analysis`` users), and ``plugin``
imports nothing heavy.
"""

from .plugin import MusicnnPlugin

__all__ = ["MusicnnPlugin"]
