import numpy as np
import pytest

from beetsplug.musicnn.engine import backends, features
from beetsplug.musicnn.engine.models import EMBEDDING_SIZE, MODELS

pytest.importorskip("essentia", reason="the essentia extra is not installed")


@pytest.fixture(scope="module")
def music_patches(bundled_music):
    import soundfile as sf
    import soxr

    path = sorted(bundled_music.glob("*.ogg"))[0]
    y, rate = sf.read(path, dtype="float32")
    mono = soxr.resample(y.mean(axis=1), rate, 16000, "HQ")
    return features.patches(features.log_mel_spectrogram(mono))


@pytest.mark.parametrize("model", MODELS)
def test_onnx_and_essentia_agree_on_every_patch(model, music_patches):
    onnx = backends.load_backend("onnx", model).predict(music_patches)
    essentia = backends.load_backend("essentia", model).predict(music_patches)
    assert onnx.scores.shape == (len(music_patches), 50)
    assert onnx.embeddings.shape == (len(music_patches), EMBEDDING_SIZE)
    np.testing.assert_allclose(onnx.scores, essentia.scores, atol=1e-5)
    np.testing.assert_allclose(onnx.embeddings, essentia.embeddings, atol=1e-4)


def test_predict_in_small_runs_equals_one_run_of_every_patch(music_patches):
    backend = backends.load_backend("onnx", "mtt")
    assert len(music_patches) > backends.BATCH_PATCHES
    in_runs = backend.predict(music_patches)
    at_once = backend._run(np.ascontiguousarray(music_patches))
    np.testing.assert_allclose(in_runs.scores, at_once[0], atol=1e-6)
    np.testing.assert_allclose(in_runs.embeddings, at_once[1], rtol=1e-5, atol=1e-5)


def test_backends_are_loaded_once_per_process():
    assert backends.load_backend("onnx", "msd") is backends.load_backend("onnx", "msd")


def test_unknown_backend_or_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend 'tflite'"):
        backends.load_backend("tflite", "msd")
    with pytest.raises(ValueError, match="unknown MusicNN model 'vgg'"):
        backends.load_backend("onnx", "vgg")
