# Over 450 lines on purpose: the field contract in one place, every field's
# name, type and rule (tools/make_field_table.py documents it from here).
"""The field contract: what MusicNN results become in a beets library.

Every field is a flexible attribute under the ``musicnn_`` prefix (two plugins
declaring one field crash beets, so the prefix is the namespace):

``musicnn_<model>_<tag slug>`` (float, 0..1)
    The **calibrated strength** of a tag (see :mod:`.calibration`): the share
    of a reference corpus of real music that scores lower on that tag, so
    ``musicnn_msd_happy:0.9..`` means "happier than 90 % of the reference"
    whatever the tag. Only the tags of the ``scores`` selection are stored
    (:func:`resolve_scores`); every tag of every model is *declared*
    (:func:`item_types`), so a query on any of them parses. With
    ``FieldSettings.calibrated=False`` the raw song-level scores are stored
    instead.
``musicnn_genre`` (string)
    MusicNN's genre in beets' genre vocabulary (:mod:`.genres`: ``Rock``,
    ``Heavy Metal``, ``Hip Hop``, ``Classical``...). A learned head
    (:mod:`.heads`) decides the *family* -- classical, electronic, rock, or
    another -- (:func:`head_family`) and :func:`genre_tag` picks the genre
    within it from the tags; see :data:`HEAD_FAMILY_ROOTS`. Without a head
    for the enabled models (``models: [mtt]``), the tag rule alone: a
    genre whose raw score reaches its :data:`GENRE_OVERRIDES` floor wins
    outright (MTT's ``classical`` at 0.04); otherwise, of the *plausible*
    genres -- the tags of :data:`GENRE_TAGS` (of the enabled models) whose
    raw score is at least :data:`GENRE_PLAUSIBLE` of the best raw genre
    score -- the one with the highest calibrated strength. Measured in
    ``docs/labels.md``.
``musicnn_content`` (string)
    ``music``, ``speech`` (spoken word) or ``effects`` (sound effects), by
    the content detector (:mod:`.content`) from the scores and embeddings.
    Speech and effects get no genre, no mood and no energy (their tags
    stay), so ``musicnn_content:music`` leaves them out of playlists.
``musicnn_mood_<mood>`` (float, 0..1)
    Seven moods that follow what listeners feel (:data:`MOOD_STRENGTH_FIELDS`:
    joyful, calm, sad, powerful, tense, tender, nostalgic), each a learned
    head's estimate of the share of listeners who would feel it, as a
    strength: the share of the fitting corpus estimated lower.
``musicnn_mood`` (string)
    The clearest of those seven (:func:`.moods.clearest_mood`), or empty
    when none stands out. Without a mood head for the enabled models, a
    valence-like MSD mood (``happy``, ``sad``, ``mellow``...) when the
    evidence is strong (:func:`.moods.valence_mood`).
``musicnn_energy`` (string)
    Loudness and tempo poles with clear evidence (``loud``, ``quiet slow``...;
    needs the ``mtt`` model), else empty (:func:`.moods.energy`).
``musicnn_tags`` (string)
    Every tag (of all enabled models) whose strength reaches ``threshold``,
    best first, as ``"; "``-separated lowercase labels; at most ``max_tags``.
    Tags that two models share (``rock``, ``electronic``...) and synonyms
    (:data:`ALIASES`: ``woman``, ``female voice``... -> ``female vocalists``)
    appear once, with the strength of the strongest.
``musicnn_version`` (string)
    :func:`analysis_version` of the analysis: items with another version are
    re-analysed.
``musicnn_labels`` (string)
    :func:`labels_revision` of the fields: items whose analysis is current but
    whose labels revision is not are re-derived from the store, no audio
    decoded.
``musicnn_analyzed`` (date)
    When the item was analysed (a Unix time, beets ``DateType``: ``beet ls
    musicnn_analyzed:2026-11..`` works).
``musicnn_error`` (string)
    Why the last analysis of the item failed, if it did.

Everything here is pure: no I/O, no beets library, only ``beets.dbcore.types``.
The plugin imports this module on every ``beet`` start, so NumPy and the
calibration are imported by the functions that compute, not here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from beets.dbcore import types

from ..engine.models import MODELS, PIPELINE_VERSION, fast_windows, get_model
from . import content, genres, heads, moods

if TYPE_CHECKING:  # NumPy and the calibration load with a run, not with beets
    import numpy as np

    from .calibration import Calibration

PREFIX = "musicnn_"
GENRE_FIELD = "musicnn_genre"
CONTENT_FIELD = "musicnn_content"
MOOD_FIELD = "musicnn_mood"
ENERGY_FIELD = "musicnn_energy"
TAGS_FIELD = "musicnn_tags"
VERSION_FIELD = "musicnn_version"
LABELS_FIELD = "musicnn_labels"
ANALYZED_FIELD = "musicnn_analyzed"
ERROR_FIELD = "musicnn_error"

#: Bump when the *code* that turns scores into fields changes what it writes.
#: Changes of the rule constants, tables, settings and calibration are seen
#: by :func:`labels_revision` without a bump.
LABELS_VERSION = 4
#: A genre is a candidate for ``musicnn_genre`` if its raw score is at least this
#: share of the best raw score among the genres. 0.75 was chosen on the dev
#: split of the label corpus (``docs/labels.md``): at 0.5 a genre the model
#: hardly believes, but that is rare in the calibration corpus, too often won.
GENRE_PLAUSIBLE = 0.75
#: Genres that win outright when their *raw* score reaches a floor:
#: (model, tag, minimum raw score). MTT's raw ``classical`` (median 0.23 on
#: the label corpus' classical tracks, at most 0.04 on 90 % of its rock,
#: metal and electronic tracks) says classical far more reliably than the
#: calibrated comparison, which prefers whatever is rarest in the reference
#: corpus (``indian``, ``folk``, ``ambient`` for an orchestra with world
#: instruments). 0.04 was chosen on the dev split (``docs/labels.md``).
GENRE_OVERRIDES: tuple[tuple[str, str, float], ...] = (("mtt", "classical", 0.04),)
#: The seven listener moods' strengths (0..1, :mod:`.heads`), by mood.
MOOD_STRENGTH_FIELDS: dict[str, str] = {
    mood: f"{MOOD_FIELD}_{mood}" for mood in moods.LISTENER_MOODS
}
#: The lastgenre roots that the genre head's families may name: within its
#: family the tags choose the genre (``Heavy Metal`` and ``Indie Pop`` are
#: rock in lastgenre's tree). ``other`` is every family the head was not
#: fitted on (pop among them: the only "pop" with a source-stated genre is
#: Emotify's, whose files are tagged alternative rock, so it is fitted as
#: rock): the tags decide among all but classical.
HEAD_FAMILY_ROOTS: dict[str, tuple[str, ...] | None] = {
    "electronic": ("Electronic",),
    "rock": ("Rock",),
    "other": None,
}
#: Separator of ``musicnn_tags``.
TAGS_SEPARATOR = "; "
#: Default calibrated strength a tag needs to enter ``musicnn_tags``: stronger
#: than 90 % of the reference corpus.
DEFAULT_THRESHOLD = 0.9
#: Default cap on the length of ``musicnn_tags``.
DEFAULT_MAX_TAGS = 10


def analysis_version(
    models: Iterable[str],
    overlap: float = 0.0,
    patch_budget: int | None = None,
    patch_shares: Mapping[str, float] | None = None,
) -> str:
    """The ``musicnn_version`` of an analysis, e.g. ``"1:msd+mtt:overlap=0"``.

    It names what determines the numbers: the pipeline revision, the models
    (in canonical order, so ``[mtt, msd]`` equals ``[msd, mtt]``), each with
    the share of the patches it listens to when that is below 1
    (``"1:msd+mtt/0.34:overlap=0"``, see ``sampling.share_patches``), the
    patch overlap (overlapping patches change the song-level means) and, in
    fast mode only, the patch budget (``"1:msd:overlap=0:patches=16"``: a
    sampled analysis is an estimate, so a later full analysis must replace
    it), with the windows of each model that has a share
    (``"1:msd+mtt/0.34:overlap=0:patches=48,mtt=24"``,
    ``models.fast_windows``). A share of 1 is left out, so the versions of
    configurations without shares are those of earlier releases, and their
    libraries are not analysed again. The backend is left out: ONNX Runtime
    and Essentia agree to about 2e-6, far below the 4 decimals stored, so
    switching backends must not re-analyse a library.
    """
    keys = {get_model(m).key for m in models}
    ordered = [key for key in MODELS if key in keys]
    if not ordered:
        raise ValueError("an analysis needs at least one model")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    shares = {get_model(m).key: float(v) for m, v in (patch_shares or {}).items()}
    named = []
    for key in ordered:
        share = shares.get(key, 1.0)
        if not 0.0 < share <= 1.0:
            raise ValueError(f"the patch share of {key} must be in (0, 1], not {share}")
        named.append(key if share == 1.0 else f"{key}/{share:g}")
    version = f"{PIPELINE_VERSION}:{'+'.join(named)}:overlap={overlap:g}"
    if patch_budget is not None:
        if patch_budget < 1:
            raise ValueError(f"patch_budget must be >= 1, not {patch_budget}")
        version += f":patches={int(patch_budget)}"
        # A model with a share hears windows of its own patches (fast mode
        # before took them from the budget's: other numbers, another name).
        for key in ordered:
            if shares.get(key, 1.0) < 1.0:
                version += f",{key}={fast_windows(patch_budget, shares[key])}"
    return version


def model_versions(version: str) -> dict[str, str]:
    """The part of an :func:`analysis_version` that belongs to each model.

    ``"1:msd+mtt/0.34:overlap=0"`` -> ``{"msd": "1:msd:overlap=0", "mtt":
    "1:mtt/0.34:overlap=0"}``: what a one-model analysis of the same
    settings would be called. One model's numbers do not depend on the other
    models of the run, so a stored result whose model part is current need
    not be analysed again when a model is added. ``{}`` for anything else.
    """
    pipeline, _, rest = version.partition(":")
    models, _, settings = rest.partition(":")
    if not (pipeline and models and settings):
        return {}
    return {
        entry.partition("/")[0]: f"{pipeline}:{entry}:{settings}"
        for entry in models.split("+")
    }


def slug(tag: str) -> str:
    """Field-name form of a tag: ``"Hip-Hop"`` -> ``"hip_hop"``."""
    return re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


def score_field(model_key: str, tag: str) -> str:
    """``musicnn_<model>_<slug>``, e.g. ``score_field("msd", "Mellow")``."""
    return f"{PREFIX}{get_model(model_key).key}_{slug(tag)}"


#: Tags that mean the same thing as another tag (of either model); in
#: ``musicnn_tags``, ``musicnn_genre`` and ``musicnn_mood`` they use the label on
#: the right (score fields keep every tag as is).
ALIASES: dict[str, str] = {
    "female vocalist": "female vocalists",  # msd
    # MTT's many words for who sings, on MSD's labels
    "female": "female vocalists",
    "woman": "female vocalists",
    "female vocal": "female vocalists",
    "female voice": "female vocalists",
    "male": "male vocalists",
    "man": "male vocalists",
    "male vocal": "male vocalists",
    "male voice": "male vocalists",
    "vocals": "vocal",
    "voice": "vocal",
    "singing": "vocal",
    "no vocal": "no vocals",
    "no voice": "no vocals",
    "beats": "beat",
    "classic": "classical",  # MagnaTagATune's "classic" is classical music
    "choral": "choir",
}


def tag_label(tag: str) -> str:
    """Lowercase label of a tag, aliases merged: ``"Hip-Hop"`` -> ``"hip-hop"``."""
    label = tag.lower()
    return ALIASES.get(label, label)


#: Tags that name a genre, by model. MSD (last.fm) genres, with ``easy
#: listening`` as the genre last.fm users made of it; left out are decades
#: (``80s``, ``oldies``), descriptors (``instrumental``, ``acoustic``,
#: ``guitar``, vocalists), moods, and ``experimental``, which on the reference
#: corpus marks any unusual texture rather than a genre. MSD has no
#: classical tag; MTT (MagnaTagATune, much classical and world music) supplies
#: ``classical``, ``opera`` and ``new age`` and its popular genres.
#:
#: Also left out, by the rule search on the label corpus' dev split
#: (``docs/labels.md``): MSD's ``chillout`` and ``jazz`` and MTT's
#: ``indian``, which named orchestral, ambient and metal tracks far more
#: often than music of their kind (``jazz`` 25 of 96 classical tracks,
#: ``indian`` 14). They stay in ``musicnn_tags`` and the score fields; no
#: track is called Jazz, Chillout or World Music any more (blues remains for
#: the jazz/blues family).
GENRE_TAGS: dict[str, tuple[str, ...]] = {
    "msd": (
        "rock", "pop", "alternative", "indie", "electronic", "dance",
        "metal", "soul", "electronica", "folk", "punk", "blues", "hard rock",
        "ambient", "Hip-Hop", "country", "funk", "electro", "heavy metal",
        "Progressive rock", "rnb", "House", "classic rock", "indie rock",
        "alternative rock", "indie pop", "easy listening",
    ),
    "mtt": (
        "classical", "techno", "rock", "pop", "ambient", "dance", "country",
        "metal", "new age", "opera", "electronic",
    ),
}

#: Tags that name a mood (valence-like, for ``musicnn_mood``) or an energy
#: level (for ``musicnn_energy``), by model; the rules are in :mod:`.moods`.
MOOD_TAGS: dict[str, tuple[str, ...]] = {
    "msd": moods.VALENCE_MOODS["msd"],
    "mtt": tuple(
        tag for axis in moods.ENERGY_AXES for tag in (*axis.high_tags, *axis.low_tags)
    ),
}

#: The default ``scores`` selection: ten fields, the ones playlists are made of
#: and that no other beets field provides — mood (happy, sad, party, chill,
#: mellow), voice (instrumental, female/male vocalists), acoustic vs produced,
#: and tempo (fast). Genres are left to ``musicnn_genre``/``musicnn_tags`` and
#: beets' own ``genres``; decades to ``year``. Each stored flexible field costs
#: every ``beet ls``: 51 stored fields per item made it 1.6x slower, ten keep
#: it cheap.
#: Entries of a model that is not enabled are dropped.
DEFAULT_SCORES: tuple[tuple[str, str], ...] = (
    ("msd", "happy"),
    ("msd", "sad"),
    ("msd", "party"),
    ("msd", "chill"),
    ("msd", "Mellow"),
    ("msd", "instrumental"),
    ("msd", "female vocalists"),
    ("msd", "male vocalists"),
    ("msd", "acoustic"),
    ("mtt", "fast"),
)


def _check_subsets() -> None:
    overrides = {key: tuple(tag for k, tag, _ in GENRE_OVERRIDES if k == key)
                 for key in MODELS}
    for table in (GENRE_TAGS, MOOD_TAGS, overrides):
        for key, tags in table.items():
            unknown = set(tags) - set(get_model(key).tags)
            assert not unknown, f"{key}: not in the vocabulary: {unknown}"


_check_subsets()


def item_types() -> dict[str, types.Type]:
    """Types of every field this plugin may store, for ``BeetsPlugin.item_types``.

    All score fields of all shipped models are declared whatever the ``scores``
    selection (declaring is free, storing costs), so range queries and numeric
    sorts work on any of them.
    """
    declared: dict[str, types.Type] = {}
    for spec in MODELS.values():
        for tag in spec.tags:
            declared[score_field(spec.key, tag)] = types.Float(4)
    declared[GENRE_FIELD] = types.STRING
    declared[CONTENT_FIELD] = types.STRING
    declared[MOOD_FIELD] = types.STRING
    for name in MOOD_STRENGTH_FIELDS.values():
        declared[name] = types.Float(4)
    declared[ENERGY_FIELD] = types.STRING
    declared[TAGS_FIELD] = types.STRING
    declared[VERSION_FIELD] = types.STRING
    declared[LABELS_FIELD] = types.STRING
    declared[ANALYZED_FIELD] = types.DATE
    declared[ERROR_FIELD] = types.STRING
    return declared


def all_fields() -> tuple[str, ...]:
    """Every field name this plugin may write (to clear them from an item)."""
    return tuple(item_types())


def _lookup(models: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Every accepted spelling -> the (model, tag) pairs it names."""
    names: dict[str, list[tuple[str, str]]] = {}
    for key in models:
        for tag in get_model(key).tags:
            pair = (key, tag)
            for name in (
                tag.lower(), slug(tag), f"{key}:{tag.lower()}", f"{key}:{slug(tag)}",
                score_field(key, tag),
            ):
                bucket = names.setdefault(name, [])
                if pair not in bucket:
                    bucket.append(pair)
    return names


