"""The field contract: names, types, the ``scores`` option and derived fields."""

import numpy as np
import pytest
from beets.dbcore import types
from beets.dbcore.query import DateQuery, NumericQuery

from beetsplug.musicnn.engine.models import MODELS, MSD, MTT
from beetsplug.musicnn.labels import fields, heads
from beetsplug.musicnn.labels.calibration import default_calibration
from beetsplug.musicnn.labels.fields import (
    DEFAULT_SCORES,
    GENRE_TAGS,
    MOOD_TAGS,
    FieldSettings,
    analysis_version,
    derive_fields,
    resolve_scores,
    score_field,
    slug,
)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("Hip-Hop", "hip_hop"),
        ("female vocalists", "female_vocalists"),
        ("no vocals", "no_vocals"),
        ("Progressive rock", "progressive_rock"),
        ("00s", "00s"),
        ("  R&B -- soul!! ", "r_b_soul"),
    ],
)
def test_slug(tag, expected):
    assert slug(tag) == expected


def test_score_field_names():
    assert score_field("msd", "Mellow") == "musicnn_msd_mellow"
    assert score_field("MTT", "no vocal") == "musicnn_mtt_no_vocal"
    with pytest.raises(ValueError):
        score_field("vgg", "rock")


def test_every_tag_has_its_own_field():
    for spec in MODELS.values():
        names = [score_field(spec.key, tag) for tag in spec.tags]
        assert len(set(names)) == len(spec.tags)


def test_constants():
    assert fields.GENRE_FIELD == "musicnn_genre"
    assert fields.MOOD_FIELD == "musicnn_mood"
    assert fields.TAGS_FIELD == "musicnn_tags"
    assert fields.VERSION_FIELD == "musicnn_version"
    assert fields.ANALYZED_FIELD == "musicnn_analyzed"
    assert fields.ERROR_FIELD == "musicnn_error"


def test_item_types_declare_every_score_and_the_metadata():
    declared = fields.item_types()
    assert all(name.startswith("musicnn_") for name in declared)
    moods = fields.MOOD_STRENGTH_FIELDS.values()
    assert len(declared) == len(MSD.tags) + len(MTT.tags) + len(moods) + 9
    for name in moods:  # musicnn_mood_calm:0.8.. works
        assert declared[name].query is NumericQuery
    happy = declared["musicnn_msd_happy"]
    assert isinstance(happy, types.Float)
    assert happy.query is NumericQuery  # musicnn_msd_happy:0.9.. works
    assert happy.format(0.123456) == "0.1235"
    analysed = declared["musicnn_analyzed"]
    assert isinstance(analysed, types.DateType)
    assert analysed.query is DateQuery  # musicnn_analyzed:2026-11.. works
    for name in ("musicnn_genre", "musicnn_content", "musicnn_mood", "musicnn_tags",
                 "musicnn_version", "musicnn_error"):
        assert isinstance(declared[name], types.String)
    assert set(fields.all_fields()) == set(declared)


def test_date_query_on_the_analysed_field():
    query = DateQuery("musicnn_analyzed", "2026-11..")
    assert query.match({"musicnn_analyzed": 1_795_000_000.0})  # 2026-11-18
    assert not query.match({"musicnn_analyzed": 1_700_000_000.0})  # 2023


def test_analysis_version():
    assert analysis_version(["msd", "mtt"]) == "1:msd+mtt:overlap=0"
    assert analysis_version(["MTT", "msd"]) == analysis_version(["msd", "mtt"])
    assert analysis_version(["mtt"], overlap=0.5) == "1:mtt:overlap=0.5"
    assert analysis_version(["msd"]) != analysis_version(["msd"], overlap=0.25)
    fast = analysis_version(["msd", "mtt"], patch_budget=16)
    assert fast == "1:msd+mtt:overlap=0:patches=16"
    # A model with a share names its windows (of its own patches).
    shared = analysis_version(
        ["msd", "mtt"], patch_budget=48, patch_shares={"mtt": 0.34}
    )
    assert shared == "1:msd+mtt/0.34:overlap=0:patches=48,mtt=24"
    with pytest.raises(ValueError):
        analysis_version(["msd"], patch_budget=0)
    with pytest.raises(ValueError):
        analysis_version([])
    with pytest.raises(ValueError):
        analysis_version(["msd"], overlap=1.0)


