"""What runs on a Dask worker: the models loaded once per worker process, and
the analysis of one file by path.

The task is :func:`pool.analyse_job`, the very function a local pool worker
runs, behind a per-process cache that loads the models and runs the whole
pipeline once on silence first. :class:`MusicnnWorkerPlugin` fills that cache
when the plugin is registered (and on every worker that joins later), so a
model that cannot load stops the run before any file is sent; the task checks
the cache too, so a worker that raced the registration still warms up first.

This module imports ``distributed`` at the top: it is imported only by
:mod:`dask_pool` when the ``dask`` executor runs, and by the workers.
"""

from __future__ import annotations

import asyncio
import os
import threading

from distributed import WorkerPlugin, get_worker

from ..engine.models import PIPELINE_VERSION
from .jobs import AnalysisSettings, Job, Outcome
from .worker import SINGLE_THREAD_ENV, analyse_job, warm_up

#: Topic of the event a task logs as it starts on its file (after the warm-up):
#: the beets process counts the job timeout from it, as the local pool counts
#: from the moment a worker takes the file. Message: ``{"key", "worker"}``.
STARTED_TOPIC = "beets-musicnn-started"

#: Settings whose models this worker process has loaded and run once.
_warmed_up: set[AnalysisSettings] = set()
#: A worker started with several threads runs several tasks at once; only
#: one of them loads the models.
_warm_up_lock = threading.Lock()


def prepare(settings: AnalysisSettings) -> None:
    """Load the models of ``settings`` in this process, once.

    Raises
    ------
    backends.BackendError
        If the runtime or a model cannot be loaded.
    """
    with _warm_up_lock:
        if settings in _warmed_up:
            return
        # The nanny already gives its worker one thread per numeric library
        # (distributed's `nanny.pre-spawn-environ`); these cover the libraries
        # that read their variable only when first loaded, which is later.
        for name, value in SINGLE_THREAD_ENV.items():
            os.environ.setdefault(name, value)
        warm_up(settings)
        _warmed_up.add(settings)


def analyse(job: Job, settings: AnalysisSettings) -> Outcome:
    """The Dask task: one file, by the path this worker sees it at.

    A file that cannot be analysed is an error Outcome, a normal return
    value, so Dask never retries it; only a ``BackendError`` (no file can
    succeed) is raised.
    """
    prepare(settings)
    worker = get_worker()
    worker.log_event(
        STARTED_TOPIC, {"key": str(worker.get_current_task()), "worker": worker.address}
    )
    return analyse_job(job, settings)


class WorkerMismatchError(RuntimeError):
    """A worker runs another analysis pipeline than the beets process."""


class MusicnnWorkerPlugin(WorkerPlugin):
    """Loads the models on each worker before it gets a file."""

    def __init__(self, settings: AnalysisSettings, pipeline_version: str) -> None:
        self.settings = settings
        #: The beets process's PIPELINE_VERSION: a worker with another one
        #: would store numbers under a version they do not belong to.
        self.pipeline_version = pipeline_version

    async def setup(self, worker) -> None:
        if self.pipeline_version != PIPELINE_VERSION:
            raise WorkerMismatchError(
                f"worker {worker.address} has beets-musicnn pipeline version "
                f"{PIPELINE_VERSION}, the beets process {self.pipeline_version}: "
                "install the same beets-musicnn on every worker"
            )
        # Loading takes seconds: off the worker's event loop, which must keep
        # answering the scheduler's heartbeats meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, prepare, self.settings)
