"""The ``dask`` executor against a real Dask cluster on loopback.

A scheduler and two workers are started as separate processes with Dask's
own command-line tools (``dask scheduler``, ``dask worker``), importing this
checkout's code through ``PYTHONPATH``, once for the module. Runs go through
the real ``beet musicnn`` command on temporary libraries (test_plugin's
helper), real audio and real models; nothing is mocked.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import test_plugin
from beets import ui
from test_plugin import MusicnnHelper
from test_pool import write_clip

from beetsplug.musicnn.engine.analysis import analyze
from beetsplug.musicnn.executors import dask_pool
from beetsplug.musicnn.executors.dask_pool import ClusterError, DaskPool, PathMap
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job, timed_out_error
from beetsplug.musicnn.labels import fields

distributed = pytest.importorskip("distributed")

#: test_plugin's audio fixture: short excerpts of the bundled clips.
excerpts = test_plugin.excerpts

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Dask's command-line tool, from the environment running the tests.
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
#: Task keys of this plugin on the scheduler (dask_pool submits them so).
TASK_PREFIX = "musicnn-analyse-"


# A loopback cluster --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LoopbackCluster:
    """A `dask scheduler` and `dask worker`s on 127.0.0.1, as subprocesses."""

    folder: Path
    address: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)
    #: A client of the tests' own, to watch and steer the cluster.
    admin: distributed.Client | None = None

    def start(self, workers: int) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self._run("scheduler", "--host", "127.0.0.1", "--port", port)
        for number in range(workers):
            self._run(
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                # One task at a time per process, like a local pool worker
                # (docs/cluster.md says why).
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--name",
                f"worker-{number}",
                "--local-directory",
                str(self.folder / f"worker-{number}"),
            )
        self.admin = distributed.Client(self.address, timeout=30, set_as_default=False)
        if workers:
            self.admin.wait_for_workers(workers, timeout=120)

    def _run(self, command: str, *args: str) -> None:
        log = (self.folder / f"{command}-{len(self.processes)}.log").open("w")
        with log:
            self.processes.append(
                subprocess.Popen(
                    [DASK, command, *args, "--no-dashboard"],
                    env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                    # Its own group: teardown stops a worker's nanny and the
                    # worker process it spawned together.
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
        for process in reversed(self.processes):
            with_group(process, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with_group(process, signal.SIGKILL)
                process.wait()

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of the worker process (the nanny's child)."""
        return self.admin.run(os.getpid)

    def analysing(self) -> dict[str, list]:
        """Worker address -> the musicnn tasks it is running."""
        return {
            worker: running
            for worker, keys in self.admin.processing().items()
            if (running := [k for k in keys if str(k).startswith(TASK_PREFIX)])
        }

    def transitions(self) -> list[tuple[str, str]]:
        """(task key, new state) of every musicnn task transition so far."""

        def on_scheduler(dask_scheduler) -> list[tuple[str, str]]:
            return [
                (str(entry[0]), entry[2])
                for entry in dask_scheduler.transition_log
                if str(entry[0]).startswith(TASK_PREFIX)
            ]

        return self.admin.run_on_scheduler(on_scheduler)

    def our_tasks(self) -> list[str]:
        """Keys of the musicnn tasks the scheduler still knows."""

        def on_scheduler(dask_scheduler) -> list[str]:
            return [
                str(k) for k in dask_scheduler.tasks if str(k).startswith(TASK_PREFIX)
            ]

        return self.admin.run_on_scheduler(on_scheduler)


def with_group(process: subprocess.Popen, signal_number: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal_number)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LoopbackCluster]:
    cluster = LoopbackCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.start(workers=2)
        yield cluster
    finally:
        cluster.stop()


