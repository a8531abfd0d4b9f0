# Over 450 lines on purpose: DaskPool's submission, timeouts, restarts and
# cancellation are one state machine, as in pool.py; a third is docstrings.
"""Dask executor stage: the pool's jobs analysed on a Dask cluster.

:class:`DaskPool` has the interface of :class:`pool.AnalysisPool` (a context
manager with ``imap_unordered(jobs)``), so a run only chooses which one it
opens; the analysis is the same function on both (``dask_worker.analyse``
wraps :func:`pool.analyse_job`). What differs is how work is shipped:

- each job's path is rewritten by a :class:`PathMap` for workers that mount
  the library elsewhere, and the outcome is given its original job back, so
  the beets process never sees a worker path;
- at most :data:`TASKS_PER_THREAD` tasks per worker thread are in flight;
  results are consumed as they complete (each future's done callback puts
  it in a queue) and the next jobs are submitted at once, so a 500,000-item
  library is never materialised, on either side;
- the beets process alone touches the database: workers only return
  :class:`pool.Outcome` objects.

Failures: a file that cannot be decoded is an error Outcome (a normal
result, never retried); a worker that dies has its tasks rescheduled by the
Dask scheduler, and a file that keeps killing workers becomes an error
Outcome once Dask gives up on it (``KilledWorker``); a scheduler that cannot
be reached, has no workers, or is lost is a :class:`ClusterError` with the
address and the reason; Ctrl-C or leaving the iteration cancels every task
still outstanding.

The job timeout is the local pool's (:data:`jobs.JOB_TIMEOUT`, with the same
message): each task logs an event when it starts on its file
(``dask_worker.STARTED_TOPIC``), and a task that has run longer than the
timeout is cancelled, reported failed, and its worker restarted through its
nanny (``Client.restart_workers``; one without a nanny is removed), since a
thread stuck in a read cannot be stopped otherwise and would hold its worker
for good. The tasks queued behind it are rescheduled by Dask.

Nothing from Dask is imported at module level: ``settings`` and ``runner``
import this module for :class:`PathMap` and :class:`ClusterError` on every
run, with or without Dask installed.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from beets import logging

from .jobs import (
    JOB_TIMEOUT,
    AnalysisSettings,
    Job,
    Outcome,
    one_line,
    timed_out_error,
)

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger("beets.musicnn")

#: Seconds to reach the scheduler before giving up with a ClusterError.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for a first worker to join a scheduler that has none.
WORKER_WAIT = 60.0
#: Tasks in flight per worker thread: one running and one queued on the
#: scheduler, so no thread idles between files while the next result travels,
#: yet only a few jobs are read ahead of the results.
TASKS_PER_THREAD = 2
#: Seconds between looks at how many worker threads the cluster has, so that
#: workers that join (or leave) mid-run change the number of tasks in flight.
RESIZE_INTERVAL = 5.0
#: Longest wait for a result before looking again at the tasks' deadlines (a
#: task may start, and so get a deadline, during a wait).
DEADLINE_CHECK_INTERVAL = 1.0
#: Seconds a stuck worker's nanny gets to restart it.
RESTART_TIMEOUT = 60.0
#: Name the worker plugin is registered under; a new run replaces it.
PLUGIN_NAME = "beets-musicnn"
#: The scheme Dask's scheduler listens on by default; the only one supported
#: (TLS needs security settings this plugin does not pass on).
SCHEME = "tcp"
INSTALL_HINT = "pip install 'beets-musicnn[dask]'"


class ClusterError(Exception):
    """The Dask cluster cannot run the analysis; the message says why."""


# Paths as the workers see them ---------------------------------------------


@dataclass(frozen=True)
class PathMap:
    """Rewrites path prefixes from the beets machine's view to the workers'.

    ``/music`` -> ``/mnt/nas/music`` turns ``/music/a/b.flac`` into
    ``/mnt/nas/music/a/b.flac``; it matches whole path components only
    (``/musicals`` is left alone), and the longest matching prefix wins.
    """

    #: (prefix here, prefix on the workers), longest prefix first.
    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: Any) -> PathMap:
        """From ``{here: there}`` or ``[{from: here, to: there}, ...]``.

        Raises ValueError with a message for people.
        """
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, list | tuple):
            pairs = [_from_to(entry) for entry in value]
        else:
            raise ValueError(
                f"{value!r} is neither a mapping of path prefixes "
                "nor a list of {from: ..., to: ...}"
            )
        rules: dict[str, str] = {}
        for here, there in pairs:
            here, there = _prefix(here, "from"), _prefix(there, "to")
            if not os.path.isabs(here):
                raise ValueError(f"{here!r} is not an absolute path on this machine")
            if here in rules:
                raise ValueError(f"{here!r} is mapped twice")
            rules[here] = there
        return cls(tuple(sorted(rules.items(), key=lambda r: len(r[0]), reverse=True)))

    def to_worker(self, path: str) -> str:
        for here, there in self.rules:
            if path == here:
                return there
            inside = here.rstrip("/") + "/"  # "/" itself for the root
            if path.startswith(inside):
                return there.rstrip("/") + "/" + path[len(inside) :]
        return path

    def __bool__(self) -> bool:
        return bool(self.rules)


def _from_to(entry: Any) -> tuple[Any, Any]:
    if not isinstance(entry, Mapping) or set(entry) != {"from", "to"}:
        raise ValueError(f"{entry!r} is not a {{from: ..., to: ...}} pair")
    return entry["from"], entry["to"]


def _prefix(value: Any, side: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a path (the `{side}` side)")
    # Without the trailing separator, so that "/music/" and "/music" match
    # alike; the root stays "/".
    return value.rstrip("/") or "/"


def check_scheduler_address(address: Any) -> str:
    """``tcp://HOST:PORT``, or ValueError with a message for people."""
    problem = f"{address!r} is not an address like tcp://HOST:PORT"
    if not isinstance(address, str):
        raise ValueError(problem)
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if parts.scheme != SCHEME or not parts.hostname or port is None:
        raise ValueError(problem)
    return address


