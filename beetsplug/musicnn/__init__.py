"""beets-musicnn: tag a beets library by sound with the MusicNN networks.

The package is laid out by stage of the data flow:

- ``models``: the shipped models, their tags and tensors (metadata only);
- ``audio``: decoding any audio file to 16 kHz mono;
- ``features``: the log-mel spectrogram and its 3-second patches;
- ``backends``: running a model (ONNX Runtime or Essentia);
- ``analysis``: the analysis of one file, the public Python API.
"""
