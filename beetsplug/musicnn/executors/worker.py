"""The worker process side of the pool: warm up, then analyse the jobs that
come down the pipe until told to stop.

:func:`worker_main` is the body of each process ``pool.AnalysisPool``
spawns; :func:`warm_up` and :func:`analyse_job` are also what the pool runs
in its own process with ``workers=0``, and what a Dask worker runs
(``dask_worker``). Nothing heavy is imported at module level: the engine is
imported by the functions that analyse.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from multiprocessing.connection import Connection

from .jobs import AnalysisSettings, Job, Outcome, internal_error, one_line
from .native_stderr import capture_stderr
from .priority import lower_priority

#: Seconds between a worker's checks that its parent is still alive while it
#: waits for work (pipe EOF normally says so first).
PARENT_CHECK_INTERVAL = 1.0

#: Environment variables that make numeric libraries use one thread. Set in
#: the child's environment before it starts, since BLAS and OpenMP read them
#: once, when loaded; N workers x N threads would oversubscribe the cores.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

#: Seconds of silence analysed when a worker starts: runs every stage once, so
#: a model or library that cannot load fails before any file is sent.
_WARM_UP_SECONDS = 3


def warm_up(settings: AnalysisSettings) -> None:
    """Load every model and run the whole analysis once on silence.

    Raises
    ------
    backends.BackendError
        If the runtime or a model cannot be loaded.
    """
    import numpy as np

    from ..engine.analysis import analyze_signal
    from ..engine.models import SAMPLE_RATE

    analyze_signal(
        np.zeros(_WARM_UP_SECONDS * SAMPLE_RATE, np.float32),
        settings.models,
        backend=settings.backend,
        overlap=settings.overlap,
        threads=settings.threads,
    )


def analyse_job(job: Job, settings: AnalysisSettings) -> Outcome:
    """Analyse one file; any failure of that file becomes an error Outcome.

    What C libraries print while the file is analysed (libmpg123's
    complaints about damaged frames) is kept off the terminal and becomes
    the outcome's ``notes``.

    Raises
    ------
    backends.BackendError
        Only this: it would fail every file, so it must stop the run.
    """
    with capture_stderr() as captured:
        outcome = _analyse(job, settings)
    return replace(outcome, notes=captured.notes) if captured.notes else outcome


def _analyse(job: Job, settings: AnalysisSettings) -> Outcome:
    from ..engine.analysis import analyze
    from ..engine.audio import AudioError
    from ..engine.backends import BackendError

    try:
        result = analyze(
            job.path,
            job.models or settings.models,
            backend=settings.backend,
            overlap=settings.overlap,
            threads=settings.threads,
            patch_budget=settings.patch_budget,
            patch_shares=dict(settings.patch_shares),
        )
    except AudioError as error:
        return Outcome(job, None, one_line(error.reason))
    except BackendError:
        raise
    except Exception as error:
        return Outcome(job, None, internal_error(error))
    return Outcome(job, result)


def worker_main(
    conn: Connection, settings: AnalysisSettings, parent: int, nice: bool = False
) -> None:
    """Body of a worker process: warm up, then analyse jobs until told to stop.

    With ``nice`` the worker first lowers its CPU and I/O priority
    (:func:`priority.lower_priority`).

    Messages to the parent: ``("ready", notes)`` once (``notes``: what could
    not be done about the priority), then one ``("outcome", Outcome)`` per
    job in the order the jobs came, or a single ``("fatal", message)`` after
    which the worker exits.
    """
    # Ctrl-C goes to the whole process group; the main process decides what
    # happens, the workers just get stopped. (Usually SIGINT is already
    # blocked from birth, see pool.AnalysisPool._start_worker; this covers
    # other callers.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # not on Windows
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    notes = lower_priority() if nice else ()
    try:
        try:
            # Loading a runtime may print too; a failure says it in its message.
            with capture_stderr():
                warm_up(settings)
        except Exception as error:
            conn.send(("fatal", _start_failure(error)))
            return
        conn.send(("ready", notes))
        while (job := _next_job(conn, parent)) is not None:
            try:
                outcome = analyse_job(job, settings)
            except Exception as error:  # BackendError: no file can succeed
                conn.send(("fatal", one_line(str(error))))
                return
            _send_outcome(conn, outcome)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the parent has gone away or closed the pool: nothing to report
    finally:
        conn.close()


def _start_failure(error: Exception) -> str:
    from ..engine.backends import BackendError

    if isinstance(error, BackendError):
        return one_line(str(error))
    return one_line(f"analysis worker cannot start: {type(error).__name__}: {error}")


def _next_job(conn: Connection, parent: int) -> Job | None:
    """The next job from the parent, or None when the worker should exit."""
    while not conn.poll(PARENT_CHECK_INTERVAL):
        # Pipe EOF normally tells us the parent is gone; the parent pid check
        # also covers a pipe end leaked into another process.
        if os.getppid() != parent:
            return None
    try:
        return conn.recv()  # None is the parent's polite "stop"
    except EOFError:
        return None


def _send_outcome(conn: Connection, outcome: Outcome) -> None:
    try:
        conn.send(("outcome", outcome))
    except (BrokenPipeError, ConnectionResetError):
        raise
    except Exception as error:  # an analysis that cannot be pickled
        conn.send(("outcome", Outcome(outcome.job, None, internal_error(error))))
