"""Parity of the whole analysis with the original musicnn package's numbers."""

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from beetsplug.musicnn.engine import analysis
from beetsplug.musicnn.engine.audio import AudioError
from tests.conftest import BUNDLED_MUSIC, SHARED_AUDIO, load_reference

UPSTREAM = {"msd": "MSD_musicnn", "mtt": "MTT_musicnn"}
BACKENDS = ["onnx", "essentia"]
#: The brief's bar; we measure about 2e-6 (docs/performance.md).
SCORE_TOLERANCE = 1e-3


def clip_names(folder: Path) -> list[str]:
    if not (folder / "reference.json").is_file():
        return []
    return sorted(load_reference(folder))


@cache
def analysed(path: Path, backend: str) -> analysis.Analysis:
    if backend == "essentia":
        pytest.importorskip("essentia", reason="the essentia extra is not installed")
    return analysis.analyze(path, models=tuple(UPSTREAM), backend=backend)


def assert_matches_reference(result: analysis.Analysis, expected: dict) -> None:
    for key, upstream in UPSTREAM.items():
        ours, theirs = result[key], expected[upstream]
        assert ours.tags == tuple(theirs["tags"])
        assert ours.n_patches == theirs["n_patches"]
        np.testing.assert_allclose(ours.scores, theirs["mean"], atol=SCORE_TOLERANCE)
        assert [tag for tag, _ in ours.top(5)] == theirs["top10"][:5]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("clip", clip_names(BUNDLED_MUSIC))
