"""beets-musicnn: tag a beets library by sound with the MusicNN networks.

The package is laid out by stage of the data flow:

- ``models``: the shipped models, their tags and tensors (metadata only);
- ``audio``: decoding any audio file to 16 kHz mono;
- ``features``: the log-mel spectrogram and its 3-second patches;
- ``backends``: running a model (ONNX Runtime or Essentia);
- ``analysis``: the analysis of one file, the public Python API;
- ``pool``: many files at once, one worker process per core;
- ``fields``/``calibration``: from scores to beets fields (genre, mood, tags);
- ``store``: the full results (scores, embeddings) next to the library;
- ``runner``: a run over a library (selection, feeding the pool, saving);
- ``progress``: the progress line and the end-of-run summary;
- ``settings``: the ``musicnn`` configuration, checked;
- ``plugin``: the beets glue (command, import stage, events).

beets looks for the plugin class in this package's namespace, hence the
import below. It must be unconditional: beets reads the namespace of the
package as already imported (e.g. by ``analysis`` users), and ``plugin``
imports nothing heavy.
"""

from .plugin import MusicnnPlugin

__all__ = ["MusicnnPlugin"]
