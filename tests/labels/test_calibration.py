"""Calibration: the shipped statistics, the transform, its effect on real music."""

import json

import numpy as np
import pytest

from beetsplug.musicnn.engine.models import MODELS
from beetsplug.musicnn.labels.calibration import (
    DEFAULT_PATH,
    MIN_SIGMA,
    Calibration,
    default_calibration,
    logit,
    normal_cdf,
)
from beetsplug.musicnn.labels.fields import (
    GENRE_TAGS,
    MOOD_TAGS,
    FieldSettings,
    analysis_version,
    derive_fields,
    tag_label,
)
from beetsplug.musicnn.labels.genres import canonical_genre
from beetsplug.musicnn.labels.moods import LISTENER_MOODS
from beetsplug.musicnn.library.settings import DEFAULT_CONFIG

ALL_MODELS = FieldSettings(models=("msd", "mtt"))


def test_normal_cdf_and_logit():
    np.testing.assert_allclose(
        normal_cdf(np.array([-1.959964, 0.0, 1.0, 8.0])),
        [0.025, 0.5, 0.841345, 1.0], atol=1e-6,
    )
    assert normal_cdf(np.zeros((2, 3))).shape == (2, 3)
    np.testing.assert_allclose(logit(np.array([0.5, 0.880797])), [0.0, 2.0], atol=1e-5)
    assert np.isfinite(logit(np.array([0.0, 1.0]))).all()


def test_shipped_calibration_covers_every_tag_and_says_where_it_comes_from():
    data = json.loads(DEFAULT_PATH.read_text())
    provenance = data["provenance"]
    # The numbers of the default analysis: MTT on its default share.
    shares = DEFAULT_CONFIG["patch_share"]
    assert provenance["pipeline"] == analysis_version(
        DEFAULT_CONFIG["models"], patch_shares=shares
    )
    sources = {source["name"]: source for source in provenance["sources"]}
    assert {"shared-audio", "tests-data-music", "wesnoth-1.16-music"} <= set(sources)
    assert sum(source["tracks"] for source in sources.values()) >= 300
    assert len(sources) >= 40  # not mostly one soundtrack
    # Family counts of the labelled part add up to the labelled tracks.
    labelled = sum(n for f, n in provenance["families"].items() if f[0] != "(")
    assert labelled == sum(
        sum(source.get("families", {}).values()) for source in sources.values()
    )
    assert len(provenance["families"]) >= 8
    calibration = default_calibration()
    for key, spec in MODELS.items():
        stats = calibration.stats[key]
        assert stats.n_tracks >= 100
        assert stats.mu.shape == stats.sigma.shape == (len(spec.tags),)
        assert (stats.sigma >= MIN_SIGMA).all()
        assert set(data["models"][key]["tags"]) == set(spec.tags)


def test_strength_is_a_monotone_percentile_per_tag():
    calibration = default_calibration()
    stats = calibration.stats["msd"]
    at_mean = 1 / (1 + np.exp(-stats.mu))
    np.testing.assert_allclose(calibration.strength("msd", at_mean), 0.5, atol=1e-6)
    grid = np.linspace(0.0, 1.0, 101)[:, None] * np.ones((1, 50))
    strengths = calibration.strength("msd", grid)
    assert strengths.shape == (101, 50)
    assert (np.diff(strengths, axis=0) >= 0).all()
    with pytest.raises(ValueError, match="expected 50"):
        calibration.strength("msd", np.zeros(49))


