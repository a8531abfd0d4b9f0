"""Moods that abstain rather than guess, and energy on its own two axes."""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug.musicnn.engine.models import MODELS
from beetsplug.musicnn.labels import heads, moods
from beetsplug.musicnn.labels.fields import FieldSettings, derive_fields
from tests.labels.test_fields import reference_scores

BOTH = FieldSettings(models=("msd", "mtt"))


def strengths(msd=None, mtt=None, base=0.5):
    """Calibrated strengths: ``base`` everywhere but the given tags."""
    out = {}
    for key, given in (("msd", msd or {}), ("mtt", mtt or {})):
        vector = np.full(len(MODELS[key].tags), base)
        for tag, value in given.items():
            vector[MODELS[key].tags.index(tag)] = value
        out[key] = vector
    return out


class TestValenceMood:
    def test_a_clear_mood_is_named(self):
        assert moods.valence_mood(strengths({"happy": 0.95, "sad": 0.6})) == "happy"

    def test_a_weak_best_mood_abstains(self):
        assert moods.valence_mood(strengths({"happy": 0.8})) == ""

    def test_two_strong_moods_close_together_abstain(self):
        assert moods.valence_mood(strengths({"sexy": 0.99, "party": 0.97})) == ""

    def test_the_floor_and_the_margin_are_the_rules(self):
        rules = moods.MoodRules(mood_min_strength=0.7, mood_min_margin=0.01)
        assert moods.valence_mood(strengths({"sexy": 0.99, "party": 0.97}), (),
                                  rules) == "sexy"

    def test_energy_tags_never_become_the_mood(self):
        loud = strengths(mtt={"loud": 1.0, "fast": 1.0})
        assert moods.valence_mood(loud) == ""

    def test_mixed_case_tags_have_lowercase_labels(self):
        assert moods.valence_mood(strengths({"Mellow": 0.97})) == "mellow"

    def test_a_forbidden_mood_is_skipped_for_its_genre_family(self):
        party = strengths({"party": 0.99, "sad": 0.9})
        assert moods.valence_mood(party) == "party"
        # Metal is never party music: the next mood must pass the rule itself.
        assert moods.valence_mood(party, ["Heavy Metal", "Rock"]) == "sad"
        only_happy = strengths({"happy": 0.99})
        assert moods.valence_mood(only_happy, ["Heavy Metal", "Rock"]) == ""
        assert moods.valence_mood(only_happy, ["Hard Rock", "Rock"]) == "happy"
        # Hard rock may be happy, never calm; metal neither (catchy included).
        mellow = strengths({"Mellow": 0.99})
        assert moods.valence_mood(mellow, ["Hard Rock", "Rock"]) == ""
        assert moods.valence_mood(mellow, ["Rock"]) == "mellow"
        catchy = strengths({"catchy": 0.99})
        assert moods.valence_mood(catchy, ["Heavy Metal", "Rock"]) == ""

    def test_metal_may_only_be_sad(self):
        allowed = {
            tag.lower() for tag in moods.VALENCE_MOODS["msd"]
            if tag.lower() not in moods.FORBIDDEN_MOODS["Heavy Metal"]
        }
        assert allowed == {"sad"}

    def test_without_the_msd_model_there_is_no_mood(self):
        assert moods.valence_mood({"mtt": strengths()["mtt"]}) == ""


class TestEnergy:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ({"loud": 0.95, "quiet": 0.1, "soft": 0.1}, "loud"),
            ({"loud": 0.1, "quiet": 0.2, "soft": 0.92}, "quiet"),  # soft is quiet
            ({"fast": 0.9, "slow": 0.1}, "fast"),
            ({"loud": 0.9, "quiet": 0.1, "soft": 0.1, "slow": 0.9, "fast": 0.2},
             "loud slow"),
            ({"loud": 0.9, "quiet": 0.85}, ""),  # both poles: no clear answer
            ({"fast": 0.65, "slow": 0.1}, ""),  # not strong enough
            ({}, ""),
        ],
    )
    def test_each_axis_names_a_clear_pole_or_nothing(self, given, expected):
        assert moods.energy(strengths(mtt=given)) == expected

    def test_without_the_mtt_model_there_is_no_energy(self):
        assert moods.energy({"msd": strengths()["msd"]}) == ""


def tag_rules(scores, settings):
    return derive_fields(scores, settings, head_set=heads.NO_HEADS)


class TestDerivedFields:
    """The tag rules' moods, which decide where no mood head applies."""

    def test_a_typical_track_gets_no_mood_and_no_energy(self):
        derived = tag_rules(reference_scores(), BOTH)
        assert derived["musicnn_mood"] == derived["musicnn_energy"] == ""

    def test_metal_never_gets_a_calm_or_happy_mood(self):
        metal = reference_scores(msd={"metal": 3.0, "happy": 2.5, "Mellow": 0.0},
                                 mtt={"metal": 3.0, "loud": 2.5, "quiet": -2.0,
                                      "classical": -2.0})
        derived = tag_rules(metal, BOTH)
        assert derived["musicnn_genre"] == "Heavy Metal"
        assert derived["musicnn_mood"] == ""
        assert derived["musicnn_energy"] == "loud"

    def test_real_clips_abstain_where_two_moods_tie(self, bundled_clip_scores):
        """The Frozen Bubble intro (synth pop) is as sexy as it is catchy and
        party: no mood, but clearly loud and fast."""
        derived = tag_rules(
            bundled_clip_scores["lebidan_frozen_bubble_intro.ogg"], BOTH
        )
        assert derived["musicnn_mood"] == ""
        assert derived["musicnn_energy"] == "loud fast"

    def test_real_clips_name_clear_moods(self, shared_clip_scores):
        named = {
            clip: tag_rules(scores, BOTH)
            for clip, scores in shared_clip_scores.items()
        }
        assert named["joram_moments_of_clarity.mp3"]["musicnn_energy"] == "loud fast"
        assert named["macleod_vibe_ace.ogg"]["musicnn_energy"] == "quiet slow"
        assert named["hobbs_lets_go_fishin.ogg"]["musicnn_mood"] == "mellow"
        abstained = [c for c, d in named.items() if not d["musicnn_mood"]]
        assert 0 < len(abstained) < len(named)
