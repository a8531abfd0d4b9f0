"""Decoding stage: every format a library holds, parity, errors, memory.

Signals are generated here and encoded with real encoders (libsndfile through
soundfile, ffmpeg through PyAV); nothing is mocked.
"""

import logging
import os
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from conftest import BAD_KINDS, ENCODINGS

from beetsplug.musicnn.engine.audio import (
    NOT_AUDIO,
    AudioError,
    load_audio,
    probe,
    resample_blocks,
    resampled_length,
)

RATE = 44100
LEFT_HZ, RIGHT_HZ = 440.0, 1500.0
#: Samples are float32 rounded: a few units in the last place of full scale.
#: We measure at most 2.4e-7 against librosa (mp3 blocks decode 1 ulp apart).
PARITY_TOLERANCE = 1e-6
#: ffmpeg's decoders against libsndfile's: we measure at most 1.7e-6.
FALLBACK_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def librosa():
    """librosa, the reference decoder, with its audio modules imported.

    ``librosa.load`` imports audioread's backends, which import modules
    deprecated in Python 3.11 (aifc, sunau): not our warnings to fix.
    """
    librosa = pytest.importorskip("librosa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioread

        audioread.available_backends()
    return librosa


def two_tone(seconds: float, rate: int = RATE) -> np.ndarray:
    """A (frames, 2) float32 signal: 440 Hz on the left, 1500 Hz on the right."""
    t = np.arange(round(seconds * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * LEFT_HZ * t)
    right = 0.4 * np.sin(2 * np.pi * RIGHT_HZ * t)
    return np.stack([left, right], axis=1).astype(np.float32)


Writer = Callable[[Path, np.ndarray, int], None]


def soundfile_writer(fmt: str, subtype: str) -> Writer:
    """Encode (frames, channels) float signals with libsndfile."""
    return partial(write_with_soundfile, fmt=fmt, subtype=subtype)


def pyav_writer(codec: str) -> Writer:
    """Encode stereo float signals into MP4 with an ffmpeg codec."""
    return partial(write_with_pyav, codec=codec)


def write_with_soundfile(path, signal, rate, *, fmt, subtype):
    soundfile.write(path, signal, rate, format=fmt, subtype=subtype)


def write_with_pyav(path, signal, rate, *, codec):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        if codec == "aac":
            frame_format, planes = "fltp", signal.T
        else:  # ALAC takes integers
            frame_format, planes = "s16p", (signal.T * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes), format=frame_format, layout="stereo"
        )
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


@dataclass(frozen=True)
class Format:
    """An encoding a beets library may hold, and what decoding it should give."""

    name: str
    file_name: str
    write: Writer
    lossless: bool
    decoder: str = "soundfile"
    rate: int = RATE
    #: Frames the encoder may add (AAC keeps its priming and padding frames).
    extra_frames: int = 0

    def encode(self, folder: Path, seconds: float = 2.0) -> tuple[Path, np.ndarray]:
        """Write the two-tone signal in this format; return the path and signal."""
        path, signal = folder / self.file_name, two_tone(seconds, self.rate)
        self.write(path, signal, self.rate)
        return path, signal


FORMATS = {
    f.name: f
    for f in [
        Format("wav", "a.wav", soundfile_writer("WAV", "PCM_16"), lossless=True),
        Format("aiff", "a.aiff", soundfile_writer("AIFF", "PCM_16"), lossless=True),
        Format("flac", "a.flac", soundfile_writer("FLAC", "PCM_24"), lossless=True),
        Format("vorbis", "a.ogg", soundfile_writer("OGG", "VORBIS"), lossless=False),
        # libsndfile's Opus encoder takes only Opus's own rates; 48 kHz is usual.
        Format(
            "opus",
            "a.opus",
            soundfile_writer("OGG", "OPUS"),
            lossless=False,
            rate=48000,
        ),
        Format(
            "mp3", "a.mp3", soundfile_writer("MP3", "MPEG_LAYER_III"), lossless=False
        ),
        Format(
            "aac",
            "a.m4a",
            pyav_writer("aac"),
            lossless=False,
            decoder="pyav",
            extra_frames=2048,
        ),
        Format(
            "alac",
            "a.m4a",
            pyav_writer("alac"),
            lossless=True,
            decoder="pyav",
        ),
    ]
}


def encoded(folder: Path, name: str, seconds: float = 2.0) -> Path:
    return FORMATS[name].encode(folder, seconds)[0]


def energy_share_near(y: np.ndarray, frequencies, sr: int = 16000) -> float:
    """Share of the signal's energy within 10 Hz of the given frequencies."""
    power = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    bins = np.fft.rfftfreq(len(y), 1 / sr)
    near = np.zeros(len(bins), bool)
    for frequency in frequencies:
        near |= np.abs(bins - frequency) < 10
    return power[near].sum() / power.sum()


@pytest.mark.parametrize("audio_format", FORMATS.values(), ids=FORMATS.keys())
def test_each_format_decodes_to_the_resampled_source(tmp_path, caplog, audio_format):
    path, source = audio_format.encode(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="beetsplug.musicnn.engine.audio"):
        y = load_audio(path)

    assert y.dtype == np.float32
    assert y.ndim == 1
    rate = audio_format.rate
    expected_length = resampled_length(len(source), rate, 16000)
    extra = audio_format.extra_frames * 16000 / rate
    assert expected_length <= len(y) <= expected_length + extra
    assert ("trying PyAV" in caplog.text) == (audio_format.decoder == "pyav")
    if audio_format.lossless:
        expected = soxr.resample(source.mean(axis=1), rate, 16000, "HQ")
        assert np.corrcoef(y, expected)[0, 1] > 0.999
    else:
        assert energy_share_near(y, [LEFT_HZ, RIGHT_HZ]) > 0.95


def test_streamed_resampling_equals_librosa_for_any_block_split(librosa):
    rng = np.random.default_rng(0)
    for rate in (8000, 22050, 44100, 48000, 96000):
        for n in (1, 1001, 100_003):
            x = (0.3 * rng.standard_normal(n)).astype(np.float32)
            blocks = np.split(x, np.sort(rng.integers(0, n, size=6)))
            expected = librosa.resample(x, orig_sr=rate, target_sr=16000)
            # One soxr stream over the blocks is the one-shot resampling: equal.
            np.testing.assert_array_equal(
                resample_blocks(blocks, rate, 16000), expected
            )


def test_equal_rates_pass_blocks_through_unchanged():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(resample_blocks([x[:3], x[3:]], 16000, 16000), x)


def test_shared_clips_match_librosa_load(shared_audio, librosa):
    clips = sorted([*shared_audio.glob("*.ogg"), *shared_audio.glob("*.mp3")])
    assert clips
    for clip in clips:
        expected, _ = librosa.load(clip, sr=16000)
        y = load_audio(clip)
        assert len(y) == len(expected), clip.name
        np.testing.assert_allclose(y, expected, rtol=0, atol=PARITY_TOLERANCE)


def test_the_ffmpeg_fallback_agrees_with_soundfile_on_shared_clips(shared_audio):
    # Files libsndfile reads never take the fallback; force it to check that
    # m4a and friends get the same signal as the reference would give.
    from beetsplug.musicnn.engine.audio import _load_with_pyav

    for clip in sorted([*shared_audio.glob("*.ogg"), *shared_audio.glob("*.mp3")]):
        expected = load_audio(clip)
        y = _load_with_pyav(str(clip), 16000, offset=0.0, duration=None)
        assert len(y) == len(expected), clip.name
        np.testing.assert_allclose(y, expected, rtol=0, atol=FALLBACK_TOLERANCE)


def test_offset_and_duration_read_the_span_librosa_reads(tmp_path, librosa):
    path = encoded(tmp_path, "flac")
    expected, _ = librosa.load(path, sr=16000, offset=0.5, duration=1.0)
    y = load_audio(path, offset=0.5, duration=1.0)
    assert len(y) == len(expected) == 16000
    np.testing.assert_allclose(y, expected, rtol=0, atol=PARITY_TOLERANCE)


def test_offset_and_duration_seek_in_files_only_ffmpeg_reads(tmp_path):
    # At 16 kHz nothing is resampled, so a span is exactly a slice of the whole.
    path = tmp_path / "a.m4a"
    pyav_writer("alac")(path, two_tone(3.0, 16000), 16000)
    whole = load_audio(path)
    np.testing.assert_array_equal(
        load_audio(path, offset=1.25, duration=1.0), whole[20000:36000]
    )
    np.testing.assert_array_equal(load_audio(path, offset=2.5), whole[40000:])


def test_silence_is_valid_audio(tmp_path):
    path = tmp_path / "silence.flac"
    soundfile.write(path, np.zeros((RATE, 2), np.float32), RATE)
    y = load_audio(path)
    assert len(y) == 16000
    assert not y.any()


def test_half_a_second_is_valid_audio(tmp_path):
    y = load_audio(encoded(tmp_path, "wav", seconds=0.5))
    assert len(y) == 8000


def assert_cannot_decode(path, reason=None):
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    error = caught.value
    assert error.path == os.fspath(path)
    assert str(error) == f"cannot decode {path}: {error.reason}"
    assert "\n" not in error.reason
    if reason is not None:
        assert error.reason == reason


def test_a_missing_file_is_an_audio_error(tmp_path):
    assert_cannot_decode(tmp_path / "missing.mp3", "no such file")


def test_a_directory_is_an_audio_error(tmp_path):
    assert_cannot_decode(tmp_path, "is a directory")


def test_a_fifo_is_an_audio_error_not_a_hang(tmp_path):
    # Opening a FIFO for reading blocks until a writer comes along.
    path = tmp_path / "stream.mp3"
    os.mkfifo(path)
    assert_cannot_decode(path, "not a regular file")


def test_an_empty_file_is_an_audio_error(tmp_path):
    path = tmp_path / "empty.mp3"
    path.touch()
    assert_cannot_decode(path, "file is empty")


def test_text_named_like_an_mp3_is_an_audio_error(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_text("this is not an mp3\n" * 100)
    assert_cannot_decode(path, NOT_AUDIO)


def test_a_file_with_no_samples_is_an_audio_error(tmp_path):
    path = tmp_path / "nothing.wav"
    soundfile.write(path, np.zeros((0, 2), np.float32), RATE)
    assert_cannot_decode(path, "no audio samples")


def test_an_offset_past_the_end_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError, match="no audio samples after 5 s"):
        load_audio(encoded(tmp_path, "flac"), offset=5.0)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file"
)
def test_an_unreadable_file_is_an_audio_error(tmp_path):
    path = encoded(tmp_path, "wav")
    path.chmod(0)
    assert_cannot_decode(path, "permission denied")


