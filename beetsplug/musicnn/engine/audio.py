# Over 450 lines on purpose: the two decoders and the one resampling pipeline
# they feed must match the reference sample for sample; kept together, the
# block protocol between them stays private.
"""Decode audio files into the mono 16 kHz signal the MusicNN models expect.

The models were trained on ``librosa.load(path, sr=16000)``: soundfile decoding
to float32, the mean of the channels, then soxr "HQ" resampling, with the output
length fixed to ``ceil(n * 16000 / native_rate)``. :func:`load_audio` does the
same steps, but block by block, so that an hour-long track never exists as a
full-rate float array (an hour of stereo 44.1 kHz audio is 1.3 GB of float32).

Two decoders feed one resampling pipeline. Each one turns a file into its
native sample rate and a stream of float32 mono blocks:

- soundfile (libsndfile) reads wav, aiff, flac, ogg/vorbis, opus and mp3, and is
  the path that matches the reference sample for sample;
- PyAV (ffmpeg) reads everything else a beets library may hold (m4a with AAC
  or ALAC, wma, ape, ...) and any file libsndfile fails on.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile
import soxr

log = logging.getLogger(__name__)

#: The sample rate of the MusicNN models.
TARGET_RATE = 16000

#: Frames read from libsndfile at a time: about 1.5 s of 44.1 kHz audio, small
#: next to the output yet large enough that per-call overhead is negligible.
BLOCK_FRAMES = 65536

#: Same quality as librosa's default ``res_type="soxr_hq"``.
SOXR_QUALITY = "HQ"

NOT_AUDIO = "not an audio file or unsupported format"

#: What libsndfile reports as the length of a stream that does not say (a
#: FLAC written by a streaming encoder has no total in its header).
UNKNOWN_LENGTH = 2**63 - 1

#: How files of the formats the decoders read begin (at offset 0, or 4 for
#: MP4's ``ftyp``): a file that starts so but ends before its audio is
#: truncated; any other file ffmpeg gives up on is not audio.
AUDIO_SIGNATURES = (
    b"OggS",  # Ogg: Vorbis, Opus, FLAC in Ogg
    b"fLaC",
    b"RIFF",  # WAV, RF64's cousin
    b"RF64",
    b"FORM",  # AIFF
    b"ID3",  # MP3 (or AAC) behind an ID3v2 tag
    b"wvpk",  # WavPack
    b"MAC ",  # Monkey's Audio
    b"caff",
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM
    b"\x30\x26\xb2\x75",  # ASF: WMA
)


class AudioError(Exception):
    """A file could not be decoded into audio.

    Parameters
    ----------
    path : str
        The file that failed.
    reason : str
        What went wrong, one line for people (e.g. ``"file is empty"``).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot decode {self.path}: {self.reason}"