def resolve_scores(
    selection: Iterable[str] | str | None, models: Iterable[str]
) -> list[tuple[str, str]]:
    """Turn the ``scores`` option into (model, tag) pairs, in vocabulary order.

    Parameters
    ----------
    selection : iterable of str, ``"all"``, or None
        Tag names or slugs (``"female vocalists"``, ``"hip_hop"``), optionally
        model-qualified (``"msd:happy"``) or as full field names
        (``"musicnn_msd_happy"``); ``"all"`` selects every tag; ``"default"``
        adds :data:`DEFAULT_SCORES`. ``None`` means the default. An unqualified
        name that several enabled models know (``"rock"``) selects it in each.
    models : iterable of str
        The enabled models; names of other models are refused.

    Raises
    ------
    ValueError
        For a name no enabled model knows, listing close matches.
    """
    keys = [get_model(m).key for m in models]
    if isinstance(selection, str):
        selection = [selection]
    if selection is None:
        selection = ["default"]
    lookup = _lookup(keys)
    chosen: set[tuple[str, str]] = set()
    for raw in selection:
        name = str(raw).strip().lower()
        if name == "all":
            chosen.update((k, t) for k in keys for t in get_model(k).tags)
        elif name == "default":
            chosen.update(pair for pair in DEFAULT_SCORES if pair[0] in keys)
        elif name in lookup:
            chosen.update(lookup[name])
        else:
            close = difflib.get_close_matches(name, list(lookup), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown MusicNN tag {raw!r} for models {'+'.join(keys)}{hint}"
            )
    order = {(k, t): (i, j) for i, k in enumerate(keys)
             for j, t in enumerate(get_model(k).tags)}
    return sorted(chosen, key=order.__getitem__)


