"""The label evaluation's own machinery: manifest, genre families, song level.

``corpora/eval_labels.py`` is only as honest as (1) the manifest it reads, (2)
the map from a genre label to a family, and (3) its claim to compute the
song-level scores the plugin computes. Each is checked here on real data:
the committed manifest, beets' own lastgenre tree, and real clips run
through the plugin's analysis.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict

import numpy as np
import pytest

from tests.conftest import BUNDLED_MUSIC, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "corpora"))

import eval_labels
from labels_corpus_data import Track
from labels_corpus_rules import FAMILIES

MANIFEST = REPO_ROOT / "corpora" / "labels_corpus.tsv"


def _manifest_rows() -> list[dict]:
    with MANIFEST.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_manifest_rows_are_well_formed():
    rows = _manifest_rows()
    assert len(rows) >= 100
    assert len({r["path"] for r in rows}) == len(rows), "a path listed twice"
    for row in rows:
        assert row["family"] in FAMILIES, row
        assert row["split"] in {"dev", "test"}, row
        assert row["doubtful"] in {"0", "1"}, row
        assert row["reason"].strip(), f"no reason given for {row['path']}"
        assert float(row["duration"]) >= 15.0, row


def test_no_package_is_in_both_splits():
    splits = defaultdict(set)
    for row in _manifest_rows():
        # The shared clips are split by artist (file-name prefix).
        group = row["package"]
        if group == "shared":
            group = row["path"].split(":", 1)[1].split("_", 1)[0]
        splits[group].add(row["split"])
    both = sorted(group for group, seen in splits.items() if len(seen) > 1)
    assert not both, f"in dev and test: {both}"


def test_every_genre_the_plugin_can_write_has_a_family():
    from beetsplug.musicnn.labels import fields

    labels = {fields.tag_label(t) for tags in fields.GENRE_TAGS.values() for t in tags}
    orphans = sorted(
        label for label in labels if eval_labels.genre_family(label) == "(none)"
    )
    assert not orphans, f"no genre family for {orphans}"


@pytest.mark.parametrize(
    ("label", "family"),
    [
        # beets' canonical names, as lastgenre writes them
        ("Heavy Metal", "metal"),
        ("Death Metal", "metal"),
        ("Classical", "classical"),
        ("Opera", "classical"),
        ("Electronic", "electronic"),
        ("Ambient", "ambient"),
        ("Progressive Rock", "rock"),
        ("Hip Hop", "hiphop_rnb"),
        ("Reggae", "world"),
        ("Comedy", "(none)"),
        # MusicNN's own labels, through lastgenre's aliases
        ("hip-hop", "hiphop_rnb"),
        ("rnb", "hiphop_rnb"),
        ("metal", "metal"),
        ("easy listening", "pop_vocal"),
        ("", "(none)"),
    ],
)
def test_genre_family_walks_beets_genre_tree(label, family):
    assert eval_labels.genre_family(label) == family


@pytest.fixture(scope="module")
def real_track():
    """A bundled clip's per-patch outputs of both models, as a corpus Track."""
    from beetsplug.musicnn.engine import audio, features
    from beetsplug.musicnn.engine.backends import load_backend

    path = BUNDLED_MUSIC / "hsr_rock.ogg"
    batch = features.patches(features.log_mel_spectrogram(audio.load_audio(path)))
    predictions = {m: load_backend("onnx", m).predict(batch) for m in ("msd", "mtt")}
    track = Track(
        path=str(path),
        package="hedgewars-data",
        family="rock",
        split="test",
        doubtful=False,
        patch_scores={m: p.scores for m, p in predictions.items()},
        patch_embeddings={
            m: p.embeddings.astype(np.float16) for m, p in predictions.items()
        },
        duration=0.0,
        loudness_lufs=float("nan"),
        tempo_bpm=float("nan"),
        onset_rate=float("nan"),
    )
    return path, track