# The pool ------------------------------------------------------------------


class DaskPool:
    """Analyse jobs on the workers of the Dask scheduler at ``scheduler``.

    Use as a context manager, or call :meth:`close`: leaving the ``with``
    block, an exception or Ctrl-C cancels the outstanding tasks and closes
    the connection. Workers are not started or stopped: they are the
    cluster's.
    """

    def __init__(
        self,
        settings: AnalysisSettings,
        scheduler: str,
        *,
        path_map: PathMap | None = None,
        tasks_per_thread: int = TASKS_PER_THREAD,
        job_timeout: float = JOB_TIMEOUT,
    ) -> None:
        self.settings = settings
        #: Checked by the caller (``check_scheduler_address``, as the
        #: configuration is read).
        self.scheduler = scheduler
        self.path_map = path_map or PathMap()
        self.tasks_per_thread = tasks_per_thread
        #: Seconds a file may take on a worker, from the task's start.
        self.job_timeout = job_timeout
        self._client: Client | None = None
        #: Tasks submitted and not yet consumed, by key: the future and the
        #: caller's own job.
        self._submitted: dict[str, tuple[Future, Job]] = {}
        #: Tasks that have started on a file, by key: when (this process's
        #: ``time.monotonic``, on the event's arrival) and on which worker.
        self._started: dict[str, tuple[float, str]] = {}
        #: The workers are the cluster's: their priority is not ours to set.
        self.priority_notes: set[str] = set()
        self._closed = False
        self._iterating = False

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what is outstanding and disconnect; idempotent."""
        self._closed = True
        self._cancel_outstanding()
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def imap_unordered(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Yield one Outcome per job, as each completes.

        Connects to the scheduler on the first job (a run with nothing to do
        connects to nothing).

        Raises
        ------
        ClusterError
            If the scheduler cannot be reached, has no workers, a worker
            cannot run the analysis, or the scheduler is lost mid-run.
        backends.BackendError
            If the workers cannot load the models.
        """
        if self._closed:
            raise RuntimeError("the Dask pool is closed")
        if self._iterating:
            raise RuntimeError("the Dask pool is already iterating")
        return self._imap(iter(jobs))

    def _imap(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        self._iterating = True
        try:
            first = next(jobs, None)
            if first is None:
                return
            client = self._connected_client()
            yield from self._schedule(client, first, jobs)
        finally:
            # Ctrl-C, a BackendError, the caller leaving the loop: nothing of
            # ours keeps running on the cluster.
            self._cancel_outstanding()
            self._iterating = False

    def _schedule(
        self, client: Client, first: Job, jobs: Iterator[Job]
    ) -> Iterator[Outcome]:
        from .dask_worker import STARTED_TOPIC, analyse

        done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        client.subscribe_topic(STARTED_TOPIC, self._on_started)
        try:
            limit = self._in_flight_limit(client)
            resized_at = time.monotonic()
            pending: Job | None = first
            while True:
                while pending is not None and len(self._submitted) < limit:
                    future = client.submit(
                        analyse,
                        replace(pending, path=self.path_map.to_worker(pending.path)),
                        self.settings,
                        pure=False,  # a file may change between two runs
                        key=f"musicnn-analyse-{pending.item_id}-{os.urandom(6).hex()}",
                    )
                    self._submitted[future.key] = (future, pending)
                    future.add_done_callback(done.put)  # from Dask's thread
                    pending = next(jobs, None)
                if not self._submitted:
                    return
                try:
                    future = done.get(timeout=self._time_left())
                except queue.Empty:
                    yield from self._stop_overdue(client)
                    continue
                if future.key not in self._submitted:
                    continue  # cancelled for its timeout, already reported
                _, job = self._submitted.pop(future.key)
                self._started.pop(future.key, None)
                outcome = self._outcome(future, job)
                future.release()
                if time.monotonic() - resized_at > RESIZE_INTERVAL:
                    limit = self._in_flight_limit(client)
                    resized_at = time.monotonic()
                yield outcome
        finally:
            with contextlib.suppress(Exception):  # a lost scheduler: nothing to undo
                client.unsubscribe_topic(STARTED_TOPIC)

    def _on_started(self, event: tuple[float, dict]) -> None:
        """A task of ours started on its file (called in Dask's thread)."""
        _, message = event
        key = message.get("key")
        if key in self._submitted:  # not another client's, nor one consumed
            self._started[key] = (time.monotonic(), message.get("worker"))

    def _time_left(self) -> float:
        """Seconds to wait for a result before the next look at deadlines."""
        starts = [start for start, _ in list(self._started.values())]
        if not starts:
            return DEADLINE_CHECK_INTERVAL
        left = min(starts) + self.job_timeout - time.monotonic()
        return min(max(left, 0.0), DEADLINE_CHECK_INTERVAL)

    def _stop_overdue(self, client: Client) -> list[Outcome]:
        """Fail every task that has run past the job timeout, cancel it and
        restart its worker, which is likely stuck in it."""
        now = time.monotonic()
        overdue = {
            key: worker
            for key, (start, worker) in list(self._started.items())
            if now - start >= self.job_timeout
        }
        if not overdue:
            return []
        # A task whose worker died meanwhile waits to run again elsewhere (it
        # reports its new start then): only those still running count.
        processing = client.processing()
        outcomes = []
        stuck: set[str] = set()
        for key, worker in overdue.items():
            self._started.pop(key, None)
            if key not in {str(k) for k in processing.get(worker, ())}:
                continue
            future, job = self._submitted.pop(key)
            client.cancel([future])
            future.release()
            outcomes.append(Outcome(job, None, timed_out_error(self.job_timeout)))
            stuck.add(worker)
        if stuck:
            self._restart(client, sorted(stuck), [o.job.path for o in outcomes])
        return outcomes

    def _restart(self, client: Client, workers: list[str], paths: list[str]) -> None:
        """Restart ``workers``, stuck on ``paths`` (their nannies start fresh
        processes, which the worker plugin warms up); Dask reschedules the
        tasks they held, and those report their start again."""
        for key, (_, worker) in list(self._started.items()):
            if worker in workers:
                del self._started[key]
        # A worker that cannot be restarted in time is the cluster's problem,
        # not this run's: the run goes on with the others.
        statuses = client.restart_workers(
            workers, timeout=RESTART_TIMEOUT, raise_for_error=False
        )
        log.warning(
            "no result after {:g} s for {}: restarted the Dask worker(s) "
            "running it: {}",
            self.job_timeout,
            ", ".join(paths),
            ", ".join(f"{w}: {status}" for w, status in statuses.items()),
        )

    def _outcome(self, future: Future, job: Job) -> Outcome:
        """The task's Outcome, with the caller's job (and path) back in it."""
        from distributed import KilledWorker

        from ..engine.backends import BackendError

        try:
            outcome: Outcome = future.result()
        except BackendError:
            raise
        except KilledWorker as error:
            # Dask rescheduled the file after each worker death and gave up
            # at its `allowed-failures`: the file itself kills workers.
            return Outcome(
                job,
                None,
                f"analysis workers died while reading this file ({one_line(error)})",
            )
        except Exception as error:
            raise ClusterError(
                f"the Dask cluster at {self.scheduler} failed while analysing "
                f"{job.path}: {type(error).__name__}: {one_line(error)}"
            ) from None
        analysis = outcome.analysis
        if analysis is not None:
            analysis = replace(analysis, path=job.path)
        return replace(outcome, job=job, analysis=analysis)

    def _in_flight_limit(self, client: Client) -> int:
        threads = sum(client.nthreads().values())
        return self.tasks_per_thread * max(threads, 1)

    def _cancel_outstanding(self) -> None:
        futures = [future for future, _ in self._submitted.values()]
        self._submitted, self._started = {}, {}
        if futures and self._client is not None:
            self._client.cancel(futures)
            for future in futures:
                future.release()

    # Connecting ------------------------------------------------------------

    def _connected_client(self) -> Client:
        """A client of the scheduler, with a worker ready to analyse."""
        if self._client is None:
            self._client = self._connect()
            try:
                self._prepare_workers(self._client)
            except BaseException:
                self.close()
                raise
        return self._client

    def _connect(self) -> Client:
        try:
            from distributed import Client
        except ImportError as error:
            raise ClusterError(
                f"`executor: dask` needs Dask on this machine ({error}): {INSTALL_HINT}"
            ) from None
        # A plain TCP connection first: Dask's own connect retries until its
        # timeout and then reports only that it timed out, not why.
        parts = urlsplit(self.scheduler)
        try:
            with socket.create_connection(
                (parts.hostname, parts.port), timeout=CONNECT_TIMEOUT
            ):
                pass
        except OSError as error:
            raise self._unreachable(error) from None
        try:
            return Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except OSError as error:  # listening, but not a Dask scheduler
            raise self._unreachable(error) from None

    def _unreachable(self, error: OSError) -> ClusterError:
        if isinstance(error, TimeoutError):
            reason = f"no answer within {CONNECT_TIMEOUT:g} s"
        else:
            reason = one_line(error.strerror or error)
        return ClusterError(
            f"cannot reach the Dask scheduler at {self.scheduler}: {reason}"
        )

    def _prepare_workers(self, client: Client) -> None:
        """Wait for a worker, then have every worker load the models."""
        from ..engine.backends import BackendError
        from ..engine.models import PIPELINE_VERSION
        from .dask_worker import MusicnnWorkerPlugin

        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise ClusterError(
                f"the Dask scheduler at {self.scheduler} has no workers (waited "
                f"{WORKER_WAIT:g} s); start some with "
                f"`dask worker {self.scheduler} --nthreads 1`"
            ) from None
        try:
            client.register_plugin(
                MusicnnWorkerPlugin(self.settings, PIPELINE_VERSION), name=PLUGIN_NAME
            )
        except BackendError:
            raise
        except Exception as error:
            raise ClusterError(
                f"a Dask worker of {self.scheduler} cannot run the analysis: "
                f"{type(error).__name__}: {one_line(error)}"
            ) from None