def test_fit_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    true_mu = rng.normal(-3, 1, 50)
    true_sigma = rng.uniform(0.5, 1.5, 50)
    songs = [1 / (1 + np.exp(-(true_mu + true_sigma * rng.standard_normal(50))))
             for _ in range(4000)]
    fitted = Calibration.fit({"mtt": iter(songs)}, provenance={"note": "synthetic"})
    np.testing.assert_allclose(fitted.stats["mtt"].mu, true_mu, atol=0.06)
    np.testing.assert_allclose(fitted.stats["mtt"].sigma, true_sigma, rtol=0.05)
    fitted.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    assert loaded.provenance == {"note": "synthetic"}
    np.testing.assert_allclose(loaded.stats["mtt"].mu, fitted.stats["mtt"].mu,
                               atol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        Calibration.fit({"msd": [songs[0]]})
    with pytest.raises(ValueError, match="no statistics"):
        loaded.strength("msd", songs[0])


def genre_and_mood(scores_by_model):
    derived = derive_fields(scores_by_model, ALL_MODELS)
    return derived["musicnn_genre"], derived["musicnn_mood"]


def raw_argmax(scores_by_model, subset):
    best, best_value = None, -1.0
    for key, scores in scores_by_model.items():
        for tag in subset[key]:
            value = float(scores[MODELS[key].tags.index(tag)])
            if value > best_value:
                best, best_value = tag_label(tag), value
    return best


class TestSharedClips:
    """Eight real recordings of clearly different kinds (../shared/audio)."""

    def test_classical_recordings_are_classical(self, shared_clip_scores):
        for clip in ("brahms_hungarian_dance_5.ogg", "macleod_sugar_plum_fairy.ogg"):
            genre, _ = genre_and_mood(shared_clip_scores[clip])
            assert genre == "Classical", clip

    def test_electronic_clip_is_electronic(self, shared_clip_scores):
        genre, _ = genre_and_mood(shared_clip_scores["joram_moments_of_clarity.mp3"])
        assert genre in ELECTRONIC

    def test_calibrated_argmax_is_not_stuck(self, shared_clip_scores):
        """Raw argmax says the same few things of everything; calibrated does not."""
        genres = {genre_and_mood(s)[0] for s in shared_clip_scores.values()}
        moods = {genre_and_mood(s)[1] for s in shared_clip_scores.values()}
        raw_moods = {raw_argmax(s, MOOD_TAGS) for s in shared_clip_scores.values()}
        assert len(genres) >= 5
        assert len(moods) >= 4
        assert len(moods) > len(raw_moods)

    def test_raw_happy_is_tiny_but_calibrated_happy_ranks(self, shared_clip_scores):
        calibration = default_calibration()
        index = MODELS["msd"].tags.index("happy")
        raw = [s["msd"][index] for s in shared_clip_scores.values()]
        strength = [calibration.strength("msd", s["msd"])[index]
                    for s in shared_clip_scores.values()]
        assert max(raw) < 0.05
        assert max(strength) > 0.8 and min(strength) < 0.3
        assert np.argsort(raw).tolist() == np.argsort(strength).tolist()


ROCK = {"Rock", "Hard Rock", "Heavy Metal", "Alternative Rock", "Punk Rock",
        "Indie Rock", "Classic Rock", "Progressive Rock"}
ELECTRONIC = {"Techno", "Electronic", "Electronica", "Electro",
              "Electronic Dance Music", "House"}


@pytest.mark.parametrize(
    ("clip", "genres"),
    [
        ("kaufman_the_city_falls.ogg", {"Classical"}),  # orchestral
        ("hsr_rock.ogg", ROCK),
        ("lebidan_frozen_bubble_intro.ogg", ELECTRONIC),
    ],
)
def test_bundled_clip_genres(bundled_clip_scores, clip, genres):
    assert genre_and_mood(bundled_clip_scores[clip])[0] in genres


def test_bundled_clips_get_genre_mood_and_tags(bundled_clip_scores):
    """Runs wherever the repository is: the clips shipped with the tests."""
    genre_names = {canonical_genre(tag_label(t))
                   for tags in GENRE_TAGS.values() for t in tags}
    mood_labels = set(LISTENER_MOODS)
    energy_words = {"loud", "quiet", "fast", "slow"}
    kinds = set()
    for scores in bundled_clip_scores.values():
        derived = derive_fields(scores, ALL_MODELS)
        assert derived["musicnn_genre"] in genre_names
        assert derived["musicnn_mood"] in mood_labels | {""}  # "" = abstained
        assert set(derived["musicnn_energy"].split()) <= energy_words
        kinds.add((derived["musicnn_mood"], derived["musicnn_energy"]))
    assert len(bundled_clip_scores) >= 4
    assert len(kinds) >= 3  # four clips of four kinds: not one mood for all


def test_fit_from_a_result_store(tmp_path):
    """A library can be calibrated against itself from its store, no decoding."""
    from beetsplug.musicnn.library.store import ResultStore, StoredResult

    rng = np.random.default_rng(2)
    with ResultStore(tmp_path / "lib.musicnn.sqlite") as store:
        store.put_many(
            StoredResult(i, model, "1:msd+mtt:overlap=0",
                         rng.uniform(0.01, 0.99, 50).astype(np.float32),
                         np.zeros(200, np.float32), 10, 30.0, 0.0, 0.0)
            for i in range(1, 301) for model in ("msd", "mtt")
        )
        fitted = Calibration.fit(
            {m: (r.scores for r in store.iter_results(m)) for m in ("msd", "mtt")}
        )
    assert fitted.stats["msd"].n_tracks == fitted.stats["mtt"].n_tracks == 300
    assert np.abs(fitted.stats["mtt"].mu).max() < 0.5
