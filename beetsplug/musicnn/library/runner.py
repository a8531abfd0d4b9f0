"""A run of MusicNN over a beets library: feed the selected items to the
pool (local or Dask), save what comes back as it arrives, and show progress.

The other stages of a run have their own modules: ``selection`` (which
items), ``saving`` (results to fields, batched saving), ``rederive``
(fields from stored results) and ``import_stage`` (analysis during
``beet import``). Nothing heavy is imported at module level; the engine
modules are imported by the functions that need them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from beets import logging
from beets.ui import UserError

from ..executors.native_stderr import DAMAGED_FRAMES
from .item_fields import error_reason
from .options import RunOptions
from .progress import Progress, RunSummary
from .saving import ResultSaver
from .selection import Selection, iter_jobs

if TYPE_CHECKING:
    from beets.library import Library

    from ..executors.base import Executor
    from ..executors.jobs import Job, Outcome
    from .settings import Settings
    from .store import ResultStore

log = logging.getLogger("beets.musicnn")


def analyse_selection(
    lib: Library,
    selection: Selection,
    settings: Settings,
    options: RunOptions,
    store: ResultStore,
) -> RunSummary:
    """Analyse the selected items through the pool, with a progress line.

    Whatever ends the run, what finished is saved and the summary says how
    it ended: interrupted (Ctrl-C), out of time (``max_time``), or stopped
    by an error once some files were done (``summary.error``).

    Raises
    ------
    beets.ui.UserError
        If the models cannot load, or the cluster cannot be used, before
        any file is done.
    """
    from ..engine.backends import BackendError
    from ..executors.dask_pool import ClusterError

    summary = RunSummary(skipped=selection.skipped)
    started = time.monotonic()
    if len(selection):
        jobs: Iterator[Job] = iter_jobs(
            lib, selection.ids, selection.needed, options.models
        )
        budget = None if settings.max_time is None else TimeBudget(settings.max_time)
        if budget is not None:
            jobs = budget.jobs(jobs)
        saver = ResultSaver(lib, store, options)
        pool: Executor | None = None
        try:
            with (
                open_pool(settings, len(selection)) as pool,
                saver,
                Progress(len(selection)) as progress,
            ):
                for outcome in pool.imap_unordered(jobs):
                    saver.add(outcome)
                    _count(summary, progress, outcome)
        except (BackendError, ClusterError) as exc:
            summary.error = _stop_message(exc, summary)
            if not summary.analysed + summary.failed:
                raise UserError(summary.error) from None
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.saving_seconds = saver.seconds
        if budget is not None and budget.ran_out:
            summary.left = len(selection) - summary.analysed - summary.failed
            if summary.left > 0:
                summary.time_budget = budget.seconds
        for note in sorted(pool.priority_notes if pool is not None else ()):
            log.debug("worker priority: {}", note)
        log.debug("{}", summary.time_text())
    summary.wall_seconds = time.monotonic() - started
    return summary


class TimeBudget:
    """Hands out jobs until ``seconds`` have passed since it was made.

    The pool reads jobs only as workers have room, so once the time is up no
    new file goes to a worker; the files the workers already hold (one being
    analysed and at most one queued each) finish and are saved.
    """

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.deadline = clock() + seconds
        #: The time ran out before the jobs did.
        self.ran_out = False

    def jobs(self, jobs: Iterator[Job]) -> Iterator[Job]:
        while self.clock() < self.deadline:
            job = next(jobs, None)
            if job is None:
                return
            yield job
        self.ran_out = True


def _stop_message(error: Exception, summary: RunSummary) -> str:
    from ..engine.backends import BackendError

    if not isinstance(error, BackendError):  # the Dask cluster's own words
        return f"musicnn: {error}"
    if summary.analysed + summary.failed:
        return f"musicnn: the analysis stopped: {error}"
    return f"musicnn: cannot load the models: {error}"


def open_pool(settings: Settings, jobs: int) -> Executor:
    if settings.executor == "dask":
        from ..executors.dask_pool import DaskPool

        return DaskPool(
            settings.analysis,
            settings.dask_scheduler,
            path_map=settings.path_map,
        )
    from ..executors.pool import AnalysisPool

    return AnalysisPool(
        settings.analysis, settings.worker_count(jobs), nice=settings.nice
    )


def _count(summary: RunSummary, progress: Progress, outcome: Outcome) -> None:
    if outcome.notes and log.isEnabledFor(logging.DEBUG):
        progress.close()  # the next advance draws it again, below the notes
        for note in outcome.notes:
            log.debug("{}: {}", outcome.job.path, note)
    if outcome.analysis is not None:
        if DAMAGED_FRAMES in outcome.notes:
            summary.damaged += 1
        summary.analysed += 1
        if outcome.job.models is not None:
            summary.add_partial(outcome.job.models)
        summary.audio_seconds += outcome.analysis.duration
        summary.add_stage_seconds(outcome.analysis.timings)
        progress.advance()
    else:
        summary.failed += 1
        progress.advance(outcome.job.path, error_reason(outcome.error))