def test_bundled_clips_match_the_reference(clip, backend):
    expected = load_reference(BUNDLED_MUSIC)[clip]
    assert_matches_reference(analysed(BUNDLED_MUSIC / clip, backend), expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("clip", clip_names(SHARED_AUDIO) or ["(absent)"])
def test_shared_clips_match_the_reference(clip, backend, shared_audio):
    expected = load_reference(shared_audio)[clip]
    assert_matches_reference(analysed(shared_audio / clip, backend), expected)


def test_bundled_reference_covers_every_bundled_clip():
    on_disk = {p.name for p in BUNDLED_MUSIC.glob("*.ogg")}
    assert len(on_disk) >= 1
    assert set(clip_names(BUNDLED_MUSIC)) == on_disk


def test_result_reports_duration_embedding_and_stage_times():
    clip = BUNDLED_MUSIC / clip_names(BUNDLED_MUSIC)[0]
    result = analysed(clip, "onnx")
    assert set(result) == {"msd", "mtt"}
    assert 20 < result.duration < 40
    assert result["msd"].embedding.shape == (200,)
    assert np.isfinite(result["msd"].embedding).all()
    assert set(result.timings) == {"decode", "features", "inference"}
    best_tag, best_score = result["mtt"].top(1)[0]
    assert result["mtt"].as_dict()[best_tag] == best_score


def test_short_and_silent_signals_give_one_patch_of_valid_scores():
    for y in (np.zeros(16000 * 4, np.float32), np.full(8000, 0.1, np.float32)):
        results = analysis.analyze_signal(y, models=("msd",))
        assert results["msd"].n_patches == 1
        assert ((results["msd"].scores >= 0) & (results["msd"].scores <= 1)).all()


def test_a_file_that_is_not_audio_names_itself_in_the_error(tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not an mp3")
    with pytest.raises(AudioError, match=r"song\.mp3"):
        analysis.analyze(fake)


# --- fast mode ---------------------------------------------------------------

#: Fast mode listens to 3 of this clip's 8 patches.
FAST_CLIP = BUNDLED_MUSIC / "hsr_rock.ogg"
SMALL_BUDGET = 3
#: Measured on this clip at that budget: 0.065 at most (MTT).
FAST_TOLERANCE = 0.1
#: A patch decoded alone gives the faithful patch's scores to float rounding;
#: measured 7e-6 at most on real tracks.
SAME_PATCH_TOLERANCE = 1e-4


def faithful_patch_scores(path, model):
    """Scores of every patch of the faithful analysis, (n_patches, n_tags)."""
    from beetsplug.musicnn.engine import audio, features
    from beetsplug.musicnn.engine.backends import load_backend

    batch = features.patches(features.log_mel_spectrogram(audio.load_audio(path)))
    return load_backend("onnx", model).predict(batch).scores


def test_fast_mode_is_close_to_the_faithful_analysis():
    full = analysed(FAST_CLIP, "onnx")
    fast = analysis.analyze(FAST_CLIP, tuple(UPSTREAM), patch_budget=SMALL_BUDGET)
    for key in UPSTREAM:
        assert fast[key].n_patches == SMALL_BUDGET < full[key].n_patches
        assert not np.array_equal(fast[key].scores, full[key].scores)
        np.testing.assert_allclose(
            fast[key].scores, full[key].scores, atol=FAST_TOLERANCE
        )
    assert fast.duration == pytest.approx(full.duration, abs=1e-3)
    assert set(fast.timings) == {"decode", "features", "inference"}


def test_fast_mode_scores_the_chosen_faithful_patches():
    from beetsplug.musicnn.engine import sampling

    per_patch = faithful_patch_scores(FAST_CLIP, "mtt")
    chosen = sampling.choose_patches(len(per_patch), SMALL_BUDGET)
    fast = analysis.analyze(FAST_CLIP, ("mtt",), patch_budget=SMALL_BUDGET)
    np.testing.assert_allclose(
        fast["mtt"].scores, per_patch[chosen].mean(axis=0), atol=SAME_PATCH_TOLERANCE
    )


@pytest.mark.parametrize("budget", [8, 9, 1000])
def test_a_budget_covering_every_patch_is_the_faithful_analysis(budget):
    full = analysed(FAST_CLIP, "onnx")
    fast = analysis.analyze(FAST_CLIP, tuple(UPSTREAM), patch_budget=budget)
    for key in UPSTREAM:
        assert fast[key].n_patches == full[key].n_patches == 8
        np.testing.assert_array_equal(fast[key].scores, full[key].scores)
        np.testing.assert_array_equal(fast[key].embedding, full[key].embedding)


def test_a_budget_below_one_is_refused():
    with pytest.raises(ValueError, match="patch_budget"):
        analysis.analyze(FAST_CLIP, ("msd",), patch_budget=0)


def test_fast_mode_seeks_in_files_only_ffmpeg_reads(tmp_path):
    import soundfile

    from beetsplug.musicnn.engine import sampling
    from tests.engine.test_audio import write_with_pyav

    signal, rate = soundfile.read(FAST_CLIP, dtype="float32", always_2d=True)
    alac = tmp_path / "clip.m4a"  # lossless, so the decoded samples are exact
    write_with_pyav(alac, signal, rate, codec="alac")
    per_patch = faithful_patch_scores(alac, "msd")
    chosen = sampling.choose_patches(len(per_patch), SMALL_BUDGET)
    fast = analysis.analyze(alac, ("msd",), patch_budget=SMALL_BUDGET)
    np.testing.assert_allclose(
        fast["msd"].scores, per_patch[chosen].mean(axis=0), atol=SAME_PATCH_TOLERANCE
    )


def test_a_patch_share_hears_its_share_of_the_patches_and_leaves_msd_whole():
    from beetsplug.musicnn.engine import sampling

    full = analysed(FAST_CLIP, "onnx")
    per_patch = faithful_patch_scores(FAST_CLIP, "mtt")
    shared = analysis.analyze(FAST_CLIP, tuple(UPSTREAM), patch_shares={"mtt": 0.34})
    heard = sampling.share_patches(len(per_patch), 0.34)
    assert shared["mtt"].n_patches == len(heard) == 3  # ceil(8 * 0.34)
    np.testing.assert_allclose(
        shared["mtt"].scores, per_patch[heard].mean(axis=0), atol=SAME_PATCH_TOLERANCE
    )
    np.testing.assert_array_equal(shared["msd"].scores, full["msd"].scores)
    assert shared["msd"].n_patches == full["msd"].n_patches == 8


def test_in_fast_mode_a_shared_model_hears_windows_of_its_own_patches():
    """Fast mode estimates each model's own full analysis: MTT with a share
    takes its windows among the patches it hears in full, so that it
    estimates their mean (and not a share of MSD's windows, elsewhere)."""
    from beetsplug.musicnn.engine import sampling

    per_patch = faithful_patch_scores(FAST_CLIP, "mtt")
    n = len(per_patch)
    own = sampling.share_patches(n, 0.5)
    windows = sampling.model_patches(n, 0.5, SMALL_BUDGET)
    assert len(windows) == -(-SMALL_BUDGET // 2) < len(own)
    assert set(windows) <= set(own)
    fast = analysis.analyze(
        FAST_CLIP, tuple(UPSTREAM), patch_budget=SMALL_BUDGET,
        patch_shares={"mtt": 0.5},
    )
    np.testing.assert_allclose(
        fast["mtt"].scores, per_patch[windows].mean(axis=0),
        atol=SAME_PATCH_TOLERANCE,
    )
    msd = faithful_patch_scores(FAST_CLIP, "msd")
    np.testing.assert_allclose(
        fast["msd"].scores,
        msd[sampling.choose_patches(n, SMALL_BUDGET)].mean(axis=0),
        atol=SAME_PATCH_TOLERANCE,
    )


def test_in_fast_mode_the_share_applies_to_the_budget():
    shared = analysis.analyze(
        FAST_CLIP, tuple(UPSTREAM), patch_budget=SMALL_BUDGET,
        patch_shares={"MTT": 0.5},
    )
    assert shared["msd"].n_patches == SMALL_BUDGET
    assert shared["mtt"].n_patches == -(-SMALL_BUDGET // 2)
