"""Fast mode's choice of patches and of the audio to decode (pure arithmetic)."""

import numpy as np
import pytest

from beetsplug.musicnn.engine import sampling
from beetsplug.musicnn.engine.models import (
    DEFAULT_PATCH_BUDGET,
    HOP_LENGTH,
    PATCH_FRAMES,
    SAMPLE_RATE,
)

#: Samples of one patch's worth of hops (3 s).
PATCH_STEP = PATCH_FRAMES * HOP_LENGTH


def samples_for(n_patches: int) -> int:
    """A signal length the faithful analysis cuts into exactly ``n_patches``."""
    return (n_patches * PATCH_FRAMES - 1) * HOP_LENGTH


@pytest.mark.parametrize("n_patches", [1, 2, 7, 80])
def test_patch_count_matches_the_faithful_cut(n_patches):
    assert sampling.patch_count(samples_for(n_patches)) == n_patches
    assert sampling.patch_count(samples_for(n_patches) - 1) == max(1, n_patches - 1)


def test_a_signal_shorter_than_a_patch_still_gives_one_patch():
    assert sampling.patch_count(0) == 1
    assert sampling.patch_count(SAMPLE_RATE) == 1


def test_patch_count_with_overlapping_patches():
    frames = sampling.frame_count(samples_for(10))
    assert sampling.patch_count(samples_for(10), hop=94) == (frames - 187) // 94 + 1


@pytest.mark.parametrize("budget", [1, 3, 16, 79])
def test_the_budget_picks_that_many_distinct_sorted_patches(budget):
    chosen = sampling.choose_patches(80, budget)
    assert len(chosen) == budget
    assert (np.diff(chosen) > 0).all()
    assert chosen.min() >= 0 and chosen.max() < 80


@pytest.mark.parametrize("budget", [80, 81, 1000])
def test_a_budget_as_large_as_the_track_takes_every_patch(budget):
    assert sampling.choose_patches(80, budget).tolist() == list(range(80))


def test_patches_spread_evenly_over_the_track():
    chosen = sampling.choose_patches(100, 4, edge_patches=0)
    assert chosen.tolist() == [12, 37, 62, 87]


def test_the_edges_are_left_out_when_the_budget_allows():
    chosen = sampling.choose_patches(100, 10, edge_patches=5)
    assert chosen.min() >= 5 and chosen.max() < 95
    # With one patch to spare, only the spare patch can be left out.
    tight = sampling.choose_patches(11, 10, edge_patches=5)
    assert len(tight) == 10 and len(set(tight.tolist())) == 10


def test_a_one_patch_track_gives_its_one_patch():
    assert sampling.choose_patches(1, 16).tolist() == [0]


@pytest.mark.parametrize(("n_patches", "budget"), [(0, 4), (10, 0)])
def test_empty_tracks_and_budgets_are_refused(n_patches, budget):
    with pytest.raises(ValueError):
        sampling.choose_patches(n_patches, budget)


@pytest.mark.parametrize(
    ("rate", "step"), [(44100, 1280), (22050, 1280), (48000, 256), (16000, 256)]
)
def test_reads_start_on_whole_native_frames_and_on_the_hop_grid(rate, step):
    assert sampling.read_alignment(rate) == step
    assert step % HOP_LENGTH == 0
    assert (step * rate) % SAMPLE_RATE == 0


def test_a_patch_needs_half_a_window_beyond_its_first_and_last_frames():
    assert sampling.patch_samples(0) == (-256, 186 * HOP_LENGTH + 256)
    assert sampling.patch_samples(2) == (2 * PATCH_STEP - 256, 3 * PATCH_STEP)


def test_each_read_covers_its_patches_with_a_margin_on_the_alignment_grid():
    n_samples = samples_for(80)
    reads = sampling.plan_reads(np.array([10, 40, 70]), n_samples, 44100)
    assert [read.patches for read in reads] == [(10,), (40,), (70,)]
    for read in reads:
        first, last = sampling.patch_samples(read.patches[0])
        assert read.start <= first - sampling.MARGIN_SAMPLES
        assert read.stop >= last + sampling.MARGIN_SAMPLES
        assert read.start % 1280 == 0 and read.stop % 1280 == 0


def test_adjacent_patches_are_decoded_in_one_read():
    reads = sampling.plan_reads(np.array([3, 4, 5, 30]), samples_for(40), 44100)
    assert [read.patches for read in reads] == [(3, 4, 5), (30,)]
    first, _ = sampling.patch_samples(3)
    _, last = sampling.patch_samples(5)
    assert reads[0].start < first and reads[0].stop > last


def test_reads_closer_than_the_merge_gap_are_merged():
    patches = np.array([3, 5])  # one 3-second patch apart
    apart = sampling.plan_reads(patches, samples_for(10), 16000, merge_gap=0)
    merged = sampling.plan_reads(patches, samples_for(10), 16000, merge_gap=PATCH_STEP)
    assert len(apart) == 2
    assert len(merged) == 1 and merged[0].patches == (3, 5)


def test_reads_stop_at_the_edges_of_the_track():
    n_samples = samples_for(5)
    reads = sampling.plan_reads(np.arange(5), n_samples, 44100)
    assert len(reads) == 1
    assert reads[0].start == 0 and reads[0].stop == n_samples


def test_a_read_locates_its_patches_among_its_own_frames():
    (read,) = sampling.plan_reads(np.array([20]), samples_for(40), 44100)
    frames = read.patch_frames(20)
    # Frame j of the read is the track's frame j + start / 256.
    assert frames.start + read.start // HOP_LENGTH == 20 * PATCH_FRAMES
    assert frames.stop - frames.start == PATCH_FRAMES
    # The margin keeps the read's zero-padded edge frames out of the patch.
    assert frames.start * HOP_LENGTH >= sampling.MARGIN_SAMPLES


@pytest.mark.parametrize(
    ("n_patches", "share", "expected"),
    [(100, 0.34, 34), (58, 0.34, 20), (1, 0.34, 1), (3, 0.01, 1), (48, 1.0, 48)],
)
def test_a_share_takes_the_ceiling_of_its_part_spread_evenly(
    n_patches, share, expected
):
    chosen = sampling.share_patches(n_patches, share)
    assert len(chosen) == expected
    np.testing.assert_array_equal(chosen, sampling.choose_patches(n_patches, expected))


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="share"):
        sampling.share_patches(10, share)


def test_fast_mode_gives_a_shared_model_windows_of_its_own_patches():
    """The default: MSD hears 48 windows, MTT (a share of 0.34) half as many,
    all among the patches it hears in the full analysis."""
    own = sampling.share_patches(80, 0.34)  # a 4-minute track
    windows = sampling.model_patches(80, 0.34, DEFAULT_PATCH_BUDGET)
    assert len(windows) == DEFAULT_PATCH_BUDGET // 2 < len(own)
    assert set(windows.tolist()) <= set(own.tolist())
    np.testing.assert_array_equal(
        sampling.model_patches(80, 1.0, DEFAULT_PATCH_BUDGET),
        sampling.choose_patches(80, DEFAULT_PATCH_BUDGET),
    )
    # A shorter track: MTT hears all of its own patches, as in full.
    np.testing.assert_array_equal(
        sampling.model_patches(50, 0.34, DEFAULT_PATCH_BUDGET),
        sampling.share_patches(50, 0.34),
    )