@dataclass(frozen=True)
class FieldSettings:
    """What :func:`derive_fields` writes.

    scores : tuple of (model, tag)
        The score fields to store (see :func:`resolve_scores`).
    threshold : float
        Calibrated strength (0..1) a tag needs to enter ``musicnn_tags``; it
        applies to calibrated strengths, not raw scores, so one value means the
        same for every tag (0.9: stronger than 90 % of the reference corpus).
    models : tuple of str
        The enabled models; genre, mood and tags are drawn from these.
    max_tags : int
        At most this many tags in ``musicnn_tags``.
    calibrated : bool
        Store calibrated strengths (default) or raw scores in the score fields.
    mood_rules : moods.MoodRules
        When ``musicnn_mood`` and ``musicnn_energy`` say something.
    """

    scores: tuple[tuple[str, str], ...] = DEFAULT_SCORES
    threshold: float = DEFAULT_THRESHOLD
    models: tuple[str, ...] = ("msd", "mtt")
    max_tags: int = DEFAULT_MAX_TAGS
    calibrated: bool = True
    mood_rules: moods.MoodRules = field(default_factory=moods.MoodRules)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {self.threshold}")
        if self.max_tags < 0:
            raise ValueError(f"max_tags must be >= 0, not {self.max_tags}")

    @classmethod
    def from_config(
        cls,
        scores: Iterable[str] | str | None,
        threshold: float,
        models: Iterable[str],
        **options,
    ) -> FieldSettings:
        """Settings from the plugin's configuration values (names resolved)."""
        keys = tuple(get_model(m).key for m in models)
        return cls(
            scores=tuple(resolve_scores(scores, keys)),
            threshold=float(threshold),
            models=keys,
            **options,
        )

    def stored_fields(self) -> tuple[str, ...]:
        """The fields :func:`derive_fields` fills without heads (others are
        left unset); with a mood head it also fills
        :data:`MOOD_STRENGTH_FIELDS`."""
        return (
            *(score_field(m, t) for m, t in self.scores),
            GENRE_FIELD, CONTENT_FIELD, MOOD_FIELD, ENERGY_FIELD, TAGS_FIELD,
        )

    def describe(self) -> dict:
        """Everything in these settings that decides the fields, as JSON data
        (for :func:`labels_revision`)."""
        return {
            "scores": [list(pair) for pair in self.scores],
            "threshold": self.threshold,
            "models": list(self.models),
            "max_tags": self.max_tags,
            "calibrated": self.calibrated,
            "moods": self.mood_rules.describe(),
        }


