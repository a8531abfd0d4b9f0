
import librosa
import numpy as np
import pytest

from beetsplug.musicnn.engine import features
from beetsplug.musicnn.engine.models import N_MELS, PATCH_FRAMES, SAMPLE_RATE


def loud_music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords over noise, loud enough for mel values far above 6.55."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110, 220, 277, 330, 1760))
    return (0.2 * chord + 0.1 * rng.standard_normal(len(t))).astype(np.float32)


def reference_log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn 0.1.0's extractor.batch_data, as it computes under NumPy 1.x."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=N_MELS
    ).T
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def test_mel_filterbank_equals_librosa_without_importing_it():
    theirs = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=512, n_mels=N_MELS)
    ours = features.mel_filterbank()
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)


@pytest.mark.parametrize("hz", [0.0, 200.0, 999.9, 1000.0, 1000.1, 4321.0, 8000.0])
def test_mel_scale_is_slaneys_and_inverts(hz):
    assert features.hz_to_mel(hz) == pytest.approx(librosa.hz_to_mel(hz), abs=1e-12)
    assert features.mel_to_hz(features.hz_to_mel(hz)) == pytest.approx(hz, abs=1e-9)


def test_the_analysis_imports_neither_librosa_nor_scipy(python_output):
    # Worker processes start faster without them (1.5-3 s of imports).
    code = (
        "import sys, numpy as np; from beetsplug.musicnn.engine import analysis; "
        "analysis.analyze_signal(np.zeros(16000, 'float32'), ['msd']); "
        "print(sorted({'librosa', 'scipy'} & set(sys.modules)))"
    )
    assert python_output(code) == "[]"


def test_mel_spectrogram_equals_librosa_across_block_boundaries():
    # 40 s is more than one block of frames, so block seams are compared too.
    y = loud_music_like(40.0)
    ours = features.mel_spectrogram(y)
    theirs = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=N_MELS
    ).T
    assert len(ours) > features._BLOCK_FRAMES
    assert ours.shape == theirs.shape == (1 + len(y) // 256, N_MELS)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_log_mel_matches_the_reference_and_never_overflows():
    y = loud_music_like(10.0, seed=1)
    ours = features.log_mel_spectrogram(y)
    assert features.mel_spectrogram(y).max() > 6.55  # the float16 overflow zone
    assert np.isfinite(ours).all()
    # float16 rounding can flip for values on a rounding edge: a few 1e-4.
    np.testing.assert_allclose(ours, reference_log_mel(y), atol=1e-3)
    assert np.mean(np.abs(ours - reference_log_mel(y)) > 1e-6) < 1e-3


@pytest.mark.parametrize("n_frames", [187, 374, 560, 561, 1000])
def test_patches_drop_the_last_partial_patch_like_the_reference(n_frames):
    rep = np.arange(n_frames * N_MELS, dtype=np.float32).reshape(n_frames, N_MELS)
    starts = range(0, n_frames - PATCH_FRAMES + 1, PATCH_FRAMES)  # the reference
    batch = features.patches(rep)
    assert batch.shape == (len(starts), PATCH_FRAMES, N_MELS)
    for patch, start in zip(batch, starts, strict=True):
        np.testing.assert_array_equal(patch, rep[start : start + PATCH_FRAMES])


def test_overlap_shortens_the_hop():
    rep = np.zeros((1000, N_MELS), np.float32)
    assert features.patch_hop(0.0) == PATCH_FRAMES
    assert features.patch_hop(0.5) == 94
    assert len(features.patches(rep, features.patch_hop(0.5))) == 1 + (1000 - 187) // 94
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="overlap"):
            features.patch_hop(bad)


def test_short_audio_is_repeat_padded_to_one_patch():
    y = loud_music_like(0.5)
    rep = features.log_mel_spectrogram(y)
    batch = features.patches(rep)
    assert batch.shape == (1, PATCH_FRAMES, N_MELS)
    np.testing.assert_array_equal(batch[0, : len(rep)], rep)
    np.testing.assert_array_equal(batch[0, len(rep) : 2 * len(rep)], rep)


@pytest.mark.parametrize("n_samples", [0, 1, SAMPLE_RATE * 4])
def test_silence_and_empty_signals_are_valid_input(n_samples):
    batch = features.patches(features.log_mel_spectrogram(np.zeros(n_samples)))
    assert batch.shape[1:] == (PATCH_FRAMES, N_MELS)
    assert len(batch) >= 1
    assert not batch.any()
