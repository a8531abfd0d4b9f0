"""The MusicNN models this package ships, and everything known about them.

This module is the one place that names the models, their tag vocabularies (in
the order of the network's outputs), their tensors and their weight files. It
imports nothing heavy so that beets can read it at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: Sample rate, STFT and mel settings the models were trained with.
SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames in one model input patch (3 s at 16 kHz with a 256-sample hop).
PATCH_FRAMES = 187
#: Width of the penultimate dense layer, used as the track embedding.
EMBEDDING_SIZE = 200
#: Fast mode's patches per track (``sampling``): the smallest budget that met
#: the bar on 104 real tracks of 2.5 minutes or more, with the even grid and
#: on average over randomly shifted grids (bench/bench_fast_mode.py): for both
#: models the same top-3 tags as the faithful analysis on >= 90 % of tracks,
#: and no score more than 0.05 away.
DEFAULT_PATCH_BUDGET = 48

#: Bump when anything that changes the numbers changes: weights, decoding,
#: mel features, patching, pooling. Part of ``fields.analysis_version``; a
#: Dask worker with another one is refused.
PIPELINE_VERSION = 1

#: Least share of the budget a model with a ``patch_share`` hears in fast
#: mode. With MTT on 0.34 of the patches, a third of the budget (17 of 48
#: windows, even taken among MTT's own patches) kept MTT's top-3 tags on 0.86
#: of the label corpus' dev tracks; half of it (24) on 0.95, no score more
#: than 0.042 away, and 0.91 / 0.037 on the held-out test tracks
#: (bench/bench_fast_mode.py, docs/performance.md#fast-mode).
SHARED_FAST_FLOOR = 0.5


def fast_windows(budget: int, share: float = 1.0) -> int:
    """Windows a model hears in fast mode with ``fast_patches: budget``.

    A model that hears every patch takes ``budget`` of them; one with a
    ``patch_share`` takes ``ceil(budget * max(share, SHARED_FAST_FLOOR))``
    of the patches it hears in full (``sampling.model_patches``): 24 of 48
    for the default's MTT.
    """
    if budget < 1:
        raise ValueError(f"the patch budget must be >= 1, not {budget}")
    if share >= 1.0:
        return budget
    return max(1, math.ceil(budget * max(share, SHARED_FAST_FLOOR)))

INPUT_TENSOR = "model/Placeholder"
SCORES_TENSOR = "model/Sigmoid"
EMBEDDING_TENSOR = "model/dense/BiasAdd"


@dataclass(frozen=True)
class ModelSpec:
    """A shipped MusicNN model: its short key, upstream name and vocabulary."""

    key: str
    upstream_name: str
    description: str
    tags: tuple[str, ...]

    @property
    def onnx_path(self) -> Path:
        return weights_dir() / f"{self.key}_musicnn.onnx"

    @property
    def tf_graph_path(self) -> Path:
        return weights_dir() / f"{self.key}_musicnn.pb"


MSD = ModelSpec(
    key="msd",
    upstream_name="MSD_musicnn",
    description="MusicNN trained on the Million Song Dataset (last.fm tags)",
    tags=(
    'rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance',
    '00s', 'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout',
    'male vocalists', 'classic rock', 'soul', 'indie rock', 'Mellow', 'electronica',
    '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies', 'blues',
    'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar',
    'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk',
    'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad',
    'House', 'happy',
    ),
)

MTT = ModelSpec(
    key="mtt",
    upstream_name="MTT_musicnn",
    description="MusicNN trained on MagnaTagATune",
    tags=(
    'guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock',
    'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian',
    'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet',
    'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man',
    'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
    'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice',
    'choral',
    ),
)

MODELS: dict[str, ModelSpec] = {spec.key: spec for spec in (MSD, MTT)}


def weights_dir() -> Path:
    """Folder of the model files installed with the package."""
    return Path(str(resources.files(__package__) / "weights"))


def get_model(key: str) -> ModelSpec:
    """Return the model called ``key`` (``"msd"`` or ``"mtt"``, any case).

    Raises
    ------
    ValueError
        If no shipped model has that key.
    """
    try:
        return MODELS[key.strip().lower()]
    except KeyError:
        known = ", ".join(MODELS)
        raise ValueError(f"unknown MusicNN model {key!r} (known: {known})") from None