def genre_tag(
    z_scores: Mapping[str, np.ndarray],
    raw: Mapping[str, np.ndarray],
    *,
    family: str | None = None,
) -> str | None:
    """The label of ``musicnn_genre``'s tag (before :func:`genres.canonical_genre`).

    The rule of the module docstring: the first of :data:`GENRE_OVERRIDES`
    whose model is enabled and whose raw score reaches its floor; else, of the
    :data:`GENRE_TAGS` whose raw score is at least :data:`GENRE_PLAUSIBLE`
    times the best raw genre score, the one with the highest calibrated
    z-score (ties: the higher raw score). Measured in ``docs/labels.md``.

    With ``family`` (the genre head's verdict), the rule runs within that
    family instead: ``classical`` is ``Classical``; ``electronic`` and
    ``rock`` choose among the genres under their :data:`HEAD_FAMILY_ROOTS`
    (their root's name when the tags name none of them); ``other`` chooses
    among every genre but classical, without the overrides.

    Parameters
    ----------
    z_scores, raw : mapping model key -> (n_tags,) array
        Calibrated z-scores and raw song-level scores of the enabled models.
    family : str, optional
        A genre head's family (``classical``, ``electronic``, ``rock``,
        ``other``).

    Returns
    -------
    str or None
        None when no enabled model has genre tags.
    """
    if family == "classical":
        return "classical"
    if family is None:
        for key, tag, floor in GENRE_OVERRIDES:
            if key in raw and raw[key][get_model(key).tags.index(tag)] >= floor:
                return tag_label(tag)
    roots = HEAD_FAMILY_ROOTS.get(family) if family else None
    candidates = []  # (calibrated z, raw, label)
    for key, values in z_scores.items():
        tags = get_model(key).tags
        for tag in GENRE_TAGS.get(key, ()):
            root = genres.family(genres.canonical_genre(tag_label(tag)))
            if family and (root == "Classical" or (roots and root not in roots)):
                continue
            index = tags.index(tag)
            candidates.append(
                (float(values[index]), float(raw[key][index]), tag_label(tag))
            )
    if not candidates:
        return roots[0].lower() if roots else None
    floor = GENRE_PLAUSIBLE * max(raw_score for _, raw_score, _ in candidates)
    return max((c for c in candidates if c[1] >= floor), key=lambda c: (c[0], c[1]))[2]