def test_subsets_and_defaults_are_vocabulary_tags():
    for table in (GENRE_TAGS, MOOD_TAGS):
        for key, tags in table.items():
            assert set(tags) <= set(MODELS[key].tags)
            assert len(set(tags)) == len(tags)
    for key in MODELS:
        assert not set(GENRE_TAGS[key]) & set(MOOD_TAGS[key])
    assert all(tag in MODELS[key].tags for key, tag in DEFAULT_SCORES)
    assert 8 <= len(DEFAULT_SCORES) <= 12


class TestResolveScores:
    def test_default(self):
        default = resolve_scores(None, ["msd", "mtt"])
        assert sorted(default) == sorted(DEFAULT_SCORES)
        assert resolve_scores(["default"], ["msd", "mtt"]) == default
        assert default[:2] == [("msd", "female vocalists"), ("msd", "male vocalists")]
        msd_only = resolve_scores(None, ["msd"])
        assert msd_only == [pair for pair in default if pair[0] == "msd"]

    def test_all(self):
        assert len(resolve_scores("all", ["msd", "mtt"])) == 100
        assert resolve_scores(["all"], ["mtt"]) == [("mtt", t) for t in MTT.tags]

    def test_spellings(self):
        expected = [("msd", "Hip-Hop")]
        for name in ("Hip-Hop", "hip-hop", "hip_hop", "msd:hip_hop", "MSD:Hip-Hop",
                     "musicnn_msd_hip_hop"):
            assert resolve_scores([name], ["msd", "mtt"]) == expected

    def test_unqualified_shared_tag_selects_it_in_each_model(self):
        assert resolve_scores(["rock"], ["msd", "mtt"]) == [("msd", "rock"),
                                                            ("mtt", "rock")]
        assert resolve_scores(["mtt:rock"], ["msd", "mtt"]) == [("mtt", "rock")]

    def test_order_and_duplicates(self):
        got = resolve_scores(["sad", "happy", "msd:sad", "mtt:fast"], ["mtt", "msd"])
        assert got == [("mtt", "fast"), ("msd", "sad"), ("msd", "happy")]

    def test_unknown_names_suggest_close_matches(self):
        with pytest.raises(ValueError, match="happy"):
            resolve_scores(["hapy"], ["msd"])
        with pytest.raises(ValueError, match="unknown MusicNN tag 'zzzz'"):
            resolve_scores(["zzzz"], ["msd"])

    def test_tags_of_disabled_models_are_refused(self):
        with pytest.raises(ValueError, match="mtt:fast"):
            resolve_scores(["mtt:fast"], ["msd"])


def test_settings_validate():
    with pytest.raises(ValueError):
        FieldSettings(threshold=1.5)
    settings = FieldSettings.from_config(["happy", "mtt:fast"], 0.8, ["MSD", "mtt"])
    assert settings.scores == (("msd", "happy"), ("mtt", "fast"))
    assert settings.models == ("msd", "mtt")
    assert settings.stored_fields() == (
        "musicnn_msd_happy", "musicnn_mtt_fast", "musicnn_genre", "musicnn_content",
        "musicnn_mood", "musicnn_energy", "musicnn_tags",
    )


def reference_scores(z_msd=0.0, z_mtt=0.0, **overrides):
    """Scores that sit ``z`` reference spreads from the corpus mean, per model."""
    calibration = default_calibration()
    out = {}
    for key, z in (("msd", z_msd), ("mtt", z_mtt)):
        stats = calibration.stats[key]
        logits = stats.mu + z * stats.sigma
        for tag, value in overrides.get(key, {}).items():
            index = MODELS[key].tags.index(tag)
            logits[index] = stats.mu[index] + value * stats.sigma[index]
        out[key] = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return out


