"""Moods that abstain rather than guess: ``musicnn_mood`` and ``musicnn_energy``.

MusicNN's mood-like tags are of two kinds, and they are not ranked against
each other:

- **valence-like moods** (MSD, last.fm listeners' words): ``happy``, ``sad``,
  ``mellow``, ``chill``, ``party``, ``sexy``, ``beautiful``, ``catchy``. They
  say what a track feels like; ``musicnn_mood`` is one of them.
- **energy** (MTT, MagnaTagATune annotators' words), on two axes:
  loudness (``loud`` against ``quiet``/``soft``) and tempo (``fast`` against
  ``slow``). They say how a track moves; ``musicnn_energy`` holds one pole
  of each axis that has one, loudness first: ``"loud"``, ``"quiet slow"``,
  ``"fast"``... (``soft`` counts as quiet: both mean little energy, and
  MagnaTagATune annotators used them for the same tracks).

Each label is set only when the evidence is strong (:class:`MoodRules`): its
calibrated strength reaches a floor *and* beats the runner-up (for a mood,
the next mood; for an energy pole, the opposite pole) by a margin. Otherwise
the field is empty: a track that is a bit of everything gets no mood rather
than an arbitrary one. Moods known to be wrong for a genre family can be
forbidden (:data:`FORBIDDEN_MOODS`: metal is never calm or happy, hard rock
never calm).

The constants below are the one place to tune these rules; the label
evaluation (``corpora/eval_labels.py``) measures them. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..engine.models import get_model

if TYPE_CHECKING:  # only in annotations: fields.py loads with every `beet`
    import numpy as np

#: The seven moods that follow listeners (``musicnn_mood_<name>``), each the
#: GEMS emotion whose share of listeners it was fitted on (Emotify's
#: annotations; ``tools/fit_heads.py``). GEMS' amazement and solemnity are
#: left out: they are rarely felt apart from the others.
LISTENER_MOODS: dict[str, str] = {
    "joyful": "joyful_activation",
    "calm": "calmness",
    "sad": "sadness",
    "powerful": "power",
    "tense": "tension",
    "tender": "tenderness",
    "nostalgic": "nostalgia",
}

#: The valence-like moods, by model (MSD only: MTT has no emotion tags).
VALENCE_MOODS: dict[str, tuple[str, ...]] = {
    "msd": ("happy", "sad", "Mellow", "chill", "party", "sexy", "beautiful", "catchy"),
}


@dataclass(frozen=True)
class EnergyAxis:
    """One energy axis: the tags of its high and low poles, and their labels."""

    name: str
    model: str
    high_tags: tuple[str, ...]
    low_tags: tuple[str, ...]
    high_label: str
    low_label: str


#: The energy axes, in the order their labels appear in ``musicnn_energy``.
ENERGY_AXES: tuple[EnergyAxis, ...] = (
    EnergyAxis("loudness", "mtt", ("loud",), ("quiet", "soft"), "loud", "quiet"),
    EnergyAxis("tempo", "mtt", ("fast",), ("slow",), "fast", "slow"),
)

#: Calibrated strength a valence mood needs: stronger than 85 % of the
#: reference corpus. The label corpus has no per-track moods, so this floor
#: is not tuned for accuracy; on its dev split every floor from 0.6 to 0.95
#: gives no metal track a calm or happy mood, and 0.85 with the margin sets a
#: mood for 30 % of the tracks (``corpora/explore_moods.py``, docs/labels.md).
MOOD_MIN_STRENGTH = 0.85
#: ...and by how much (in strength) it must beat the next mood.
MOOD_MIN_MARGIN = 0.05
#: Calibrated strength an energy pole needs. Chosen on the label corpus' dev
#: split (``corpora/explore_moods.py``): of floors 0.7-0.9 and margins 0.1-0.5,
#: 0.7 with 0.3 has the best mean precision of the four poles (each set for
#: at least five dev tracks) against the loudness and onset-rate terciles:
#: loud 0.92, quiet 0.65, fast 0.67, slow 0.43 (chance: 0.33; with the
#: calibration shipped before, the same rule won: 0.92, 0.67, 0.74, 0.44).
ENERGY_MIN_STRENGTH = 0.7
#: ...and by how much it must beat the opposite pole of its axis.
ENERGY_MIN_MARGIN = 0.3
#: Valence moods that are calm (a track the plugin calls loud guitar music
#: is never given them).
CALM_MOODS = frozenset({"mellow", "chill", "beautiful"})
#: Valence moods that are happy or light.
HAPPY_MOODS = frozenset({"happy", "party", "catchy", "sexy"})
#: Moods never given to a genre family, by lastgenre genre (any genre of
#: ``musicnn_genre``'s lineage, see ``genres.lineage``), whatever the MSD
#: mood tags: a track the plugin calls metal is never calm or happy (only
#: ``sad`` remains), one it calls hard rock never calm. This acts on the
#: *predicted* genre: a metal track the plugin calls something else is not
#: covered (docs/labels.md counts them).
FORBIDDEN_MOODS: dict[str, frozenset[str]] = {
    "Heavy Metal": CALM_MOODS | HAPPY_MOODS,
    "Hard Rock": CALM_MOODS,
}


@dataclass(frozen=True)
class MoodRules:
    """When ``musicnn_mood`` and ``musicnn_energy`` say something.

    Defaults are the module constants; the label evaluation passes others.
    """

    mood_min_strength: float = MOOD_MIN_STRENGTH
    mood_min_margin: float = MOOD_MIN_MARGIN
    energy_min_strength: float = ENERGY_MIN_STRENGTH
    energy_min_margin: float = ENERGY_MIN_MARGIN
    forbidden: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(FORBIDDEN_MOODS)
    )

    def describe(self) -> dict:
        """Everything that decides the labels, for the labels revision."""
        return {
            "valence": VALENCE_MOODS,
            "axes": [vars(axis) for axis in ENERGY_AXES],
            "mood": [self.mood_min_strength, self.mood_min_margin],
            "energy": [self.energy_min_strength, self.energy_min_margin],
            "forbidden": {k: sorted(v) for k, v in sorted(self.forbidden.items())},
        }


def _strength(
    strengths: Mapping[str, np.ndarray], model: str, tags: Iterable[str]
) -> float | None:
    """The strongest of ``tags`` of ``model``, or None if the model is off."""
    if model not in strengths:
        return None
    vocabulary = get_model(model).tags
    return max(float(strengths[model][vocabulary.index(tag)]) for tag in tags)


def valence_mood(
    strengths: Mapping[str, np.ndarray],
    genre_lineage: Iterable[str] = (),
    rules: MoodRules = MoodRules(),
) -> str:
    """``musicnn_mood``: the strongest allowed valence mood, or ``""``.

    Parameters
    ----------
    strengths : mapping model key -> (n_tags,) array
        Calibrated strengths of the enabled models.
    genre_lineage : iterable of str
        ``musicnn_genre`` and its parents (``genres.lineage``), for
        ``rules.forbidden``.
    rules : MoodRules
    """
    forbidden: set[str] = set()
    for genre in genre_lineage:
        forbidden |= rules.forbidden.get(genre, frozenset())
    candidates = sorted(
        (
            (_strength(strengths, model, (tag,)), tag.lower())
            for model, tags in VALENCE_MOODS.items()
            if model in strengths
            for tag in tags
            if tag.lower() not in forbidden
        ),
        reverse=True,
    )
    if not candidates:
        return ""
    best, label = candidates[0]
    runner_up = candidates[1][0] if len(candidates) > 1 else 0.0
    if best >= rules.mood_min_strength and best - runner_up >= rules.mood_min_margin:
        return label
    return ""


#: Listener moods never given to a genre (and its children): metal is not
#: heard as calm, joyful or tender, nor hard rock as calm or tender, and the
#: heads, fitted on four genres without metal, must not say so.
LISTENER_FORBIDDEN: dict[str, frozenset[str]] = {
    "Heavy Metal": frozenset({"calm", "joyful", "tender"}),
    "Hard Rock": frozenset({"calm", "tender"}),
}


def clearest_mood(
    felt: Mapping[str, float], floor: float, genre_lineage: Iterable[str] = ()
) -> str:
    """``musicnn_mood`` from the seven listener moods: the strongest allowed
    one when its strength reaches ``floor``, else ``""``.

    Parameters
    ----------
    felt : mapping mood -> strength (0..1)
        The learned mood strengths (:data:`LISTENER_MOODS`), each the share of
        the fitting corpus whose predicted share of listeners is lower.
    floor : float
        The strength the clearest mood needs (fitted with the mood head:
        ``tools/fit_heads.py`` chooses it out of fold).
    genre_lineage : iterable of str
        ``musicnn_genre`` and its parents, for :data:`LISTENER_FORBIDDEN`.
    """
    forbidden: set[str] = set()
    for genre in genre_lineage:
        forbidden |= LISTENER_FORBIDDEN.get(genre, frozenset())
    allowed = [(value, mood) for mood, value in felt.items() if mood not in forbidden]
    if not allowed:
        return ""
    value, mood = max(allowed)
    return mood if value >= floor else ""


def energy(strengths: Mapping[str, np.ndarray], rules: MoodRules = MoodRules()) -> str:
    """``musicnn_energy``: a pole of each energy axis that has a clear one,
    space-separated, loudness first (``"loud fast"``), or ``""``."""
    labels = []
    for axis in ENERGY_AXES:
        high = _strength(strengths, axis.model, axis.high_tags)
        low = _strength(strengths, axis.model, axis.low_tags)
        if high is None or low is None:
            continue
        pole, strength, opposite = (
            (axis.high_label, high, low) if high >= low else (axis.low_label, low, high)
        )
        if (
            strength >= rules.energy_min_strength
            and strength - opposite >= rules.energy_min_margin
        ):
            labels.append(pole)
    return " ".join(labels)
