"""Record the original ``musicnn`` package's tags for a folder of audio clips.

Why this exists
---------------
Our parity tests compare this package's output with the original MusicNN
implementation (``musicnn==0.1.0`` by Jordi Pons). That implementation needs
TensorFlow and an old NumPy, so CI cannot run it; instead its output is stored
next to the test clips as ``reference.json`` and this dev-only script is the
record of how it was made. Run it in the reference environment (Python 3.11,
tensorflow-cpu 2.15.1, numpy 1.26.4, librosa 0.10.2.post1, musicnn 0.1.0
installed with ``--no-deps``)::

    python tools/make_reference.py tests/data/music

For every audio file in the folder and each model it calls
``musicnn.extractor.extractor(path, model=M, input_length=3,
input_overlap=False, extract_features=False)`` and stores, per file and model,
the 50 ``tags`` in model order, their song-level ``mean`` (mean of the
per-patch sigmoid outputs), ``n_patches`` (0 if the reference crashed) and the
``top10`` tags, best first. A top-level ``_provenance`` entry records the
library versions and the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from musicnn import configuration
from musicnn.extractor import extractor

MODELS = {
    "MTT_musicnn": configuration.MTT_LABELS,
    "MSD_musicnn": configuration.MSD_LABELS,
}
AUDIO_SUFFIXES = {".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav", ".m4a"}


def tag_file(path: Path, model: str) -> dict:
    """Run the reference extractor on one file and summarise its taggram."""
    try:
        taggram, tags = extractor(
            str(path),
            model=model,
            input_length=3,
            input_overlap=False,
            extract_features=False,
        )
    except Exception as exc:  # the reference crashes on clips shorter than 3 s
        return {
            "tags": list(MODELS[model]),
            "mean": [],
            "n_patches": 0,
            "top10": [],
            "error": repr(exc),
        }
    mean = np.asarray(taggram).mean(axis=0)
    order = np.argsort(-mean, kind="stable")[:10]
    return {
        "tags": list(tags),
        "mean": [float(v) for v in mean],
        "n_patches": int(taggram.shape[0]),
        "top10": [tags[i] for i in order],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of audio clips")
    parser.add_argument(
        "--out", type=Path, help="output file (default: FOLDER/reference.json)"
    )
    args = parser.parse_args(argv)

    files = sorted(
        p for p in args.folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES
    )
    if not files:
        parser.error(f"no audio files in {args.folder}")

    result: dict = {
        "_provenance": {
            "python": sys.version.split()[0],
            **{lib: version(lib) for lib in ("musicnn", "numpy", "librosa")},
            "tensorflow": tf.__version__,
            "call": "musicnn.extractor.extractor(path, model=M, input_length=3, "
            "input_overlap=False, extract_features=False)",
            "command": " ".join(["python", *sys.argv]),
        }
    }
    for path in files:
        result[path.name] = {model: tag_file(path, model) for model in MODELS}
        summary = {m: r["top10"][:3] for m, r in result[path.name].items()}
        print(f"{path.name}: {summary}", file=sys.stderr)

    out = args.out or args.folder / "reference.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
