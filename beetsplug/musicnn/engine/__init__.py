"""The engine: audio in, MusicNN scores and embeddings out; no beets here.

``models`` (the shipped networks, metadata only), ``audio`` (decoding to 16 kHz
mono), ``features`` (log-mel, 3-second patches), ``sampling`` (fast mode's
patches), ``backends`` (ONNX Runtime, Essentia), ``analysis`` (one file: the
public Python API) and ``weights/`` (the networks).
"""
