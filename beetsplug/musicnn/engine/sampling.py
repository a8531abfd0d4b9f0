"""Fast mode: which patches of a track to analyse, and which audio to decode.

The faithful analysis cuts a whole track into 3-second patches and averages
the model's outputs over all of them. Fast mode averages over a *budget* of
those same patches, spread over the track, and decodes only the audio they
need. Choosing among the faithful patches (rather than anywhere in the track)
keeps one grid of patches for both modes: a patch analysed in fast mode gives
the same outputs as in the faithful analysis, to float rounding, and a budget
as large as the track's patch count is the faithful analysis itself.

Everything here is pure arithmetic on sample and frame indices at the models'
16 kHz rate; :mod:`analysis` does the decoding.

Where patches come from
-----------------------
Patch ``i`` covers spectrogram frames ``[i * hop, i * hop + 187)``. Frames are
centred: frame ``f`` is computed from samples ``[256 f - 256, 256 f + 256)``.
Each read starts and stops a *margin* away from the samples its patches need,
for two reasons:

- the log-mel of a read is computed like the faithful one, with zero padding
  at the read's edges; the frames there differ from the faithful frames and
  must fall in the margin, not in a patch;
- soxr's filter starts and ends a stream with its own transient: we measured
  the resampled samples of a read to differ from the full decode's by more
  than 1e-5 over at most 75 samples (5 ms) at each end.

A read also starts on a sample where both the 256-sample hop grid and the
native sample grid meet (see :func:`read_alignment`), so its frames are the
faithful frames, not frames shifted by a fraction of a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .models import HOP_LENGTH, N_FFT, PATCH_FRAMES, SAMPLE_RATE, fast_windows

#: Audio decoded beyond each end of the samples a read's patches need: ten
#: times the resampler's measured transient, and a negligible 0.1 s of decode.
MARGIN_SAMPLES = SAMPLE_RATE // 10

#: Reads closer than this are merged into one: decoding half a second costs
#: about a millisecond, less than seeking and restarting the resampler.
MERGE_GAP_SAMPLES = SAMPLE_RATE // 2

#: Patches left out at each end of a track when the budget allows. Leaving out
#: intros and fade-outs was measured to move fast mode *away* from the
#: faithful scores, which average over them too (bench/bench_fast_mode.py).
EDGE_PATCHES = 0


@dataclass(frozen=True)
class Read:
    """One contiguous piece of audio to decode, and the patches cut from it.

    Attributes
    ----------
    start, stop : int
        Samples ``[start, stop)`` of the track at 16 kHz to decode.
    patches : tuple of int
        Indices of the patches of the faithful grid that this read holds.
    """

    start: int
    stop: int
    patches: tuple[int, ...]

    def patch_frames(self, patch: int, hop: int = PATCH_FRAMES) -> slice:
        """Frames of ``patch`` in the log-mel spectrogram of this read.

        The read starts on the hop grid, so its frame ``j`` is the track's
        frame ``j + start // 256``.
        """
        first = patch * hop - self.start // HOP_LENGTH
        return slice(first, first + PATCH_FRAMES)


def frame_count(n_samples: int) -> int:
    """Frames of the centred log-mel spectrogram of ``n_samples`` samples."""
    return 1 + n_samples // HOP_LENGTH


def patch_count(n_samples: int, hop: int = PATCH_FRAMES) -> int:
    """Patches the faithful analysis cuts from a signal of ``n_samples``.

    A signal shorter than one patch still gives one (repeat-padded) patch.
    """
    frames = frame_count(n_samples)
    if frames < PATCH_FRAMES:
        return 1
    return (frames - PATCH_FRAMES) // hop + 1


def choose_patches(
    n_patches: int, budget: int, edge_patches: int = EDGE_PATCHES
) -> np.ndarray:
    """Indices of ``budget`` patches spread evenly over a track.

    Parameters
    ----------
    n_patches : int >= 1
        Patches of the faithful analysis.
    budget : int >= 1
        Patches to analyse.
    edge_patches : int >= 0
        Patches to leave out at each end (intro, fade-out), fewer if the
        budget needs them.

    Returns
    -------
    np.ndarray [shape=(min(budget, n_patches),), dtype=int]
        Sorted distinct indices; every patch if ``budget >= n_patches``.
    """
    if n_patches < 1 or budget < 1:
        raise ValueError(
            f"need n_patches >= 1 and budget >= 1, not {n_patches}, {budget}"
        )
    if budget >= n_patches:
        return np.arange(n_patches)
    edge = min(edge_patches, (n_patches - budget) // 2)
    usable = n_patches - 2 * edge
    # The centre of each of ``budget`` equal stretches: never the same patch
    # twice, since each stretch is at least one patch long.
    centres = edge + (np.arange(budget) + 0.5) * usable / budget
    return np.floor(centres).astype(int)


def share_patches(n_patches: int, share: float) -> np.ndarray:
    """Indices of the patches a model with a patch *share* listens to.

    The ``patch_share`` setting lets a second model listen to part of each
    track only (``{mtt: 0.34}``: MTT hears a third of the patches MSD
    hears): ``max(1, ceil(n_patches * share))`` patches spread evenly by
    :func:`choose_patches`. This function is the one rule for it: the
    analysis uses it, and so does the label evaluation
    (``corpora/eval_labels.py``), which computes every patch once and derives
    each share from them.

    Parameters
    ----------
    n_patches : int >= 1
        Patches the track has (in fast mode, the patches of its budget).
    share : float in (0, 1]
        1 selects every patch.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], not {share}")
    return choose_patches(n_patches, max(1, math.ceil(n_patches * share)))


