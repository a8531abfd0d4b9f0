"""Learned heads: small linear models over what the result store keeps.

A head reads a track's song-level tag scores of one or more models (the 50
raw scores of each, as the result store holds them) and turns them into a
label (the genre family) or a score that follows listeners (a mood). The
200-d embeddings were tried as inputs too and measured no better out of
fold (``docs/labels.md``), so the heads read the scores alone. Heads are
fitted off-line by ``tools/fit_heads.py`` on music whose genre comes from
its source and whose moods come from listeners, and shipped as JSON beside
this module with their provenance. Applying one is a standardisation and a
matrix product in NumPy: no new dependency, and labels are re-derived from
the store without decoding any audio.

The plugin imports this module at ``beet`` start-up (through ``fields``), so
NumPy and the JSON are loaded by the functions that compute, not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: The shipped heads (``tools/fit_heads.py`` writes it).
HEADS_FILE = Path(__file__).with_name("heads.json")
#: How a head's raw outputs become its values.
KINDS = ("softmax", "linear")
#: Scores are clipped to this before the logit, as in :mod:`.calibration`.
EPS = 1e-6


def feature_vector(
    scores: Mapping[str, np.ndarray], inputs: Sequence[str]
) -> np.ndarray | None:
    """The features a head with ``inputs`` reads, or None when one is missing.

    For each model of ``inputs``, in order: the logit of its raw tag scores
    (a logit spreads the many scores near 0 that a linear model would
    otherwise barely see).

    Parameters
    ----------
    scores : mapping model key -> (n_tags,) array
        Song-level raw scores (``StoredResult.scores``, ``ModelResult.scores``).
    inputs : sequence of str
        Model keys, e.g. ``("msd", "mtt")``.

    Returns
    -------
    np.ndarray of float64, or None
        None if a model of ``inputs`` has no scores.
    """
    import numpy as np

    if any(key not in scores for key in inputs):
        return None
    p = np.clip(
        np.concatenate([np.asarray(scores[key], dtype=np.float64) for key in inputs]),
        EPS,
        1 - EPS,
    )
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Head:
    """One fitted linear head.

    ``softmax`` heads give class probabilities (``outputs`` are the class
    names); ``linear`` heads give one value per output, which ``quantiles``
    turn into a 0..1 strength: the share of the fitting corpus whose value is
    lower, like the calibrated tag strengths.
    """

    name: str
    kind: str
    #: Model keys whose features the head reads (:func:`feature_vector`).
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: Standardisation of the features: ``(x - mean) / scale``.
    mean: np.ndarray
    scale: np.ndarray
    #: (n_features, n_outputs) and (n_outputs,).
    weights: np.ndarray
    bias: np.ndarray
    #: (n_outputs, n_quantiles) increasing values at evenly spaced levels
    #: from 0 to 1, for ``linear`` heads; empty for ``softmax`` ones.
    quantiles: np.ndarray
    #: Decision constants fitted with the head (e.g. ``mood_floor``).
    rules: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"head {self.name!r}: kind must be one of {KINDS}, "
                             f"not {self.kind!r}")
        n_features, n_outputs = self.weights.shape
        if len(self.outputs) != n_outputs or len(self.bias) != n_outputs:
            raise ValueError(f"head {self.name!r}: {len(self.outputs)} outputs "
                             f"but weights of shape {self.weights.shape}")
        if self.mean.shape != (n_features,) or self.scale.shape != (n_features,):
            raise ValueError(f"head {self.name!r}: standardisation of "
                             f"{self.mean.shape} for {n_features} features")
        if self.kind == "linear" and (
            self.quantiles.ndim != 2 or self.quantiles.shape[0] != n_outputs
            or self.quantiles.shape[1] < 2
        ):
            raise ValueError(f"head {self.name!r}: a linear head needs quantiles "
                             f"of shape ({n_outputs}, >= 2), not "
                             f"{self.quantiles.shape}")

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The linear outputs for features ``x`` (shape (n_features,) or
        (n, n_features))."""
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def values(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (``softmax``) or 0..1 strengths (``linear``)."""
        import numpy as np

        out = self.raw(x)
        if self.kind == "softmax":
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            return out / out.sum(axis=-1, keepdims=True)
        levels = np.linspace(0.0, 1.0, self.quantiles.shape[1])
        columns = [
            np.interp(out[..., j], self.quantiles[j], levels)
            for j in range(len(self.outputs))
        ]
        return np.stack(columns, axis=-1)

    def apply(self, scores: Mapping[str, np.ndarray]) -> dict[str, float] | None:
        """``{output: value}`` for one track, or None when an input is missing."""
        x = feature_vector(scores, self.inputs)
        if x is None:
            return None
        return dict(zip(self.outputs, self.values(x).tolist(), strict=True))

    @classmethod
    def from_json(cls, name: str, data: Mapping) -> Head:
        import numpy as np

        def array(key: str, ndim: int) -> np.ndarray:
            value = np.asarray(data.get(key, []), dtype=np.float64)
            return value.reshape((0,) * ndim) if value.size == 0 else value

        return cls(
            name=name,
            kind=data["kind"],
            inputs=tuple(data["inputs"]),
            outputs=tuple(data["outputs"]),
            mean=array("mean", 1),
            scale=array("scale", 1),
            weights=array("weights", 2),
            bias=array("bias", 1),
            quantiles=array("quantiles", 2),
            rules=dict(data.get("rules", {})),
        )

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "weights": _rounded(self.weights),
            "bias": _rounded(self.bias),
            "quantiles": _rounded(self.quantiles),
            "rules": dict(self.rules),
        }


def _rounded(array: np.ndarray) -> list:
    # Seven significant digits: the file stays small and diffable, and the
    # outputs move by far less than the labels' rounding.
    return [float(f"{v:.7g}") for v in array] if array.ndim == 1 else [
        _rounded(row) for row in array
    ]


@dataclass(frozen=True)
class HeadSet:
    """Every shipped head, each in variants for the models a library has."""

    #: head name -> its variants, those reading the most models first.
    heads: Mapping[str, tuple[Head, ...]]
    provenance: Mapping[str, object]
    #: Digest of the file, part of the labels revision.
    fingerprint: str

    def choose(self, name: str, models: Sequence[str]) -> Head | None:
        """The variant of head ``name`` that reads the most of ``models``
        (None if every variant needs a model that is not enabled)."""
        for head in self.heads.get(name, ()):
            if set(head.inputs) <= set(models):
                return head
        return None


def load_heads(path: str | Path) -> HeadSet:
    """Read a heads file written by ``tools/fit_heads.py``.

    Raises
    ------
    ValueError
        If the file is not a heads file (the message names the file).
    """
    import hashlib

    text = Path(path).read_text()
    try:
        data = json.loads(text)
        heads: dict[str, list[Head]] = {}
        for key, head in data["heads"].items():
            name = key.split("@", 1)[0]
            heads.setdefault(name, []).append(Head.from_json(key, head))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a heads file: {exc}") from None
    return HeadSet(
        heads={
            name: tuple(sorted(found, key=lambda h: -len(h.inputs)))
            for name, found in heads.items()
        },
        provenance=data.get("provenance", {}),
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:12],
    )


#: No heads: the labels of the tag rules alone (the release before the heads).
NO_HEADS = HeadSet(heads={}, provenance={}, fingerprint="none")


@lru_cache(maxsize=1)
def shipped_heads() -> HeadSet:
    """The heads shipped with the package."""
    return load_heads(HEADS_FILE)