def load_audio(
    path: str | os.PathLike[str],
    sr: int = TARGET_RATE,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Load an audio file as a mono float32 signal at ``sr`` Hz.

    Equivalent to ``librosa.load(path, sr=sr, offset=offset, duration=duration)``
    (to float32 rounding) for the formats libsndfile reads, in bounded memory.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file in any format libsndfile or ffmpeg can read.
    sr : int > 0
        Target sample rate.
    offset : float >= 0
        Start reading this many seconds into the file.
    duration : float > 0 or None
        Read at most this many seconds; ``None`` reads to the end.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        The signal, the mean of the file's channels. Its length is
        ``ceil(n_native * sr / native_rate)`` for ``n_native`` decoded frames.

    Raises
    ------
    AudioError
        If the file is missing, unreadable, not audio, or holds no samples in
        the requested span. A truncated file yields the audio it still holds.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0, not {duration}")
    path = os.fspath(path)
    _check_readable_file(path)
    y = _decode(path, sr, offset, duration)
    if y.size == 0:
        where = f" after {offset:g} s" if offset else ""
        raise AudioError(path, f"no audio samples{where}")
    return y


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says about its audio, before any decoding."""

    #: Native sample rate, in Hz.
    sample_rate: int
    #: Native frames: exact for most formats, an estimate for mp3 (and 0 when
    #: the container does not say).
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds, as exact as ``frames``."""
        return self.frames / self.sample_rate


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Read a file's sample rate and length from its header, decoding nothing.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file in any format :func:`load_audio` reads.

    Raises
    ------
    AudioError
        If the file is missing, unreadable or not audio.
    """
    path = os.fspath(path)
    _check_readable_file(path)
    try:
        info = soundfile.info(path)
        if 0 < info.frames < UNKNOWN_LENGTH:
            return AudioInfo(info.samplerate, info.frames)
    except soundfile.SoundFileError:
        pass  # a format for ffmpeg, as in _decode
    return _probe_with_pyav(path)


@contextmanager
def _pyav_audio_stream(path: str) -> Iterator[tuple[Any, Any]]:
    """Open ``path`` with PyAV; yield the container and its first audio stream.

    Raises AudioError when ffmpeg cannot open the file or it holds no audio.
    """
    import av  # heavy, and needed only for formats libsndfile lacks

    try:
        container = av.open(path)
    except av.FFmpegError as error:
        raise AudioError(path, _pyav_open_failure(error, path)) from error
    with container:
        if not container.streams.audio:
            raise AudioError(path, "no audio stream")
        stream = container.streams.audio[0]
        if not stream.rate or stream.rate < 0:
            # ffmpeg guessed a format from the name (``.flac``) and found no
            # header in the content: random bytes, text.
            raise AudioError(path, NOT_AUDIO)
        yield container, stream


def _probe_with_pyav(path: str) -> AudioInfo:
    import av

    with _pyav_audio_stream(path) as (container, stream):
        frames = _pyav_frames_hint(stream)
        if not frames and container.duration:
            # Some containers time only themselves (in microseconds).
            frames = int(container.duration * stream.rate / av.time_base)
        return AudioInfo(stream.rate, frames)


def _decode(path: str, sr: int, offset: float, duration: float | None) -> np.ndarray:
    """Decode with soundfile if it can, else with PyAV."""
    try:
        y = _load_with_soundfile(path, sr, offset, duration)
        if y.size:
            return y
        failure = "no samples"
    except soundfile.SoundFileError as error:
        failure = str(error)
    # libsndfile does not know the format (m4a, wma, ...) or failed on this
    # file; ffmpeg reads far more formats, and damaged files more leniently.
    log.debug("soundfile did not decode %s (%s); trying PyAV", path, failure)
    return _load_with_pyav(path, sr, offset, duration)


def _check_readable_file(path: str) -> None:
    """Raise AudioError with a plain reason if ``path`` cannot hold audio.

    Checking first gives people "no such file" rather than whatever wording
    each decoder library uses for it.
    """
    try:
        status = os.stat(path)
        if stat.S_ISDIR(status.st_mode):
            raise AudioError(path, "is a directory")
        if not stat.S_ISREG(status.st_mode):
            # A FIFO or a device would block the decoder, or never end.
            raise AudioError(path, "not a regular file")
        if status.st_size == 0:
            raise AudioError(path, "file is empty")
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise AudioError(path, "no such file") from None
    except PermissionError:
        raise AudioError(path, "permission denied") from None
    except OSError as error:
        raise AudioError(path, error.strerror or str(error)) from error


def _load_with_soundfile(
    path: str, sr: int, offset: float, duration: float | None
) -> np.ndarray:
    """Decode with libsndfile. Raises soundfile.SoundFileError on failure."""
    with soundfile.SoundFile(path) as sound_file:
        native_rate = sound_file.samplerate
        start, frames = _span_in_frames(offset, duration, native_rate)
        if start:
            # Like librosa: seek to int(offset * rate), read int(duration * rate).
            sound_file.seek(start)
        # For mp3 libsndfile estimates its length, and a streamed FLAC has
        # none (UNKNOWN_LENGTH): use it only as a size hint.
        total = sound_file.frames if sound_file.frames < UNKNOWN_LENGTH else 0
        expected = frames if frames is not None else total - start
        blocks = _soundfile_blocks(sound_file, frames)
        return resample_blocks(
            blocks, native_rate, sr, expected_frames=max(expected, 0)
        )


def _soundfile_blocks(
    sound_file: soundfile.SoundFile, frames: int | None
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks of an open file: ``frames`` at most, or all."""
    remaining = math.inf if frames is None else frames
    while remaining > 0:
        block = sound_file.read(
            int(min(BLOCK_FRAMES, remaining)), dtype="float32", always_2d=True
        )
        if len(block) == 0:
            return
        remaining -= len(block)
        yield downmix(block)


def _load_with_pyav(
    path: str, sr: int, offset: float, duration: float | None
) -> np.ndarray:
    """Decode with ffmpeg through PyAV. Raises AudioError on failure."""
    import av

    with _pyav_audio_stream(path) as (container, stream):
        native_rate = stream.rate
        start, frames = _span_in_frames(offset, duration, native_rate)
        expected = frames if frames is not None else _pyav_frames_hint(stream)
        try:
            if start:
                _seek_before(container, stream, start)
            blocks = _pyav_blocks(container, stream, start, frames)
            return resample_blocks(blocks, native_rate, sr, expected_frames=expected)
        except av.FFmpegError as error:
            raise AudioError(path, "damaged audio data, nothing decodable") from error


def _pyav_open_failure(error: Exception, path: str) -> str:
    """A reason for people from the error ffmpeg raised opening a file.

    ffmpeg chooses a demuxer by the file's name as well as its content, and
    then hits the end of a text file named ``.ogg`` as it would the end of
    a real Ogg file cut short: only a file that begins like audio is called
    truncated.
    """
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, EOFError) and _starts_like_audio(path):
        return "file is truncated"
    return NOT_AUDIO