def test_full_share_is_the_plugins_faithful_analysis(real_track):
    from beetsplug.musicnn.engine.analysis import analyze

    path, track = real_track
    result = analyze(path, ("msd", "mtt"))
    for model in ("msd", "mtt"):
        np.testing.assert_allclose(
            track.song_scores(model, 1.0), result[model].scores, atol=1e-6
        )


@pytest.mark.parametrize("share", [0.34, 0.5])
def test_reduced_share_is_the_plugins_patch_budget(real_track, share):
    from beetsplug.musicnn.engine.analysis import analyze

    path, track = real_track
    budget = max(1, math.ceil(track.n_patches * share))
    assert budget < track.n_patches  # really a reduced analysis
    result = analyze(path, ("mtt",), patch_budget=budget)
    # A patch decoded alone matches the faithful patch to float rounding.
    np.testing.assert_allclose(
        track.song_scores("mtt", share), result["mtt"].scores, atol=1e-4
    )
    assert not np.allclose(
        track.song_scores("mtt", share), track.song_scores("mtt", 1.0), atol=1e-4
    )


def test_derive_uses_the_plugins_fields(real_track):
    from beetsplug.musicnn.labels import fields
    from beetsplug.musicnn.labels.calibration import default_calibration

    _, track = real_track
    config = eval_labels.Config.parse("both:msd+mtt:mtt=0.5")
    (derived,) = eval_labels.derive([track], config, default_calibration())
    expected = fields.derive_fields(
        {m: track.song_scores(m, config.share(m)) for m in ("msd", "mtt")},
        fields.FieldSettings(models=("msd", "mtt")),
    )
    assert derived.fields == expected
    assert derived.family == eval_labels.genre_family(expected[fields.GENRE_FIELD])


def test_config_parse_refuses_nonsense():
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        eval_labels.Config.parse("just-a-name")
    with pytest.raises(argparse.ArgumentTypeError):
        eval_labels.Config.parse("x:msd+mtt:mtt=1.5")


def _has_revision(rev: str) -> bool:
    import subprocess

    return (
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{rev}^{{commit}}"],
            capture_output=True,
        ).returncode
        == 0
    )


@pytest.mark.skipif(
    not _has_revision("04a811e"), reason="no git history (04a811e) in this checkout"
)
def test_an_earlier_release_is_derived_with_its_own_code(real_track):
    """``--rev``: today's default stays reproducible after the rules change."""
    from beetsplug.musicnn.labels import fields
    from beetsplug.musicnn.labels.calibration import default_calibration

    _, track = real_track
    old_fields, old_calibration = eval_labels.plugin_at("04a811e")
    assert old_fields.GENRE_PLAUSIBLE == 0.5 != fields.GENRE_PLAUSIBLE
    assert old_fields.__name__ != fields.__name__
    config = eval_labels.Config.parse("today:msd")
    (derived,) = eval_labels.derive([track], config, default_calibration(), "04a811e")
    expected = old_fields.derive_fields(
        {"msd": track.song_scores("msd")},
        old_fields.FieldSettings(models=("msd",)),
        old_calibration.default_calibration(),
    )
    assert derived.fields == expected


def test_calibration_from_a_patch_cache_is_the_plugins_analysis(real_track, tmp_path):
    """``make_calibration --tracks``: a cached track counts at the default
    shares exactly as the plugin would analyse it."""
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import make_calibration

    from beetsplug.musicnn.engine.analysis import analyze

    path, track = real_track
    cache = tmp_path / "track.npz"
    np.savez(cache, duration=30.0,
             **{f"{m}_scores": track.patch_scores[m] for m in ("msd", "mtt")})
    shares = {"mtt": 0.34}
    record = make_calibration.cached_record(
        {"path": str(path), "patch_cache": str(cache)}, ("msd", "mtt"), shares
    )
    result = analyze(path, ("msd", "mtt"), patch_shares=shares)
    for model in ("msd", "mtt"):
        np.testing.assert_allclose(
            record["results"][model]["scores"], result[model].scores, atol=1e-4
        )
        assert record["results"][model]["n_patches"] == result[model].n_patches