def head_family(
    probabilities: Mapping[str, float],
    rules: Mapping[str, float],
    tag_genre: str | None,
) -> str:
    """The genre family from the genre head's probabilities: the likeliest,
    except that the tag rule's ``classical`` stands when the head gives
    classical at least ``rules["classical_support"]``.

    The head alone misses orchestral game scores unlike any it was fitted
    on; the tag rule alone calls quiet rock, pop and electronic music
    classical. The support the head must give was chosen by grouped
    cross-validation (``tools/fit_heads.py``).
    """
    family = max(probabilities, key=probabilities.__getitem__)
    support = rules.get("classical_support", 2.0)
    if tag_genre == "classical" and probabilities.get("classical", 0.0) >= support:
        return "classical"
    return family


def derive_fields(
    results: Mapping[str, np.ndarray],
    settings: FieldSettings,
    calibration: Calibration | None = None,
    head_set: heads.HeadSet | None = None,
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> dict[str, object]:
    """The flexible fields of one item from its song-level outputs.

    Parameters
    ----------
    results : mapping model key -> (n_tags,) array
        Raw song-level scores of each model, in model order (``ModelResult.
        scores`` or ``StoredResult.scores``). Models not in ``settings.models``
        are ignored; enabled models missing from ``results`` contribute nothing.
    settings : FieldSettings
    calibration : Calibration, optional
        Defaults to the shipped one.
    head_set : heads.HeadSet, optional
        The learned heads (:mod:`.heads`) that decide the genre family and
        the seven listener moods; defaults to the shipped ones. With
        :data:`heads.NO_HEADS` (or no head for the enabled models) the genre
        and the mood come from the tags alone, as before the heads.
    embeddings : mapping model key -> (200,) array, optional
        The song-level embeddings, which the content detector
        (:mod:`.content`) reads beside the scores. Without them the track
        counts as music.

    Returns
    -------
    dict
        ``{field: value}`` for the selected score fields and the seven mood
        strengths (floats rounded to 4 decimals), ``musicnn_content``,
        ``musicnn_genre``, ``musicnn_mood``, ``musicnn_energy`` and
        ``musicnn_tags`` (strings; ``""`` when no enabled model has such
        tags, the mood rules abstain, or the track is not music). Version,
        labels, date and error fields are the caller's.
    """
    import numpy as np

    from .calibration import default_calibration, normal_cdf

    calibration = calibration or default_calibration()
    enabled = [get_model(m).key for m in settings.models]
    raw = {
        key: np.asarray(results[key], dtype=np.float64)
        for key in enabled if key in results
    }
    # Argmaxes compare z-scores (the CDF is monotone but saturates at 1.0).
    z_scores = {key: calibration.z_scores(key, scores) for key, scores in raw.items()}
    strengths = {key: normal_cdf(z) for key, z in z_scores.items()}
    values = strengths if settings.calibrated else raw

    fields: dict[str, object] = {}
    for key, tag in settings.scores:
        if key in values:
            index = get_model(key).tags.index(tag)
            fields[score_field(key, tag)] = round(float(values[key][index]), 4)

    kind = content.MUSIC
    if embeddings is not None:
        kind = content.content_of(
            raw, {key: embeddings[key] for key in raw if key in embeddings}
        )
    fields[CONTENT_FIELD] = kind
    if kind == content.MUSIC:
        head_set = head_set or heads.shipped_heads()
        fields.update(music_labels(raw, z_scores, strengths, settings, head_set))
    else:
        # Spoken word and sound effects: MusicNN's genres, moods and energy
        # are music words for what is not music.
        fields.update({GENRE_FIELD: "", MOOD_FIELD: "", ENERGY_FIELD: ""})
    fields[TAGS_FIELD] = tags_field(strengths, settings)
    return fields


def music_labels(
    raw: Mapping[str, np.ndarray],
    z_scores: Mapping[str, np.ndarray],
    strengths: Mapping[str, np.ndarray],
    settings: FieldSettings,
    head_set: heads.HeadSet,
) -> dict[str, object]:
    """Genre, moods and energy of a music track (see :func:`derive_fields`):
    the heads of ``head_set`` for the enabled models where there are some,
    the tag rules elsewhere."""
    chosen = {
        name: head
        for name in ("genre", "moods")
        if (head := head_set.choose(name, list(raw))) is not None
    }
    learned = {name: head.apply(raw) for name, head in chosen.items()}
    family = None
    if probabilities := learned.get("genre"):
        family = head_family(
            probabilities, chosen["genre"].rules, genre_tag(z_scores, raw)
        )
    label = genre_tag(z_scores, raw, family=family)
    genre = genres.canonical_genre(label) if label else ""
    lineage = genres.lineage(genre) if genre else []
    labels: dict[str, object] = {GENRE_FIELD: genre}
    if felt := learned.get("moods"):
        for mood, value in felt.items():
            labels[MOOD_STRENGTH_FIELDS[mood]] = round(value, 4)
        labels[MOOD_FIELD] = moods.clearest_mood(
            felt, chosen["moods"].rules["mood_floor"], lineage
        )
    else:
        labels[MOOD_FIELD] = moods.valence_mood(strengths, lineage, settings.mood_rules)
    labels[ENERGY_FIELD] = moods.energy(strengths, settings.mood_rules)
    return labels


def tags_field(strengths: Mapping[str, np.ndarray], settings: FieldSettings) -> str:
    """``musicnn_tags``: every tag whose strength reaches the threshold,
    strongest first, each label once, at most ``max_tags``."""
    by_label: dict[str, float] = {}
    for key, vector in strengths.items():
        for tag, value in zip(get_model(key).tags, vector.tolist(), strict=True):
            label = tag_label(tag)
            if value >= settings.threshold and value > by_label.get(label, -1.0):
                by_label[label] = value
    ranked = sorted(by_label, key=lambda label: (-by_label[label], label))
    return TAGS_SEPARATOR.join(ranked[: settings.max_tags])


def labels_revision(
    settings: FieldSettings,
    calibration: Calibration | None = None,
    calibration_source: str = "shipped",
    extra: Mapping[str, object] | None = None,
    head_set: heads.HeadSet | None = None,
) -> str:
    """The ``musicnn_labels`` of fields derived with these settings, e.g.
    ``"3:shipped:3f9a0c1d2e4b"``.

    The numbers' revision (:func:`analysis_version`) says whether an item
    must be analysed again; this one says whether its fields must be derived
    again from the stored numbers, which costs no decoding. It is
    :data:`LABELS_VERSION`, where the calibration comes from, and a digest
    of everything else that decides the fields: the genre and mood tables
    and rules, the aliases, the settings (``scores``, ``threshold``...), the
    calibration's content, the learned heads and ``extra`` (e.g.
    ``write_genre``). A change of any of them — an upgrade that tunes a
    rule, a new calibration, a new ``threshold`` — makes every item's labels
    stale, so the next run re-derives them by itself.
    """
    import hashlib  # here: only runs need it, not every `beet` start
    import json

    from .calibration import default_calibration

    calibration = calibration or default_calibration()
    description = {
        "genre": {
            "tags": GENRE_TAGS,
            "plausible": GENRE_PLAUSIBLE,
            "overrides": GENRE_OVERRIDES,
            "canonical": genres.CANONICAL,
            "parents": genres.PARENTS,
        },
        "aliases": ALIASES,
        "tags_separator": TAGS_SEPARATOR,
        "settings": settings.describe(),
        "calibration": calibration.fingerprint,
        "heads": (head_set or heads.shipped_heads()).fingerprint,
        "content": hashlib.sha256(content.DEFAULT_PATH.read_bytes()).hexdigest(),
        # Sorted: a frozenset's order changes from one process to the next.
        "listener_forbidden": {
            genre: sorted(names) for genre, names in moods.LISTENER_FORBIDDEN.items()
        },
        "head_families": HEAD_FAMILY_ROOTS,
        "extra": dict(extra or {}),
    }
    text = json.dumps(description, sort_keys=True, default=list)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{LABELS_VERSION}:{calibration_source}:{digest}"