def _starts_like_audio(path: str) -> bool:
    """Whether the file begins with the signature of an audio format."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return False
    mpeg_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return mpeg_sync or head[4:8] == b"ftyp" or head.startswith(AUDIO_SIGNATURES)


def _seek_before(container, stream, start: int) -> None:
    """Seek to a packet at or before frame ``start`` of ``stream``."""
    origin = stream.start_time or 0
    target = origin + int(start / stream.rate / stream.time_base)
    container.seek(target, stream=stream, backward=True)


def _pyav_blocks(
    container, stream, start: int, frames: int | None
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks of frames ``[start, start + frames)``.

    The first decoded frame's timestamp says where decoding resumed after a
    seek; later positions are counted, which tolerates jittery timestamps.
    """
    import av

    # Decoders emit int16, int32 or float, planar or packed; convert all of
    # them to planar float at the native rate and layout.
    to_float = av.AudioResampler(format="fltp")
    origin = stream.start_time or 0
    position = None
    end = None if frames is None else start + frames
    decoded_any = False
    try:
        for frame in container.decode(stream):
            if position is None:
                position = (
                    round((frame.pts - origin) * stream.time_base * stream.rate)
                    if frame.pts is not None
                    else 0
                )
            for converted in to_float.resample(frame):
                block = downmix(converted.to_ndarray().T)
                block = _clip_to_span(block, position, start, end)
                position += converted.samples
                if block.size:
                    decoded_any = True
                    yield block
            if end is not None and position >= end:
                return
    except av.FFmpegError as error:
        if not decoded_any:
            raise
        # A damaged or truncated file: keep the audio decoded before the damage.
        log.warning("%s: decoding stopped early: %s", container.name, error)


def _pyav_frames_hint(stream) -> int:
    """Estimate a stream's frame count from its duration, or 0 if unknown."""
    if stream.duration is None or stream.time_base is None:
        return 0
    return int(stream.duration * stream.time_base * stream.rate)


def _clip_to_span(
    block: np.ndarray, position: int, start: int, end: int | None
) -> np.ndarray:
    """The part of a block starting at ``position`` within ``[start, end)``."""
    first = max(start - position, 0)
    last = len(block) if end is None else min(end - position, len(block))
    return block[first : max(first, last)]


def _span_in_frames(
    offset: float, duration: float | None, rate: int
) -> tuple[int, int | None]:
    """Convert an offset and duration in seconds to frames, as librosa does."""
    start = int(offset * rate)
    frames = None if duration is None else int(duration * rate)
    return start, frames


def downmix(block: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) block, as librosa.to_mono.

    Parameters
    ----------
    block : np.ndarray [shape=(n, channels)]

    Returns
    -------
    mono : np.ndarray [shape=(n,), dtype=float32], C-contiguous
    """
    return np.ascontiguousarray(block.mean(axis=1, dtype=np.float32))


def resample_blocks(
    blocks: Iterable[np.ndarray],
    in_rate: int,
    out_rate: int,
    *,
    expected_frames: int = 0,
) -> np.ndarray:
    """Resample a stream of mono blocks into one array, as librosa.resample.

    Streaming through one ``soxr.ResampleStream`` gives the same samples as
    resampling the concatenated signal at once, while only one block of the
    native-rate signal exists at a time.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(n,), dtype=float32]
        Consecutive pieces of the signal at ``in_rate``.
    in_rate, out_rate : int > 0
        Sample rates; equal rates skip resampling, as librosa does.
    expected_frames : int >= 0
        Frames the blocks are expected to hold; sizes the output up front.

    Returns
    -------
    y : np.ndarray [shape=(m,), dtype=float32]
        ``m = resampled_length(n, in_rate, out_rate)`` for ``n`` input frames:
        trimmed, or zero-padded at the end, as ``librosa.util.fix_length``.
    """
    if in_rate == out_rate:
        resampler = None
    else:
        resampler = soxr.ResampleStream(
            in_rate, out_rate, 1, dtype="float32", quality=SOXR_QUALITY
        )
    output = _GrowingArray(resampled_length(expected_frames, in_rate, out_rate))
    frames_in = 0
    for block in blocks:
        frames_in += len(block)
        output.append(resampler.resample_chunk(block) if resampler else block)
    if resampler:
        # Flush the samples the filter still holds.
        output.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return output.finish(resampled_length(frames_in, in_rate, out_rate))


def resampled_length(frames: int, in_rate: int, out_rate: int) -> int:
    """Length of ``frames`` samples resampled, exactly as librosa computes it.

    librosa rounds up the float product ``frames * (out_rate / in_rate)``;
    exact integer arithmetic could differ by one sample, so copy the float.
    """
    if in_rate == out_rate:
        return frames
    return math.ceil(frames * (float(out_rate) / in_rate))


class _GrowingArray:
    """A float32 array filled by appending, grown geometrically when full.

    Growing in place with ``ndarray.resize`` (realloc) avoids holding an old
    and a new copy of a long output at once whenever the allocator can.
    """

    def __init__(self, capacity: int) -> None:
        self._data = np.empty(max(capacity, 1), dtype=np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._size + len(chunk)
        if end > len(self._data):
            self._data.resize(max(end, 2 * len(self._data)), refcheck=False)
        self._data[self._size : end] = chunk
        self._size = end

    def finish(self, length: int) -> np.ndarray:
        """The contents trimmed or zero-padded to ``length``; ends appending."""
        data, self._data = self._data, np.empty(0, dtype=np.float32)
        data.resize(length, refcheck=False)
        data[self._size :] = 0
        return data