def model_patches(
    n_patches: int, share: float = 1.0, budget: int | None = None
) -> np.ndarray:
    """Indices of the patches a model hears in a track of ``n_patches``.

    The full analysis: every patch, or its ``share`` of them
    (:func:`share_patches`). Fast mode (a ``budget``): ``fast_windows(budget,
    share)`` of *those same patches*, spread evenly over them (for the
    default's MTT, 24 of its own at a budget of 48). A fast analysis thus
    estimates each model's own full analysis: a model with a
    share takes its windows among the patches it would hear in full, not a
    share of the other model's windows (which sit elsewhere in the track and
    kept the top-3 tags on too few tracks, docs/performance.md).

    Parameters
    ----------
    n_patches : int >= 1
        Patches the track has.
    share : float in (0, 1]
        The model's ``patch_share`` (1: every patch).
    budget : int >= 1 or None
        Fast mode's ``fast_patches``; ``None`` for the full analysis.
    """
    heard = np.arange(n_patches) if share >= 1.0 else share_patches(n_patches, share)
    if budget is None:
        return heard
    return heard[choose_patches(len(heard), fast_windows(budget, share))]


def read_alignment(native_rate: int) -> int:
    """Step, in 16 kHz samples, of the sample indices a read may start on.

    A read starting at 16 kHz sample ``s`` starts at native frame
    ``s * native_rate / 16000``; for the resampled read to be the faithful
    signal (not one shifted by a fraction of a sample), that must be a whole
    frame, and ``s`` must be on the 256-sample hop grid. Both hold on
    multiples of the returned step: 1280 samples (80 ms) for 44.1 and 22.05
    kHz, 256 for 16, 32 and 48 kHz.
    """
    whole_native_frames = SAMPLE_RATE // math.gcd(SAMPLE_RATE, native_rate)
    return math.lcm(HOP_LENGTH, whole_native_frames)


def patch_samples(patch: int, hop: int = PATCH_FRAMES) -> tuple[int, int]:
    """Samples ``[start, stop)`` that the frames of ``patch`` are computed from.

    ``start`` may be negative, or ``stop`` past the end of the track: there the
    faithful spectrogram sees its zero padding.
    """
    first_frame = patch * hop
    last_frame = first_frame + PATCH_FRAMES - 1
    half_window = N_FFT // 2
    return (
        first_frame * HOP_LENGTH - half_window,
        last_frame * HOP_LENGTH + half_window,
    )


def plan_reads(
    patches: np.ndarray,
    n_samples: int,
    native_rate: int,
    *,
    hop: int = PATCH_FRAMES,
    margin: int = MARGIN_SAMPLES,
    merge_gap: int = MERGE_GAP_SAMPLES,
) -> list[Read]:
    """The reads that decode the audio of ``patches``, nearby ones merged.

    Parameters
    ----------
    patches : array of int
        Sorted indices of patches of the faithful grid.
    n_samples : int
        Length of the track at 16 kHz.
    native_rate : int
        Sample rate of the file, for :func:`read_alignment`.
    hop : int
        Frames between the faithful patches.
    margin : int >= 0
        Samples decoded beyond each end of what a patch needs.
    merge_gap : int >= 0
        Reads whose gap is at most this many samples are merged.

    Returns
    -------
    list of Read
        In track order; a read never starts before 0 nor stops after
        ``n_samples``, where it sees the same edges as the faithful analysis.
    """
    step = read_alignment(native_rate)
    reads: list[Read] = []
    for patch in (int(p) for p in patches):
        first, last = patch_samples(patch, hop)
        start = max(0, (first - margin) // step * step)
        stop = min(n_samples, -(-(last + margin) // step) * step)
        if reads and start - reads[-1].stop <= merge_gap:
            previous = reads.pop()
            start, patch_group = previous.start, (*previous.patches, patch)
        else:
            patch_group = (patch,)
        reads.append(Read(start, stop, patch_group))
    return reads