def wait_for(condition, timeout: float = 60.0, interval: float = 0.02):
    """The first truthy value of ``condition()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)
    return value


def new_transitions(cluster: LoopbackCluster, before: int) -> list[tuple[str, str]]:
    return cluster.transitions()[before:]


# What a run leaves in the library --------------------------------------------


def musicnn_state(helper: MusicnnHelper) -> dict[str, dict]:
    """Per file name: its musicnn fields (but the time of the analysis) and
    its stored results, everything a run writes."""
    state = {}
    with helper.store() as store:
        for item in helper.lib.items():
            name = os.path.basename(os.fsdecode(item.path))
            item_fields = {
                key: item[key]
                for key in item.keys(with_album=False)
                if key.startswith("musicnn_") and key != fields.ANALYZED_FIELD
            }
            stored = {
                model: (
                    result.version,
                    result.scores.tobytes(),  # bytes: equal means bit for bit
                    result.embedding.tobytes(),
                    result.n_patches,
                    result.duration,
                    result.mtime,
                )
                for model, result in store.get(item.id).items()
            }
            state[name] = {"fields": item_fields, "stored": stored}
    return state


# Runs of `beet musicnn` on the cluster -----------------------------------------


class TestDaskRuns(MusicnnHelper):
    def test_the_same_fields_and_scores_as_the_local_pool(self, cluster, excerpts):
        for clip in excerpts:
            self.add_file(clip)
        assert f"analysed {len(excerpts)} tracks" in self.musicnn(
            "-m", "msd,mtt", "-j", "2"
        )
        local = musicnn_state(self)

        output = self.musicnn(
            "-m", "msd,mtt", "--force", "--scheduler", cluster.address
        )

        assert f"analysed {len(excerpts)} tracks" in output
        assert "0 failed" in output
        assert musicnn_state(self) == local
        assert all(state["stored"] for state in local.values())

    def test_the_executor_from_the_configuration(self, cluster, excerpts):
        item = self.add_file(excerpts[0])
        self.config["musicnn"]["executor"] = "dask"
        self.config["musicnn"]["dask_scheduler"] = cluster.address
        before = len(cluster.transitions())
        assert "analysed 1 track" in self.musicnn()
        assert fields.VERSION_FIELD in self.item(item)
        # It ran on the cluster, not in a local pool.
        assert new_transitions(cluster, before)

    def test_path_map_sends_workers_the_paths_they_mount(
        self, cluster, excerpts, tmp_path
    ):
        # The workers' view of the library holds another recording under the
        # same name, so the numbers say which file was read.
        item = self.add_file(excerpts[0], "song.ogg")
        workers_view = tmp_path / "nas" / "music"
        workers_view.mkdir(parents=True)
        shutil.copy(excerpts[1], workers_view / "song.ogg")
        self.config["musicnn"]["path_map"] = [
            {"from": str(self.lib_path), "to": str(workers_view)}
        ]

        assert "analysed 1 track" in self.musicnn("--scheduler", cluster.address)

        expected = analyze(workers_view / "song.ogg", ("msd",), threads=1)
        with self.store() as store:
            stored = store.get(item.id)["msd"]
        np.testing.assert_array_equal(stored.scores, expected["msd"].scores)
        # The beets side keeps its own path: the mtime is of the local file.
        assert stored.mtime == os.stat(item.path).st_mtime
        assert self.item(item).path == item.path

    def test_bad_files_are_error_results_and_not_retried(self, cluster, excerpts):
        good = self.add_file(excerpts[0])
        clip_bytes = excerpts[0].read_bytes()
        bad = [
            self.add_broken("empty.mp3", b""),
            self.add_broken("truncated.ogg", clip_bytes[:100]),
            self.add_broken("notes.mp3", b"just some text\n" * 50),
            self.add_broken("missing.mp3", None),
        ]
        self.musicnn("-j", "0")
        local_errors = {i.id: self.item(i)[fields.ERROR_FIELD] for i in bad}
        for item in map(self.item, bad):  # so that the errors are the new run's
            del item[fields.ERROR_FIELD]
            item.store()
        before = len(cluster.transitions())

        output = self.musicnn("--force", "--scheduler", cluster.address)

        assert "analysed 1 track" in output
        assert f"{len(bad)} failed" in output
        assert {i.id: self.item(i)[fields.ERROR_FIELD] for i in bad} == local_errors
        assert fields.ERROR_FIELD not in self.item(good)
        # Every task (the bad files' too) ran once and ended as a result.
        transitions = new_transitions(cluster, before)
        runs = collections.Counter(
            k for k, state in transitions if state == "processing"
        )
        assert len(runs) == 1 + len(bad)
        assert set(runs.values()) == {1}
        assert "erred" not in {state for _, state in transitions}

    def test_an_unreachable_scheduler_is_one_error_and_changes_nothing(self, excerpts):
        items = [self.add_file(clip) for clip in excerpts[:2]]
        before = {i.id: dict(self.item(i)) for i in items}
        address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there

        with pytest.raises(ui.UserError) as error:
            self.musicnn("--scheduler", address)

        message = str(error.value)
        assert message.startswith(
            f"musicnn: cannot reach the Dask scheduler at {address}"
        )
        assert "refused" in message
        assert "\n" not in message
        assert {i.id: dict(self.item(i)) for i in items} == before
        with self.store() as store:
            assert list(store.item_ids()) == []

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"executor": "cluster"}, "bad `executor` setting"),
            ({"executor": "dask"}, "bad `dask_scheduler` setting: `executor: dask`"),
            (
                {"executor": "dask", "dask_scheduler": "localhost:8786"},
                "bad `dask_scheduler` setting: 'localhost:8786' is not an address",
            ),
            ({"path_map": "/music"}, "bad `path_map` setting"),
            ({"path_map": {"music": "/mnt/music"}}, "'music' is not an absolute path"),
            ({"path_map": [{"from": "/music"}]}, "is not a {from: ..., to: ...} pair"),
        ],
    )
    def test_bad_settings_are_user_errors(self, settings, message):
        self.config["musicnn"].set(settings)
        with pytest.raises(ui.UserError, match=message.replace("{", r"\{")):
            self.musicnn()

    def test_a_killed_worker_mid_run_still_tags_every_file_once(
        self, cluster, bundled_music
    ):
        # Whole clips (about a second each to analyse), two per worker and
        # more, so that the run is surely under way when a worker dies.
        clips = sorted(bundled_music.glob("*.ogg"))
        items = [
            self.add_file(clip, f"{copy}_{clip.name}")
            for copy in range(2)
            for clip in clips
        ]
        killed: list[str] = []

        def kill_a_busy_worker() -> None:
            busy = wait_for(cluster.analysing)
            victim = next(iter(busy))
            os.kill(cluster.worker_pids()[victim], signal.SIGKILL)
            killed.append(victim)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        before = len(cluster.transitions())
        killer.start()
        output = self.musicnn("--scheduler", cluster.address)
        killer.join(timeout=60)

        assert killed, "no worker was killed"
        assert f"analysed {len(items)} tracks" in output
        assert "0 failed" in output
        with self.store() as store:
            assert sorted(store.item_ids()) == sorted(i.id for i in items)
        assert all(fields.VERSION_FIELD in self.item(i) for i in items)
        # Dask ran what the dead worker held again; each result came back once.
        transitions = new_transitions(cluster, before)
        finished = collections.Counter(
            k for k, state in transitions if state == "memory"
        )
        assert len(finished) == len(items)
        started = collections.Counter(
            k for k, state in transitions if state == "processing"
        )
        assert max(started.values()) == 2
        # The nanny starts a new worker; the next tests get two again.
        cluster.admin.wait_for_workers(2, timeout=60)


# The pool on its own ---------------------------------------------------------


class TestDaskPool:
    def test_interrupting_the_iteration_cancels_outstanding_tasks(
        self, cluster, bundled_music
    ):
        clips = sorted(bundled_music.glob("*.ogg"))
        jobs = [Job(n, str(clips[n % len(clips)])) for n in range(12)]
        with DaskPool(AnalysisSettings(), cluster.address) as pool:
            outcomes = pool.imap_unordered(jobs)
            assert next(outcomes).ok
            assert cluster.our_tasks()  # the next ones are in flight
            with pytest.raises(KeyboardInterrupt):
                outcomes.throw(KeyboardInterrupt)  # Ctrl-C while waiting
            # Cancelled while this client is still connected: the scheduler
            # forgets them at once, not when the client goes.
            wait_for(lambda: not cluster.our_tasks(), timeout=10)

    def test_a_file_over_the_job_timeout_fails_and_its_worker_is_restarted(
        self, cluster, excerpts, tmp_path, caplog
    ):
        # Ten minutes of audio take a worker several seconds, the excerpts a
        # fraction of the 2 s limit. The limit exists for reads that hang,
        # which hold a worker thread for good: the run cannot wait for the
        # worker to finish, so it is restarted.
        slow = write_clip(tmp_path / "ten_minutes.flac", 600, 16000, 7)
        jobs = [Job(100, str(slow)), *(Job(n, str(c)) for n, c in enumerate(excerpts))]
        workers_before = cluster.worker_pids()
        before = len(cluster.transitions())

        with (
            caplog.at_level(logging.WARNING, logger="beets"),
            DaskPool(AnalysisSettings(), cluster.address, job_timeout=2.0) as pool,
        ):
            outcomes = {o.job.item_id: o for o in pool.imap_unordered(jobs)}

        assert outcomes.keys() == {job.item_id for job in jobs}
        assert outcomes[100].analysis is None
        # Word for word the local pool's message.
        assert outcomes[100].error == timed_out_error(2.0)
        assert outcomes[100].error == (
            "no result after 2 s, so the analysis was stopped (does reading this "
            "file hang?)"
        )
        assert all(outcomes[job.item_id].ok for job in jobs[1:])
        # The worker that held the file is a new process (its nanny restarted
        # it); the other one is untouched.
        cluster.admin.wait_for_workers(2, timeout=60)
        workers_after = cluster.worker_pids()
        assert len(set(workers_before.values()) - set(workers_after.values())) == 1
        (restarted,) = set(workers_before) - set(workers_after)
        assert (
            f"no result after 2 s for {slow}: restarted the Dask worker(s) running "
            f"it: {restarted}: OK" in caplog.text
        )
        # The slow task never finished; every other task finished once.
        transitions = new_transitions(cluster, before)
        finished = {k for k, state in transitions if state == "memory"}
        assert not [k for k in finished if k.startswith(f"{TASK_PREFIX}100-")]
        assert len(finished) == len(excerpts)

    def test_in_flight_tasks_are_bounded(self, cluster, bundled_music):
        clips = sorted(bundled_music.glob("*.ogg"))
        read: list[int] = []

        def jobs() -> Iterator[Job]:
            for n in range(10):
                read.append(n)
                yield Job(n, str(clips[n % len(clips)]))

        with DaskPool(AnalysisSettings(), cluster.address) as pool:
            outcomes = pool.imap_unordered(jobs())
            next(outcomes)
            # 2 workers x 1 thread x 2 tasks each, one more read ahead.
            assert len(read) <= 2 * 1 * 2 + 2
            assert len(list(outcomes)) == 9

    def test_a_scheduler_without_workers_is_one_error(self, tmp_path, monkeypatch):
        monkeypatch.setattr(dask_pool, "WORKER_WAIT", 1.0)
        lonely = LoopbackCluster(tmp_path)
        try:
            lonely.start(workers=0)
            expected = f"the Dask scheduler at {lonely.address} has no workers"
            with (
                DaskPool(AnalysisSettings(), lonely.address) as pool,
                pytest.raises(ClusterError, match=expected),
            ):
                list(pool.imap_unordered([Job(1, "/music/x.ogg")]))
        finally:
            lonely.stop()


class TestPathMap:
    def test_longest_prefix_wins_on_whole_components(self):
        path_map = PathMap.parse(
            {"/music": "/mnt/nas/music", "/music/classical/": "/mnt/classical"}
        )
        assert path_map.to_worker("/music/a/b.flac") == "/mnt/nas/music/a/b.flac"
        assert path_map.to_worker("/music/classical/x.ogg") == "/mnt/classical/x.ogg"
        assert path_map.to_worker("/musicals/x.ogg") == "/musicals/x.ogg"
        assert path_map.to_worker("/other/x.ogg") == "/other/x.ogg"

    def test_list_form_and_root(self):
        path_map = PathMap.parse([{"from": "/", "to": "/mnt/host"}])
        assert path_map.to_worker("/music/x.ogg") == "/mnt/host/music/x.ogg"
        assert not PathMap.parse({})

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ({"/music": ""}, "is not a path"),
            ({"/music": "/a", "/music/": "/b"}, "mapped twice"),
            ([["/music", "/mnt"]], "is not a {from: ..., to: ...} pair"),
            (42, "neither a mapping"),
        ],
    )
    def test_bad_maps(self, value, message):
        with pytest.raises(ValueError, match=message.replace("{", r"\{")):
            PathMap.parse(value)
