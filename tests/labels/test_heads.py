"""The learned heads: their arithmetic, the shipped file, and real music."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beetsplug.musicnn.engine.analysis import analyze
from beetsplug.musicnn.labels import fields, genres, heads, moods


def two_class_head(**changes) -> heads.Head:
    values = dict(
        name="demo",
        kind="softmax",
        inputs=("msd",),
        outputs=("a", "b"),
        mean=np.zeros(50),
        scale=np.ones(50),
        weights=np.zeros((50, 2)),
        bias=np.array([0.0, np.log(3.0)]),
        quantiles=np.zeros((0, 0)),
    )
    values.update(changes)
    return heads.Head(**values)


def scores_of(path) -> dict:
    return {key: r.scores for key, r in analyze(path).results.items()}


def derived(path, **settings) -> dict:
    return fields.derive_fields(scores_of(path), fields.FieldSettings(**settings))


class TestFeatures:
    def test_the_logit_of_each_model_s_scores_in_order(self):
        scores = {"msd": np.full(50, 0.5), "mtt": np.full(50, 0.9)}
        x = heads.feature_vector(scores, ("msd", "mtt"))
        assert x.shape == (100,)
        np.testing.assert_allclose(x[:50], 0.0, atol=1e-12)
        np.testing.assert_allclose(x[50:], np.log(9.0))
        np.testing.assert_allclose(heads.feature_vector(scores, ("mtt",)), x[50:])

    def test_a_missing_model_gives_none(self):
        assert heads.feature_vector({"msd": np.full(50, 0.5)}, ("msd", "mtt")) is None


class TestHead:
    def test_softmax_probabilities(self):
        head = two_class_head()
        values = head.apply({"msd": np.full(50, 0.5)})
        assert values == pytest.approx({"a": 0.25, "b": 0.75})

    def test_linear_outputs_become_strengths_through_the_quantiles(self):
        head = two_class_head(
            kind="linear",
            outputs=("joyful",),
            weights=np.zeros((50, 1)),
            bias=np.array([0.3]),
            quantiles=np.array([[0.0, 0.2, 0.4]]),  # levels 0, 0.5, 1
        )
        (value,) = head.values(np.zeros(50))
        assert value == pytest.approx(0.75)

    def test_shapes_that_do_not_fit_name_the_head(self):
        with pytest.raises(ValueError, match="head 'demo': 3 outputs"):
            two_class_head(outputs=("a", "b", "c"))
        with pytest.raises(ValueError, match="kind must be one of"):
            two_class_head(kind="tree")
        with pytest.raises(ValueError, match=r"needs quantiles of shape \(2, >= 2\)"):
            two_class_head(kind="linear")

    def test_json_round_trip(self, tmp_path):
        head = two_class_head()
        path = tmp_path / "heads.json"
        path.write_text(json.dumps({"heads": {"demo@msd": head.to_json()}}))
        loaded = heads.load_heads(path).choose("demo", ["msd", "mtt"])
        x = np.random.default_rng(0).normal(size=50)
        # Seven significant digits in the file.
        np.testing.assert_allclose(loaded.values(x), head.values(x), rtol=1e-6)

    def test_a_file_that_is_not_a_heads_file_is_named(self, tmp_path):
        path = tmp_path / "broken.json"
        path.write_text('{"heads": {"genre@msd": {"kind": "softmax"}}}')
        with pytest.raises(ValueError, match=f"{path} is not a heads file"):
            heads.load_heads(path)


class TestShipped:
    def test_every_head_has_a_variant_for_each_model_set(self):
        shipped = heads.shipped_heads()
        for name in ("genre", "moods"):
            assert shipped.choose(name, ["msd", "mtt"]).inputs == ("msd", "mtt")
            assert shipped.choose(name, ["msd"]).inputs == ("msd",)
        moods_head = shipped.choose("moods", ["msd", "mtt"])
        assert moods_head.outputs == tuple(moods.LISTENER_MOODS)
        assert 0.0 < moods_head.rules["mood_floor"] < 1.0

    def test_provenance_names_its_corpora_and_figures(self):
        provenance = heads.shipped_heads().provenance
        assert provenance["made_by"] == "tools/fit_heads.py"
        assert provenance["corpora"]["emotify"]["tracks"] == 240
        assert "msd+mtt" in provenance["cross_validated"]


class TestOnRealMusic:
    """The shipped heads on the shared clips (none of them in the fit)."""

    @pytest.mark.parametrize(
        "clip", ["brahms_hungarian_dance_5.ogg", "macleod_sugar_plum_fairy.ogg"]
    )
    def test_an_orchestra_is_classical(self, shared_audio, clip):
        assert derived(shared_audio / clip)[fields.GENRE_FIELD] == "Classical"

    def test_musicnn_s_own_electronic_example_is_electronic(self, shared_audio):
        genre = derived(shared_audio / "joram_moments_of_clarity.mp3")[
            fields.GENRE_FIELD
        ]
        assert genres.family(genre) == "Electronic"

    def test_every_mood_strength_is_set_in_0_1(self, shared_audio):
        found = derived(shared_audio / "hobbs_lets_go_fishin.ogg")
        for name in fields.MOOD_STRENGTH_FIELDS.values():
            assert 0.0 <= found[name] <= 1.0
        assert found[fields.GENRE_FIELD] != "Classical"

    def test_with_msd_alone_its_own_heads_decide(self, shared_audio):
        found = derived(shared_audio / "brahms_hungarian_dance_5.ogg", models=("msd",))
        assert found[fields.GENRE_FIELD] == "Classical"
        assert set(fields.MOOD_STRENGTH_FIELDS.values()) <= set(found)

    def test_without_heads_the_tags_decide_as_before(self, shared_audio):
        found = fields.derive_fields(
            scores_of(shared_audio / "brahms_hungarian_dance_5.ogg"),
            fields.FieldSettings(),
            head_set=heads.NO_HEADS,
        )
        assert not set(fields.MOOD_STRENGTH_FIELDS.values()) & set(found)
        valence = {tag.lower() for tag in moods.VALENCE_MOODS["msd"]}
        assert found[fields.MOOD_FIELD] in {"", *valence}


class TestListenerMoodRule:
    def test_the_clearest_allowed_mood_above_the_floor(self):
        felt = {"calm": 0.95, "joyful": 0.2, "powerful": 0.85}
        assert moods.clearest_mood(felt, 0.8) == "calm"
        assert moods.clearest_mood(felt, 0.8, ["Heavy Metal", "Rock"]) == "powerful"
        assert moods.clearest_mood(felt, 0.99) == ""