class TestDeriveFields:
    def test_typical_track(self):
        results = reference_scores()
        settings = FieldSettings(threshold=0.9)
        derived = derive_fields(results, settings)
        moods = set(fields.MOOD_STRENGTH_FIELDS.values())
        assert set(derived) == set(settings.stored_fields()) | moods
        for key, tag in DEFAULT_SCORES:
            assert derived[score_field(key, tag)] == pytest.approx(0.5, abs=1e-3)
        assert derived["musicnn_tags"] == ""  # nothing stands out

    def test_genre_mood_and_tags_follow_calibrated_strength(self):
        results = reference_scores(
            msd={"happy": 2.5, "jazz": 1.5, "sad": 1.0, "rock": -1.0},
            mtt={"classical": 2.0, "fast": 0.5},
        )
        # The tag rules (they decide where no head applies).
        derived = derive_fields(results, FieldSettings(threshold=0.9),
                                head_set=heads.NO_HEADS)
        assert derived["musicnn_genre"] == "Classical"
        assert derived["musicnn_mood"] == "happy"
        assert derived["musicnn_tags"] == "happy; classical; jazz"
        assert derived["musicnn_msd_happy"] == pytest.approx(0.9938, abs=1e-4)
        assert derived["musicnn_msd_sad"] == pytest.approx(0.8413, abs=1e-4)

    def test_tags_best_first_deduplicated_and_capped(self):
        results = reference_scores(
            msd={"electronic": 3.0, "female vocalist": 2.8, "female vocalists": 2.0},
            mtt={"electronic": 1.5, "no vocal": 2.2, "no vocals": 2.6},
        )
        derived = derive_fields(results, FieldSettings(threshold=0.95, max_tags=10))
        assert derived["musicnn_tags"] == "electronic; female vocalists; no vocals"
        capped = derive_fields(results, FieldSettings(threshold=0.95, max_tags=1))
        assert capped["musicnn_tags"] == "electronic"

    def test_threshold_applies_to_calibrated_strength(self):
        results = reference_scores(msd={"happy": 1.0})  # strength 0.841
        assert "happy" in derive_fields(results, FieldSettings(threshold=0.84))[
            "musicnn_tags"]
        assert "happy" not in derive_fields(results, FieldSettings(threshold=0.85))[
            "musicnn_tags"]

    def test_raw_scores_on_request(self):
        results = reference_scores(z_msd=1.0)
        settings = FieldSettings(scores=(("msd", "rock"),), calibrated=False)
        derived = derive_fields(results, settings)
        assert derived["musicnn_msd_rock"] == round(float(results["msd"][0]), 4)

    def test_only_enabled_models_count(self):
        results = reference_scores(mtt={"classical": 4.0}, msd={"blues": 3.0})
        settings = FieldSettings.from_config(None, 0.9, ["msd"])
        derived = derive_fields(results, settings, head_set=heads.NO_HEADS)
        assert derived["musicnn_genre"] == "Blues"
        assert derived["musicnn_energy"] == ""  # energy is MTT's
        assert not any(name.startswith("musicnn_mtt_") for name in derived)
        missing = derive_fields({"msd": results["msd"]}, FieldSettings())
        assert "musicnn_mtt_fast" not in missing
        assert derive_fields({}, FieldSettings())["musicnn_genre"] == ""

    def test_values_are_plain_python(self):
        derived = derive_fields(reference_scores(z_msd=0.3), FieldSettings())
        for value in derived.values():
            assert type(value) in (float, str)


def test_the_labels_revision_is_the_same_in_every_process():
    """A revision that moved with Python's hash seed (a set's order) would make
    every run re-derive every item."""
    import os
    import subprocess
    import sys

    code = (
        "from beetsplug.musicnn.labels import fields; "
        "print(fields.labels_revision(fields.FieldSettings()))"
    )
    revisions = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(revisions) == 1
