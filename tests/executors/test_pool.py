"""The worker pool: same results as in-process analysis, and robust runs.

Everything here runs the real models on real audio files: short clips
generated at test time (always available) and, where present, real music.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile

from beetsplug.musicnn.engine import analysis
from beetsplug.musicnn.engine.backends import BackendError
from beetsplug.musicnn.executors import pool as pool_module
from beetsplug.musicnn.executors.jobs import (
    AnalysisSettings,
    Job,
    Outcome,
    internal_error,
)
from beetsplug.musicnn.executors.pool import (
    JOBS_PER_WORKER,
    AnalysisPool,
    default_workers,
    describe_exit,
    workers_for,
)
from tests.conftest import BUNDLED_MUSIC, REPO_ROOT, SHARED_AUDIO

SETTINGS = AnalysisSettings(models=("msd",))
WORKERS = 2
#: Where real music may be: the clips shipped with the tests, else the
#: developers' shared folder.
REAL_MUSIC_DIRS = [REPO_ROOT / "tests" / "data" / "music", BUNDLED_MUSIC, SHARED_AUDIO]


def write_clip(path: Path, seconds: float, rate: int, seed: int) -> Path:
    """A stereo mix of two tones and noise; every seed sounds different."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f1, f2 = rng.uniform(80, 2000, size=2)
    mono = 0.3 * np.sin(2 * np.pi * f1 * t) + 0.2 * np.sin(2 * np.pi * f2 * t)
    mono *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t) ** 2  # pulses
    stereo = np.stack([mono, mono], axis=1) + 0.05 * rng.standard_normal((len(t), 2))
    soundfile.write(path, stereo.astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Five short generated clips (2-5 s) in several formats and rates."""
    folder = tmp_path_factory.mktemp("clips")
    specs = [("a.wav", 3, 44100), ("b.flac", 2, 22050), ("c.ogg", 4, 48000)]
    specs += [("d.flac", 5, 16000), ("e.wav", 2.5, 32000)]
    return [
        write_clip(folder / name, seconds, rate, seed)
        for seed, (name, seconds, rate) in enumerate(specs)
    ]


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory) -> list[Path]:
    """Five 20 s clips: each takes a worker long enough to be killed mid-file."""
    folder = tmp_path_factory.mktemp("long")
    return [write_clip(folder / f"long{i}.flac", 20, 44100, 100 + i) for i in range(5)]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    empty = folder / "empty.mp3"
    empty.touch()
    text = folder / "text.mp3"
    text.write_text("this is not audio\n" * 100)
    return {"empty": empty, "text": text, "missing": folder / "missing.flac"}


@pytest.fixture(scope="module")
def pool():
    """One pool for the tests that read it to the end (workers start once)."""
    with AnalysisPool(SETTINGS, WORKERS) as shared:
        yield shared


def jobs_for(paths) -> list[Job]:
    return [Job(item_id, str(path)) for item_id, path in enumerate(paths)]


def by_id(outcomes) -> dict[int, Outcome]:
    outcomes = list(outcomes)
    ids = [o.job.item_id for o in outcomes]
    assert len(ids) == len(set(ids)), "a job yielded more than one outcome"
    return {o.job.item_id: o for o in outcomes}


def assert_same_analysis(ours: analysis.Analysis, expected: analysis.Analysis):
    assert ours.path == expected.path
    assert ours.duration == expected.duration
    assert ours.keys() == expected.keys()
    for key in expected:
        assert ours[key].n_patches == expected[key].n_patches
        np.testing.assert_allclose(ours[key].scores, expected[key].scores, atol=1e-6)
        np.testing.assert_allclose(
            ours[key].embedding, expected[key].embedding, atol=1e-5, rtol=1e-6
        )


def real_music(limit: int) -> list[Path]:
    for folder in REAL_MUSIC_DIRS:
        found = sorted(folder.glob("*.ogg")) if folder.is_dir() else []
        if found:
            return found[:limit]
    pytest.skip("no real music clips here")


def descendants_alive(pids) -> list[int]:
    """The pids still running (zombies count as gone: they hold nothing)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


# --- Results ---


def test_pool_outcomes_equal_in_process_analysis(pool, clips):
    jobs = jobs_for(clips)
    outcomes = by_id(pool.imap_unordered(jobs))
    assert outcomes.keys() == {job.item_id for job in jobs}
    for job in jobs:
        outcome = outcomes[job.item_id]
        assert outcome.job == job
        assert outcome.error is None
        assert_same_analysis(outcome.analysis, analysis.analyze(job.path, ("msd",)))


def test_pool_outcomes_equal_in_process_analysis_on_real_music(pool):
    jobs = jobs_for(real_music(limit=2))
    outcomes = by_id(pool.imap_unordered(jobs))
    for job in jobs:
        expected = analysis.analyze(job.path, ("msd",))
        assert_same_analysis(outcomes[job.item_id].analysis, expected)


def test_in_process_pool_gives_the_same_outcomes(clips, bad_files):
    jobs = jobs_for([*clips[:2], bad_files["empty"]])
    with AnalysisPool(SETTINGS, workers=0) as in_process:
        outcomes = by_id(in_process.imap_unordered(jobs))
        assert in_process.worker_pids == ()
    for job in jobs[:2]:
        expected = analysis.analyze(job.path, ("msd",))
        assert_same_analysis(outcomes[job.item_id].analysis, expected)
    assert outcomes[2].analysis is None
    assert outcomes[2].error == "file is empty"


def test_several_models_and_overlap_reach_the_workers(clips):
    settings = AnalysisSettings(models=("msd", "mtt"), overlap=0.5)
    with AnalysisPool(settings, workers=1) as one_worker:
        (outcome,) = one_worker.imap_unordered(jobs_for(clips[3:4]))
    expected = analysis.analyze(clips[3], ("msd", "mtt"), overlap=0.5)
    assert_same_analysis(outcome.analysis, expected)


def test_fast_mode_reaches_the_workers(long_clips):
    settings = AnalysisSettings(models=("msd",), patch_budget=2)
    with AnalysisPool(settings, workers=1) as fast:
        (outcome,) = fast.imap_unordered(jobs_for(long_clips[:1]))
    expected = analysis.analyze(long_clips[0], ("msd",), patch_budget=2)
    assert outcome.analysis["msd"].n_patches == 2
    assert_same_analysis(outcome.analysis, expected)


# --- Files that fail ---


def test_bad_files_give_error_outcomes_and_the_run_completes(pool, clips, bad_files):
    paths = [clips[0], bad_files["empty"], bad_files["text"], bad_files["missing"]]
    outcomes = by_id(pool.imap_unordered(jobs_for([*paths, clips[1]])))
    assert len(outcomes) == 5
    assert outcomes[0].error is None and outcomes[4].error is None
    assert outcomes[1].error == "file is empty"
    assert outcomes[3].error == "no such file"
    assert outcomes[2].analysis is None
    assert outcomes[2].error  # the decoder's reason; one line, no path needed
    for outcome in outcomes.values():
        if outcome.error:
            assert "\n" not in outcome.error and "Traceback" not in outcome.error


def test_an_unexpected_exception_is_an_internal_error_outcome(pool, clips):
    # A path that is not a path makes the analysis itself raise TypeError.
    jobs = [Job(1, None), Job(2, str(clips[0]))]
    outcomes = by_id(pool.imap_unordered(jobs))
    assert outcomes[1].analysis is None
    assert outcomes[1].error.startswith("internal error: TypeError: ")
    assert outcomes[2].error is None


def test_internal_error_is_one_line():
    error = ValueError("first line\n  second line")
    assert internal_error(error) == "internal error: ValueError: first line second line"


# --- Flow control ---


def test_jobs_are_consumed_lazily(pool, clips):
    pulled = 0

    def jobs():
        nonlocal pulled
        for item_id in range(12):
            pulled += 1
            yield Job(item_id, str(clips[item_id % 2]))

    received = 0
    for _ in pool.imap_unordered(jobs()):
        received += 1
        # Ahead of the results by at most what the workers hold.
        assert pulled - received < JOBS_PER_WORKER * WORKERS
    assert received == pulled == 12


def test_leaving_the_loop_early_stops_the_workers(clips):
    with AnalysisPool(SETTINGS, WORKERS) as early:
        outcomes = early.imap_unordered(jobs_for(clips * 3))
        next(outcomes)
        pids = early.worker_pids
        assert len(pids) == WORKERS
        outcomes.close()
        assert early.worker_pids == ()
        assert descendants_alive(pids) == []
        # The pool is still usable: new workers start for the next run.
        assert len(list(early.imap_unordered(jobs_for(clips[:1])))) == 1


def test_close_is_idempotent_and_leaves_no_children(clips):
    pool = AnalysisPool(SETTINGS, WORKERS)
    outcomes = pool.imap_unordered(jobs_for(clips))
    next(outcomes)
    pids = pool.worker_pids
    pool.close()
    pool.close()
    assert descendants_alive(pids) == []
    with pytest.raises(RuntimeError, match="closed"):
        next(outcomes)
    with pytest.raises(RuntimeError, match="closed"):
        pool.imap_unordered([])


# --- Dying workers ---


def test_a_killed_worker_costs_only_the_job_it_held(long_clips):
    jobs = jobs_for(long_clips)
    outcomes = []
    with AnalysisPool(SETTINGS, WORKERS) as pool:
        for outcome in pool.imap_unordered(jobs):
            if not outcomes:
                # Both workers are now in the middle of a 20 s file.
                victim = pool.worker_pids[0]
                os.kill(victim, signal.SIGKILL)
            outcomes.append(outcome)
        assert victim not in pool.worker_pids  # a fresh worker replaced it
    outcomes = by_id(outcomes)
    assert outcomes.keys() == {job.item_id for job in jobs}
    failed = [o for o in outcomes.values() if o.error]
    assert len(failed) == 1
    assert failed[0].error == (
        "analysis worker died (killed by signal SIGKILL) while reading this file"
    )
    succeeded = [o for o in outcomes.values() if o.analysis is not None]
    assert len(succeeded) == len(jobs) - 1


def test_a_file_over_the_job_timeout_is_stopped_and_the_run_goes_on(
    tmp_path, clips
):
    # Ten minutes take a worker several seconds; the short clips a fraction
    # of the 2 s limit. The limit itself exists for decoders that hang.
    slow = write_clip(tmp_path / "ten_minutes.flac", 600, 16000, 7)
    jobs = [Job(100, str(slow)), *jobs_for(clips[:3])]
    with AnalysisPool(SETTINGS, workers=1, job_timeout=2.0) as pool:
        outcomes = by_id(pool.imap_unordered(jobs))
        assert len(pool.worker_pids) == 1  # a fresh worker took over
    assert outcomes[100].analysis is None
    assert outcomes[100].error == (
        "no result after 2 s, so the analysis was stopped (does reading this "
        "file hang?)"
    )
    assert all(outcomes[job.item_id].ok for job in jobs[1:])


def test_workers_that_keep_dying_stop_the_run(monkeypatch, long_clips):
    monkeypatch.setattr(pool_module, "MAX_DEATHS_IN_A_ROW", 1)
    with AnalysisPool(SETTINGS, workers=1) as pool:
        outcomes = pool.imap_unordered(jobs_for(long_clips))
        next(outcomes)  # the worker now analyses the second file
        os.kill(pool.worker_pids[0], signal.SIGKILL)
        with pytest.raises(
            BackendError, match=r"keep dying \(killed by signal SIGKILL"
        ):
            list(outcomes)
        assert pool.worker_pids == ()


def test_describe_exit():
    assert describe_exit(-signal.SIGSEGV) == "killed by signal SIGSEGV"
    assert describe_exit(3) == "exit code 3"


# --- Ctrl-C and fatal errors ---

INTERRUPTED_RUN = """
import json, sys
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job
from beetsplug.musicnn.executors.pool import AnalysisPool

def jobs():
    while True:  # an endless library: only Ctrl-C ends this run
        yield Job(0, sys.argv[1])

if __name__ == "__main__":
    with AnalysisPool(AnalysisSettings(), 2) as pool:
        for outcome in pool.imap_unordered(jobs()):
            assert outcome.error is None, outcome.error
            print(json.dumps(pool.worker_pids), flush=True)
"""


def start_interrupted_run(tmp_path, clip, **popen_options) -> subprocess.Popen:
    """Start INTERRUPTED_RUN on ``clip`` in a child Python process."""
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTED_RUN)
    return subprocess.Popen(
        [sys.executable, str(script), str(clip)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        **popen_options,
    )


def test_ctrl_c_stops_the_run_and_leaves_no_workers(tmp_path, long_clips):
    # A session of its own, so the SIGINT can go to the whole process group
    # as a terminal's Ctrl-C does, workers included.
    with start_interrupted_run(
        tmp_path, long_clips[0], stderr=subprocess.PIPE, start_new_session=True
    ) as run:
        try:
            first = run.stdout.readline()  # the workers are busy from now on
            assert first, run.stderr.read()
            children = psutil.Process(run.pid).children(recursive=True)
            children = [child.pid for child in children]
            start = time.monotonic()
            os.killpg(run.pid, signal.SIGINT)
            _, stderr = run.communicate(timeout=15)
            stopped_after = time.monotonic() - start
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    assert stopped_after < 5
    assert run.returncode == -signal.SIGINT  # died of the KeyboardInterrupt
    assert stderr.count("KeyboardInterrupt") == 1  # none from the workers
    assert set(json.loads(first)) <= set(children)
    deadline = time.monotonic() + 5  # the resource tracker exits on its own
    while descendants_alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants_alive(children) == []


def test_workers_exit_when_the_main_process_dies(tmp_path, long_clips):
    with start_interrupted_run(
        tmp_path, long_clips[0], stderr=subprocess.DEVNULL
    ) as run:
        try:
            workers = json.loads(run.stdout.readline())
            assert len(workers) == 2
        finally:
            run.kill()  # no chance to clean up: only the workers can notice
    deadline = time.monotonic() + 10  # each may finish its current file first
    while descendants_alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants_alive(workers) == []


def test_an_empty_run_starts_no_worker():
    with AnalysisPool(SETTINGS, WORKERS) as idle:
        assert list(idle.imap_unordered(iter([]))) == []
        assert idle.worker_pids == ()


def test_unknown_backend_or_model_fails_at_once():
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        AnalysisPool(AnalysisSettings(backend="nope"), WORKERS)
    with pytest.raises(ValueError, match="unknown MusicNN model 'xyz'"):
        AnalysisPool(AnalysisSettings(models=("msd", "xyz")), WORKERS)
    with pytest.raises(ValueError, match="tuple of model keys"):
        AnalysisPool(AnalysisSettings(models="msd"), WORKERS)
    with pytest.raises(ValueError, match="patch_budget"):
        AnalysisPool(AnalysisSettings(patch_budget=0), 0)
    with pytest.raises(ValueError, match="overlap"):
        AnalysisPool(AnalysisSettings(overlap=1.0), 0)


def test_a_runtime_that_cannot_load_stops_the_run(tmp_path, monkeypatch, clips):
    # Workers import from the parent's sys.path: give them an onnxruntime
    # that fails to import, as on a machine where it is missing or broken.
    broken = tmp_path / "broken" / "onnxruntime"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('broken for a test')\n")
    monkeypatch.syspath_prepend(broken.parent)
    pulled = []
    jobs = (pulled.append(job) or job for job in jobs_for(clips))
    with AnalysisPool(SETTINGS, WORKERS) as pool:
        with pytest.raises(BackendError, match="needs onnxruntime: broken for a test"):
            list(pool.imap_unordered(jobs))
        assert pool.worker_pids == ()
        with pytest.raises(RuntimeError, match="closed"):
            pool.imap_unordered([])
    assert len(pulled) <= JOBS_PER_WORKER * WORKERS


NO_MAIN_GUARD = """
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job
from beetsplug.musicnn.executors.pool import AnalysisPool

# No `if __name__ == "__main__":`: every spawned worker re-runs this module
# and dies at start-up, as a worker with a broken installation would.
with AnalysisPool(AnalysisSettings(), 1) as pool:
    list(pool.imap_unordered([Job(0, "x.flac")]))
"""


def test_workers_that_cannot_start_fail_the_run_instead_of_looping(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(NO_MAIN_GUARD)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert (
        "beetsplug.musicnn.engine.backends.BackendError: "
        "analysis workers fail to start (exit code 1, 3 times in a row)"
    ) in run.stderr.splitlines(), run.stderr


# --- Sizing ---


def test_workers_for_takes_the_scarcer_of_cores_and_memory():
    gib = 1024**3
    assert workers_for(8, available_memory=7 * gib, memory_per_worker=2 * gib) == 3
    assert workers_for(cores=2, available_memory=64 * gib, memory_per_worker=gib) == 2
    assert workers_for(cores=4, available_memory=0, memory_per_worker=gib) == 1


def test_default_workers_fits_this_machine():
    workers = default_workers()
    assert 1 <= workers <= (psutil.cpu_count() or 1)
    assert default_workers(memory_per_worker=10**15) == 1


def test_settings_and_outcomes_are_picklable(clips):
    import pickle

    result = analysis.analyze(clips[0], ("msd",))
    outcome = Outcome(Job(1, str(clips[0])), result)
    copy = pickle.loads(pickle.dumps(outcome))
    assert copy.job == outcome.job
    assert_same_analysis(copy.analysis, result)
    assert pickle.loads(pickle.dumps(SETTINGS)) == SETTINGS


def test_workers_are_single_threaded_and_ignore_sigint(pool, clips):
    parent_env = dict(os.environ)
    assert len(list(pool.imap_unordered(jobs_for(clips[:2])))) == 2
    pids = pool.worker_pids
    assert len(pids) == WORKERS
    for pid in pids:
        env = psutil.Process(pid).environ()
        assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
        os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends them
    assert dict(os.environ) == parent_env  # set for the children only
    outcomes = list(pool.imap_unordered(jobs_for(clips[:2])))
    assert [o.error for o in outcomes] == [None, None]
    assert pool.worker_pids == pids  # nobody died of it
