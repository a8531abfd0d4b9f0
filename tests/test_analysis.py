"""Parity of the whole analysis with the original musicnn package's numbers."""

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from beetsplug.musicnn import analysis
from beetsplug.musicnn.audio import AudioError
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
