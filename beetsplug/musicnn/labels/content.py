"""Content: is a track music, spoken word or sound effects?

MusicNN was trained on music only, and it answers with music labels whatever
it hears: an audiobook chapter gets ``Hip Hop`` and the mood ``party``. This
module tells music from speech and from sound effects (non-music noise), from
what the result store keeps for each track and nothing else (song-level
``scores`` and ``embedding`` of each model), so that a library's labels can be
re-derived without decoding audio.

Method
------
The shipped ``content.json`` holds, for each set of models a track may have
been analysed with (``msd`` and ``mtt``; ``msd`` alone; ``mtt`` alone; best
first, the first one whose models a track has is used), a
multinomial logistic regression over the standardised concatenation of, per
model, the 200-d embedding and the logits of the 50 scores. It was fitted by
``tools/fit_content.py`` on recorded speech and game sound effects from Debian
packages and on real music (``corpora/content_corpus.md``), with
cross-validation grouped by voice, package and artist. A track is called
non-music only when the log-odds of non-music against music exceed the
variant's ``threshold``, which was set above every music track's out-of-fold
log-odds with a margin: being wrong about music (hiding it from
``musicnn_content:music``, dropping its genre) costs more than missing some
speech. A track called non-music is ``speech`` or ``effects``, whichever of
the two is likelier.

NumPy is imported inside the functions: the plugin imports the ``labels``
modules when beets starts, and ``beet ls`` must not pay for NumPy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: The detector shipped with the package.
DEFAULT_PATH = Path(__file__).resolve().parent / "content.json"
FORMAT_VERSION = 1
MUSIC, SPEECH, EFFECTS = "music", "speech", "effects"
#: The values ``musicnn_content`` takes.
CONTENTS = (MUSIC, SPEECH, EFFECTS)
#: Feature kinds: the song-level embedding, or the logits of the scores.
EMBEDDING, SCORE_LOGITS = "embedding", "score_logits"
#: Scores are clipped to [EPS, 1 - EPS] before the logit (as in calibration).
EPS = 1e-6


class ContentModelError(ValueError):
    """A content model file that cannot be used, saying where and why."""


@dataclass(frozen=True)
class Block:
    """One part of a variant's feature vector: a model's embedding or logits."""

    model: str
    kind: str
    size: int


@dataclass(frozen=True)
class Variant:
    """The detector for tracks analysed with one set of models."""

    models: tuple[str, ...]
    blocks: tuple[Block, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    #: One row of weights per class, in :attr:`ContentModel.classes` order.
    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, ...]
    #: Least log-odds of non-music against music that calls a track non-music.
    threshold: float

    @property
    def size(self) -> int:
        return sum(block.size for block in self.blocks)


@dataclass(frozen=True)
class Decision:
    """What the detector says of one track, and how sure it is."""

    content: str
    #: Models of the variant used (empty when none fitted the track: music).
    models: tuple[str, ...]
    #: Log-odds of non-music against music, minus the threshold: > 0 flags.
    margin: float


@dataclass(frozen=True)
class ContentModel:
    """The content detector: class names and one :class:`Variant` per model set."""

    classes: tuple[str, ...]
    variants: tuple[Variant, ...]
    provenance: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> ContentModel:
        """Check and read the JSON form; errors name ``source`` and the value."""
        if not isinstance(data, Mapping):
            raise ContentModelError(f"{source}: expected an object, not {data!r:.60}")
        version = data.get("format")
        if version != FORMAT_VERSION:
            raise ContentModelError(
                f"{source}: format {version!r} is not {FORMAT_VERSION}"
            )
        classes = tuple(data.get("classes", ()))
        if sorted(classes) != sorted(CONTENTS):
            raise ContentModelError(
                f"{source}: classes {list(classes)!r} are not {list(CONTENTS)!r}"
            )
        raw_variants = data.get("variants")
        if not isinstance(raw_variants, list) or not raw_variants:
            raise ContentModelError(
                f"{source}: 'variants' must be a non-empty list, "
                f"not {raw_variants!r:.60}"
            )
        variants = tuple(
            _read_variant(raw, f"{source}: variants[{i}]", len(classes))
            for i, raw in enumerate(raw_variants)
        )
        return cls(classes, variants, dict(data.get("provenance", {})))

    def variant_for(self, models: Sequence[str]) -> Variant | None:
        """The first variant (best first) whose models are all in ``models``.

        ``tools/fit_content.py`` writes the variants best first by their
        cross-validated figures, so a track analysed with both models may be
        judged on one of them only, where that measured better.
        """
        return next((v for v in self.variants if set(v.models) <= set(models)), None)

    def decide(
        self,
        scores: Mapping[str, Any],
        embeddings: Mapping[str, Any],
    ) -> Decision:
        """The content of one track from its song-level outputs.

        Parameters
        ----------
        scores : mapping model key -> array of shape (50,)
            Song-level sigmoid scores of each model the track was analysed
            with (``None`` values count as missing).
        embeddings : mapping model key -> array of shape (200,)
            Song-level embeddings of the same models.

        Returns
        -------
        Decision
            ``music`` with no models when no variant fits the models present.

        Raises
        ------
        ValueError
            If an array has the wrong length or a value that is not finite.
        """
        import numpy as np

        present = [
            key
            for key in sorted(set(scores) & set(embeddings))
            if scores[key] is not None and embeddings[key] is not None
        ]
        variant = self.variant_for(present)
        if variant is None:
            return Decision(MUSIC, (), -math.inf)
        parts = []
        for block in variant.blocks:
            source = embeddings if block.kind == EMBEDDING else scores
            values = np.asarray(source[block.model], dtype=np.float64).ravel()
            what = "embedding" if block.kind == EMBEDDING else "scores"
            if values.shape != (block.size,):
                raise ValueError(
                    f"{block.model} {what} has shape {np.shape(source[block.model])},"
                    f" expected ({block.size},)"
                )
            if not np.all(np.isfinite(values)):
                bad = values[~np.isfinite(values)][0]
                raise ValueError(f"{block.model} {what} holds {bad}")
            if block.kind == SCORE_LOGITS:
                values = _logit(values)
            parts.append(values)
        z = (np.concatenate(parts) - np.asarray(variant.mean)) / np.asarray(
            variant.scale
        )
        logits = np.asarray(variant.coef) @ z + np.asarray(variant.intercept)
        index = {name: i for i, name in enumerate(self.classes)}
        other = np.logaddexp(logits[index[SPEECH]], logits[index[EFFECTS]])
        margin = float(other - logits[index[MUSIC]] - variant.threshold)
        if margin <= 0:
            return Decision(MUSIC, variant.models, margin)
        content = SPEECH if logits[index[SPEECH]] >= logits[index[EFFECTS]] else EFFECTS
        return Decision(content, variant.models, margin)


def _logit(p: np.ndarray) -> np.ndarray:
    import numpy as np

    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _numbers(raw: Any, where: str, size: int | None = None) -> tuple[float, ...]:
    """A list of finite numbers (of ``size``), or an error naming it."""
    if not isinstance(raw, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
        for x in raw
    ):
        raise ContentModelError(
            f"{where} must be a list of finite numbers, not {raw!r:.60}"
        )
    if size is not None and len(raw) != size:
        raise ContentModelError(f"{where} has {len(raw)} numbers, expected {size}")
    return tuple(float(x) for x in raw)


def _read_variant(raw: Any, where: str, n_classes: int) -> Variant:
    if not isinstance(raw, Mapping):
        raise ContentModelError(f"{where} must be an object, not {raw!r:.60}")
    blocks = []
    for i, block in enumerate(raw.get("blocks") or ()):
        kind = block.get("kind") if isinstance(block, Mapping) else None
        if kind not in (EMBEDDING, SCORE_LOGITS):
            raise ContentModelError(
                f"{where}.blocks[{i}]: kind {kind!r} is not {EMBEDDING!r} "
                f"or {SCORE_LOGITS!r}"
            )
        size = block.get("size")
        if not isinstance(size, int) or size < 1:
            raise ContentModelError(f"{where}.blocks[{i}]: size {size!r} is not >= 1")
        blocks.append(Block(str(block.get("model")), kind, size))
    if not blocks:
        raise ContentModelError(f"{where}: no feature blocks")
    size = sum(block.size for block in blocks)
    scale = _numbers(raw.get("scale"), f"{where}.scale", size)
    if min(scale) <= 0:
        raise ContentModelError(f"{where}.scale holds {min(scale)}, must be > 0")
    coef = raw.get("coef")
    if not isinstance(coef, list) or len(coef) != n_classes:
        raise ContentModelError(
            f"{where}.coef must be {n_classes} rows, not {coef!r:.60}"
        )
    threshold = raw.get("threshold")
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ContentModelError(f"{where}.threshold {threshold!r} is not a number")
    models = tuple(str(m) for m in raw.get("models") or ())
    if sorted(models) != sorted({block.model for block in blocks}):
        raise ContentModelError(
            f"{where}.models {list(models)!r} are not the models of its blocks"
        )
    return Variant(
        models=models,
        blocks=tuple(blocks),
        mean=_numbers(raw.get("mean"), f"{where}.mean", size),
        scale=scale,
        coef=tuple(
            _numbers(row, f"{where}.coef[{i}]", size) for i, row in enumerate(coef)
        ),
        intercept=_numbers(raw.get("intercept"), f"{where}.intercept", n_classes),
        threshold=float(threshold),
    )


def load_content_model(path: str | PathLike | None = None) -> ContentModel:
    """Read a content model file (default: the shipped ``content.json``).

    Raises
    ------
    ContentModelError
        If the file cannot be read, is not JSON, or is not a content model;
        the message names the file and the bad value.
    """
    return _load(str(Path(path) if path is not None else DEFAULT_PATH))


@lru_cache(maxsize=4)
def _load(path: str) -> ContentModel:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ContentModelError(f"cannot read content model {path}: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContentModelError(f"{path} is not JSON: {error}") from None
    return ContentModel.from_dict(data, path)


def content_of(
    scores: Mapping[str, Any],
    embeddings: Mapping[str, Any],
    model: ContentModel | None = None,
) -> str:
    """``"music"``, ``"speech"`` or ``"effects"`` for one track.

    Parameters
    ----------
    scores : mapping model key -> array of shape (50,)
        Song-level scores of each model the track was analysed with, as the
        result store keeps them (``"msd"``, ``"mtt"``).
    embeddings : mapping model key -> array of shape (200,)
        Song-level embeddings of the same models.
    model : ContentModel, optional
        Default: the shipped detector (:func:`load_content_model`).

    Returns
    -------
    str
        ``"music"`` also when it cannot tell: no variant for the models present.
    """
    detector = model if model is not None else load_content_model()
    return detector.decide(scores, embeddings).content


def content_of_results(
    results: Mapping[str, Any], model: ContentModel | None = None
) -> str:
    """:func:`content_of` for results that carry ``scores`` and ``embedding``.

    Parameters
    ----------
    results : mapping model key -> result
        ``ModelResult`` (an analysis) or ``StoredResult`` (the result store)
        of each model the track was analysed with.
    model : ContentModel, optional
        Default: the shipped detector.
    """
    return content_of(
        {key: result.scores for key, result in results.items()},
        {key: result.embedding for key, result in results.items()},
        model,
    )
