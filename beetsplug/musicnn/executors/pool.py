"""Worker pool stage, the scheduling side: analyse many files in parallel,
one process per core.

The pool knows nothing of beets and nothing of how a file is analysed: it
moves :class:`jobs.Job` objects to worker processes (whose side is
``worker``) and brings back one :class:`jobs.Outcome` per job, in
completion order, so the caller can store results in batches as they come::

    with AnalysisPool(AnalysisSettings(models=("msd", "mtt")), workers=2) as pool:
        for outcome in pool.imap_unordered(jobs):
            ...

Why it is built by hand rather than on ``concurrent.futures``:

- each worker has its own duplex pipe, and the main process keeps the list
  of jobs it sent down each pipe. When a worker dies (segfault in a decoder,
  OOM kill) the main process knows exactly which file it was working on,
  fails only that job and resubmits the one queued behind it.
  ``ProcessPoolExecutor`` cannot say which job killed it and breaks the
  whole pool instead;
- jobs are pulled from the caller's iterable only as workers have room (at
  most :data:`JOBS_PER_WORKER` in flight each), so a 500,000-item library is
  never materialised;
- workers are started with ``spawn`` because TensorFlow (and Essentia's
  sessions) are not fork-safe, and they load their models once, before the
  first job, so that a model that cannot load stops the run at once.

This module imports nothing heavy itself. A worker's thread-count variables
are put in its environment when it is spawned, so they are in place before
the child imports anything (importing this package may already load NumPy).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from .jobs import (
    JOB_TIMEOUT,
    AnalysisSettings,
    Job,
    Outcome,
    check_settings,
    timed_out_error,
)
from .worker import SINGLE_THREAD_ENV, analyse_job, warm_up, worker_main

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess

#: Jobs sent to a worker ahead of its results: one being analysed and one
#: waiting in its pipe, so a worker never idles between files, yet a dead
#: worker strands at most one queued job and the caller's iterable is read
#: only a little ahead of the results.
JOBS_PER_WORKER = 2

#: Memory one worker may need at peak: the runtime, both models, the decoded
#: signal and ONNX Runtime's activation arena. Measured with one patch per
#: inference run (backends.BATCH_PATCHES): 0.37 GB for a 5-minute track with
#: both models, under 0.6 GB for a 60-minute one (docs/performance.md).
#: Used only to size the default number of workers.
WORKER_MEMORY = 1024**3

#: Workers that die before they are ready, in a row, before the pool gives up:
#: such a worker cannot import or load something, and respawning it would
#: loop forever.
MAX_START_FAILURES = 3

#: Jobs in a row that kill their worker, with no outcome in between, before
#: the pool gives up: past that the crash is not in the files (a runtime that
#: dies on every input, memory too small for any track), and respawning for
#: each of half a million files would take days to say so.
MAX_DEATHS_IN_A_ROW = 10

#: Seconds a stopping worker gets to exit on its own before SIGTERM/SIGKILL.
STOP_TIMEOUT = 2.0


def default_workers(memory_per_worker: int = WORKER_MEMORY) -> int:
    """A good number of workers for this machine, at least 1.

    One per physical core (each worker runs one inference thread, and
    hyper-threads add little to convolution-bound work), no more than the
    cores this process may run on, and no more than available memory allows.
    """
    import psutil

    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        # Containers and taskset restrict the usable CPUs below the count.
        cores = min(cores, len(os.sched_getaffinity(0)))
    return workers_for(cores, psutil.virtual_memory().available, memory_per_worker)


def workers_for(cores: int, available_memory: int, memory_per_worker: int) -> int:
    """``min(cores, available_memory // memory_per_worker)``, at least 1."""
    return max(1, min(cores, available_memory // max(memory_per_worker, 1)))


@dataclass
class _Worker:
    """A worker process, its end of the pipe, and the jobs it holds."""

    process: SpawnProcess
    conn: Connection
    #: Jobs sent and not answered, oldest first; the first is being analysed.
    jobs: deque[Job] = field(default_factory=deque)
    ready: bool = False
    #: When the first of ``jobs`` started (``time.monotonic``), if any.
    started: float | None = None
    #: Stopped by the pool because its job took longer than the job timeout.
    timed_out: bool = False

    def next_job_started(self) -> None:
        """The first of ``jobs``, if any, starts now."""
        self.started = time.monotonic() if self.jobs and self.ready else None

    @property
    def pid(self) -> int | None:
        return self.process.pid


class AnalysisPool:
    """Analyse jobs in ``workers`` processes, or in this process if 0.

    Use as a context manager, or call :meth:`close`: leaving the ``with``
    block, an exception or Ctrl-C always stops and joins every worker.
    """

    def __init__(
        self,
        settings: AnalysisSettings,
        workers: int,
        job_timeout: float = JOB_TIMEOUT,
        *,
        nice: bool = False,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, not {workers}")
        check_settings(settings)
        self.settings = settings
        self.workers = workers
        #: Seconds a file may take in a worker (not in this process, -j 0).
        self.job_timeout = job_timeout
        #: Workers run at low CPU and I/O priority (``priority``); the
        #: plugin's ``nice`` option, on by default there. This process (and
        #: so ``workers=0``) never changes its own.
        self.nice = nice
        #: What workers could not do about their priority, for ``beet -v``.
        self.priority_notes: set[str] = set()
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._start_failures = 0
        self._deaths_in_a_row = 0
        self._closed = False
        self._iterating = False

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the current workers (for monitoring and tests)."""
        return tuple(w.pid for w in self._workers if w.pid is not None)

    def close(self) -> None:
        """Stop and join every worker; idempotent."""
        self._closed = True
        self._stop_workers()

    def imap_unordered(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Yield one Outcome per job, as each completes.

        ``jobs`` is read lazily, a few jobs ahead of the results. Leaving the
        iteration early stops the workers (their jobs are dropped); a later
        call starts new ones.

        Raises
        ------
        backends.BackendError
            If the models cannot be loaded, or workers cannot even start;
            the pool is closed.
        """
        if self._closed:
            raise RuntimeError("the analysis pool is closed")
        if self._iterating:
            raise RuntimeError("the analysis pool is already iterating")
        if self.workers == 0:
            return self._imap_in_process(jobs)
        return self._imap_workers(jobs)

    def _imap_in_process(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """The same semantics with no subprocess: for tests, debugging, -j 0."""
        from ..engine.backends import BackendError

        self._iterating = True
        try:
            warm_up(self.settings)
            for job in jobs:
                yield analyse_job(job, self.settings)
        except BackendError:
            self._closed = True
            raise
        finally:
            self._iterating = False

    def _imap_workers(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        self._iterating = True
        try:
            yield from self._schedule(iter(jobs))
        except BaseException:
            # Ctrl-C, a BackendError, an error from the jobs iterable, or the
            # caller leaving the loop (GeneratorExit): no worker survives it.
            self._stop_workers()
            raise
        finally:
            self._iterating = False

    def _schedule(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        """Keep every worker fed, and yield outcomes as they arrive."""
        # Jobs to send before new ones from `jobs`: the first one, read ahead
        # so that a run with nothing to do starts no worker, then those taken
        # back from dead workers.
        first = next(jobs, None)
        if first is None:
            return
        pending: deque[Job] = deque([first])
        exhausted = False
        while True:
            if self._closed:  # close() called while the caller iterates
                raise RuntimeError("the analysis pool is closed")
            if not exhausted or pending:
                self._start_missing_workers()
            exhausted = self._feed(jobs, pending, exhausted)
            if exhausted and not pending and not self._in_flight():
                return
            yield from self._collect(pending)

    def _in_flight(self) -> int:
        return sum(len(w.jobs) for w in self._workers)

    def _feed(self, jobs: Iterator[Job], pending: deque[Job], exhausted: bool) -> bool:
        """Send jobs until every worker holds JOBS_PER_WORKER; True once
        ``jobs`` is exhausted. Round robin, so work spreads across workers."""
        for depth in range(1, JOBS_PER_WORKER + 1):
            for worker in self._workers:
                if len(worker.jobs) >= depth:
                    continue
                if pending:
                    job = pending.popleft()
                elif exhausted:
                    return True
                else:
                    job = next(jobs, None)
                    if job is None:
                        return True
                self._send(worker, job, pending)
        return exhausted

    def _send(self, worker: _Worker, job: Job, pending: deque[Job]) -> None:
        try:
            worker.conn.send(job)
        except (BrokenPipeError, ConnectionResetError):
            # Died since we last looked: keep the job for another worker;
            # _collect sees the sentinel and requeues what the dead one held.
            pending.append(job)
            return
        worker.jobs.append(job)
        if len(worker.jobs) == 1:
            worker.next_job_started()

    def _collect(self, pending: deque[Job]) -> Iterator[Outcome]:
        """Wait for messages or deaths; yield the outcomes they produce."""
        by_conn = {w.conn: w for w in self._workers}
        by_sentinel = {w.process.sentinel: w for w in self._workers}
        ready = wait([*by_conn, *by_sentinel], timeout=self._time_left())
        if not ready:
            self._stop_overdue_workers()  # their sentinels come up next time
            return
        outcomes: list[Outcome] = []
        # Messages first: a worker may have answered just before dying.
        for conn in ready:
            if conn in by_conn:
                outcomes.extend(self._receive(by_conn[conn]))
        for sentinel in ready:
            if sentinel in by_sentinel:
                outcomes.extend(self._bury(by_sentinel[sentinel], pending))
        for outcome in outcomes:
            if self._closed:  # close() called while the caller iterates
                raise RuntimeError("the analysis pool is closed")
            yield outcome

    def _time_left(self) -> float | None:
        """Seconds until the oldest running job reaches the job timeout."""
        starts = [w.started for w in self._workers if w.started is not None]
        if not starts:
            return None
        return max(0.0, min(starts) + self.job_timeout - time.monotonic())

    def _stop_overdue_workers(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            if worker.started is not None and now - worker.started >= self.job_timeout:
                worker.timed_out = True
                worker.started = None
                worker.process.kill()

    def _receive(self, worker: _Worker) -> list[Outcome]:
        """Read every message waiting on a worker's pipe."""
        outcomes = []
        try:
            while worker.conn.poll():
                outcomes.extend(self._handle(worker, worker.conn.recv()))
        except (EOFError, OSError):
            pass  # it died; its sentinel will say so
        return outcomes

    def _handle(self, worker: _Worker, message: tuple) -> list[Outcome]:
        from ..engine.backends import BackendError

        kind = message[0]
        if kind == "ready":
            worker.ready = True
            worker.next_job_started()
            self._start_failures = 0
            self.priority_notes.update(message[1])
            return []
        if kind == "fatal":
            self._closed = True
            raise BackendError(message[1])
        outcome: Outcome = message[1]
        self._deaths_in_a_row = 0
        expected = worker.jobs.popleft()
        # Workers answer in order; anything else is a bug worth a loud failure.
        assert outcome.job == expected, (outcome.job, expected)
        worker.next_job_started()
        return [outcome]

    def _bury(self, worker: _Worker, pending: deque[Job]) -> list[Outcome]:
        """Handle a dead worker: fail the job it was analysing, requeue the
        rest, and drop it (a replacement starts when there is work)."""
        outcomes = self._receive(worker)  # anything it sent before dying
        worker.process.join()
        cause = describe_exit(worker.process.exitcode)
        worker.process.close()
        worker.conn.close()
        self._workers.remove(worker)
        if not worker.ready:
            # It never loaded the models, so no job is to blame.
            pending.extendleft(reversed(worker.jobs))
            self._start_failures += 1
            self._give_up_at(
                self._start_failures, MAX_START_FAILURES, "fail to start", cause
            )
            return outcomes
        if worker.jobs:
            dead = worker.jobs.popleft()
            pending.extendleft(reversed(worker.jobs))
            self._deaths_in_a_row += 1
            self._give_up_at(
                self._deaths_in_a_row, MAX_DEATHS_IN_A_ROW, "keep dying", cause
            )
            if worker.timed_out:
                error = timed_out_error(self.job_timeout)
            else:
                error = f"analysis worker died ({cause}) while reading this file"
            outcomes.append(Outcome(dead, None, error))
        return outcomes

    def _give_up_at(self, in_a_row: int, limit: int, what: str, cause: str) -> None:
        """Close the pool with a BackendError once ``in_a_row`` failures of the
        same kind reach ``limit``: past that the fault is not in the files."""
        from ..engine.backends import BackendError

        if in_a_row >= limit:
            self._closed = True
            raise BackendError(
                f"analysis workers {what} ({cause}, {in_a_row} times in a row)"
            )

    def _start_missing_workers(self) -> None:
        while len(self._workers) < self.workers:
            self._workers.append(self._start_worker())

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(theirs, self.settings, os.getpid(), self.nice),
            name="musicnn-worker",
            # Daemonic: multiprocessing terminates it at interpreter exit
            # even if the pool was never closed.
            daemon=True,
        )
        with _child_environment(SINGLE_THREAD_ENV), _sigint_blocked():
            process.start()
        # Only the worker may hold its end: then our recv sees EOF when it dies.
        theirs.close()
        return _Worker(process, ours)

    def _stop_workers(self) -> None:
        """Stop every worker within about STOP_TIMEOUT seconds, and join it."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.jobs or not worker.ready:
                # Busy in native code (or loading): asking would take too long.
                worker.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            worker.conn.close()  # EOF also tells it to go
        for worker in workers:
            worker.process.join(STOP_TIMEOUT)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.process.close()


def describe_exit(exitcode: int | None) -> str:
    """``-9`` -> ``"killed by signal SIGKILL"``, ``3`` -> ``"exit code 3"``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"killed by signal {name}"
    return f"exit code {exitcode}"


@contextlib.contextmanager
def _child_environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables while a child is spawned, then restore them.

    The spawned interpreter inherits the environment at exec time, before it
    imports anything, which is the only moment these variables take effect.
    """
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while a child is spawned.

    The signal mask survives fork and exec, so the worker is immune to Ctrl-C
    from its first instruction (not only once its code runs); here a Ctrl-C
    is only delayed until the mask is restored, never lost.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
