"""Features stage: 16 kHz mono audio -> MusicNN log-mel patches.

This reproduces the preprocessing of the original ``musicnn`` package exactly
(``librosa.feature.melspectrogram`` with ``n_fft=512``, ``hop_length=256``,
96 Slaney mel bands, centred frames padded with zeros, power 2; then float16
rounding and ``log10(10000 x + 1)``), but computes the spectrogram in blocks of
frames so that a one-hour track never needs its full complex STFT in memory
(that alone would be 460 MB).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .models import HOP_LENGTH, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE

#: Frames computed per block; bounds the STFT working memory to a few MB.
_BLOCK_FRAMES = 2048


#: Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic
#: above it, 27 mels per factor 6.4 (Auditory Toolbox; librosa's default).
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL
_MELS_PER_LOG_HZ = 27.0 / np.log(6.4)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Frequencies in Hz to Slaney mels.

    Parameters
    ----------
    hz : np.ndarray
        Frequencies, in Hz (>= 0).

    Returns
    -------
    np.ndarray
        The same frequencies on the mel scale, float64.
    """
    hz = np.asarray(hz, dtype=np.float64)
    above = hz >= _LOG_START_HZ
    logs = np.log(np.where(above, hz, _LOG_START_HZ) / _LOG_START_HZ)
    return np.where(
        above, _LOG_START_MEL + logs * _MELS_PER_LOG_HZ, hz / _LINEAR_HZ_PER_MEL
    )


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Slaney mels to frequencies in Hz: the inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    above = mels >= _LOG_START_MEL
    return np.where(
        above,
        _LOG_START_HZ * np.exp((mels - _LOG_START_MEL) / _MELS_PER_LOG_HZ),
        mels * _LINEAR_HZ_PER_MEL,
    )


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Slaney-normalised mel filterbank used by MusicNN.

    96 triangles with edges evenly spaced in mels from 0 Hz to the Nyquist
    frequency, each scaled by ``2 / (upper edge - lower edge)`` so that every
    band has the same area (constant energy per band).

    Computed here with NumPy rather than by ``librosa.filters.mel``, whose
    import (SciPy's signal package) costs every worker process 1.5-3 s.

    Returns
    -------
    np.ndarray, shape (96, 257), float32
        Equal, to float32 rounding, to ``librosa.filters.mel(sr=16000,
        n_fft=512, n_mels=96)``.
    """
    edges_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (upper - lower))).astype(np.float32)


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    # Periodic Hann ("fftbins=True"), as librosa's STFT uses; kept in float64
    # because librosa multiplies float32 frames by a float64 window.
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)


def mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """Power mel spectrogram of a 16 kHz mono signal, frames first.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio at 16 kHz.

    Returns
    -------
    np.ndarray, shape (1 + n // 256, 96), float32
        Equal (to float32 rounding) to ``librosa.feature.melspectrogram(y=y,
        sr=16000, n_fft=512, hop_length=256, n_mels=96).T`` with librosa >= 0.10.
    """
    y = np.asarray(y, dtype=np.float32)
    n_frames = 1 + len(y) // HOP_LENGTH
    filterbank_t = mel_filterbank().T
    window = _hann_window()
    mel = np.empty((n_frames, N_MELS), dtype=np.float32)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(start + _BLOCK_FRAMES, n_frames)
        # librosa >= 0.10 centres frame t on sample t * hop, padding the signal
        # with n_fft // 2 zeros at each end; padding only this block's samples
        # avoids a copy of the whole signal (230 MB for an hour).
        half = N_FFT // 2
        segment = _zero_padded_slice(
            y, start * HOP_LENGTH - half, (stop - 1) * HOP_LENGTH + half
        )
        frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)
        spectrum = np.fft.rfft(frames[::HOP_LENGTH] * window, axis=-1)
        spectrum = spectrum.astype(np.complex64)
        mel[start:stop] = (spectrum.real**2 + spectrum.imag**2) @ filterbank_t
    return mel


def _zero_padded_slice(y: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``y[start:stop]`` as a new array, with zeros where the range runs past
    either end of ``y`` (``start`` may be negative)."""
    segment = np.zeros(stop - start, dtype=y.dtype)
    first, last = max(start, 0), min(stop, len(y))
    if last > first:
        segment[first - start : last - start] = y[first:last]
    return segment


def log_compress(mel: np.ndarray) -> np.ndarray:
    """MusicNN's amplitude compression, ``log10(10000 x + 1)``, as a new array.

    The reference rounds the mel spectrogram to float16 first; the product is
    computed in float32 (as NumPy 1.x did) because under NumPy 2 a float16
    product overflows to ``inf`` for any value above 6.55.
    """
    return _log_compress_in_place(np.array(mel, dtype=np.float32))


def _log_compress_in_place(mel: np.ndarray) -> np.ndarray:
    """:func:`log_compress` overwriting a float32 ``mel``, block by block.

    In place and in blocks so that an hour-long track needs no full-length
    temporaries (each would be 86 MB).
    """
    for start in range(0, len(mel), _BLOCK_FRAMES):
        block = mel[start : start + _BLOCK_FRAMES]
        block[...] = block.astype(np.float16)
        block *= 10000
        block += 1
        np.log10(block, out=block)
    return mel


def log_mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """The MusicNN input representation of a whole signal, shape (frames, 96)."""
    return _log_compress_in_place(mel_spectrogram(y))


def patch_hop(overlap: float = 0.0) -> int:
    """Frames between the starts of consecutive patches.

    Parameters
    ----------
    overlap : float in [0, 1)
        Share of a patch that overlaps the next one. ``0`` gives the
        reference's non-overlapping patches (hop 187 frames).
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), not {overlap!r}")
    return max(1, round(PATCH_FRAMES * (1 - overlap)))


def patches(features: np.ndarray, hop: int = PATCH_FRAMES) -> np.ndarray:
    """Cut a (frames, 96) representation into model input patches.

    Like the reference, the last partial patch is dropped. A representation
    shorter than one patch is repeated until it fills one (MusicNN was trained
    with repeat-padding of short audio). Silence is a valid patch.

    Returns
    -------
    np.ndarray, shape (n_patches, 187, 96)
        A read-only strided view where no padding was needed.
    """
    if len(features) < PATCH_FRAMES:
        # A centred spectrogram always has at least one frame.
        repeats = -(-PATCH_FRAMES // len(features))
        return np.tile(features, (repeats, 1))[None, :PATCH_FRAMES]
    windows = np.lib.stride_tricks.sliding_window_view(
        features, PATCH_FRAMES, axis=0
    )[::hop]
    # sliding_window_view puts the window axis last: (n, 96, 187) -> (n, 187, 96)
    return windows.transpose(0, 2, 1)