@pytest.mark.parametrize("name", ["wav", "flac", "mp3"])
def test_a_truncated_file_yields_the_audio_it_holds(tmp_path, name):
    path = encoded(tmp_path, name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    y = load_audio(path)
    assert 0 < len(y) < 32000
    assert np.isfinite(y).all()


@pytest.mark.parametrize("name", ["flac", "vorbis", "opus", "aac"])
def test_a_file_cut_before_its_audio_is_an_audio_error(tmp_path, name):
    path = encoded(tmp_path, name)
    path.write_bytes(path.read_bytes()[:64])
    assert_cannot_decode(path)


#: What each kind of bad file may be called: the precise reason varies with
#: the format (ffmpeg says an Ogg page is cut short, a WAV header merely
#: unreadable), never "internal error".
BAD_FILE_REASONS = {
    "random bytes": {NOT_AUDIO},
    "text": {NOT_AUDIO},
    "truncated header": {NOT_AUDIO, "file is truncated"},
    "zero-length stream": {
        "no audio samples", "no audio stream", "file is truncated", NOT_AUDIO
    },
}


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_bad_file_of_any_format_has_its_own_reason(bad_audio_files, encoding, kind):
    path = bad_audio_files[encoding, kind]
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert caught.value.reason in BAD_FILE_REASONS[kind], caught.value
    # Its header says no more than that: no rate of 0, no endless length.
    try:
        info = probe(path)
    except AudioError as error:
        assert error.reason in BAD_FILE_REASONS[kind], error
    else:
        assert info.sample_rate > 0
        assert info.frames < 48000, info


def test_a_flac_of_unknown_length_decodes_whole(tmp_path):
    """A streaming encoder leaves the total of samples in a FLAC header 0
    ("unknown"), and libsndfile then reports the largest length there is."""
    path = encoded(tmp_path, "flac")
    whole = load_audio(path)
    data = bytearray(path.read_bytes())
    # STREAMINFO's 36-bit total of samples: the low 4 bits of byte 21, and
    # bytes 22 to 25 of the file ("fLaC", a block header, 13 bytes before).
    assert data[:4] == b"fLaC"
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    path.write_bytes(data)
    assert soundfile.info(path).frames == 2**63 - 1  # "unknown"
    np.testing.assert_array_equal(load_audio(path), whole)
    assert probe(path).sample_rate == RATE


def test_a_long_file_never_exists_at_full_rate(tmp_path):
    minutes, block_seconds = 10, 10
    path = tmp_path / "long.wav"
    block = two_tone(block_seconds)
    with soundfile.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as sound_file:
        for _ in range(minutes * 60 // block_seconds):
            sound_file.write(block)

    tracemalloc.start()
    try:
        y = load_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(y) == minutes * 60 * 16000
    full_rate_mono_bytes = minutes * 60 * RATE * 4
    # The output itself (38 MB) plus a few blocks, not the 106 MB of mono (or
    # 212 MB of stereo) float32 at 44.1 kHz.
    assert peak < y.nbytes + 8_000_000 < full_rate_mono_bytes / 2


@pytest.mark.parametrize("audio_format", FORMATS.values(), ids=FORMATS.keys())
def test_probe_reads_rate_and_length_without_decoding(tmp_path, audio_format):
    path, source = audio_format.encode(tmp_path, seconds=3.0)
    info = probe(path)
    assert info.sample_rate == audio_format.rate
    # Lossy encoders may pad; mp3 and container lengths are estimates.
    assert 0 <= info.frames - len(source) <= max(audio_format.extra_frames, 2400)
    assert info.duration == pytest.approx(3.0, abs=0.06)


def test_probe_refuses_what_is_not_audio(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_text("this is not an mp3\n" * 100)
    with pytest.raises(AudioError, match=NOT_AUDIO):
        probe(path)
    with pytest.raises(AudioError, match="no such file"):
        probe(tmp_path / "missing.flac")
