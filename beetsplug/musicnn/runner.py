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
from typing import TYPE_CHECKING

from beets import logging
from beets.ui import UserError

from .options import RunOptions
from .progress import Progress, RunSummary
from .saving import ResultSaver, error_reason
from .selection import Selection, iter_jobs

if TYPE_CHECKING:
    from beets.library import Library

    from .dask_pool import DaskPool
    from .jobs import Outcome
    from .pool import AnalysisPool
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
    """Analyse the selected items through the pool, with a progress line."""
    from .backends import BackendError
    from .dask_pool import ClusterError

    summary = RunSummary(skipped=selection.skipped)
    started = time.monotonic()
    if len(selection):
        jobs = iter_jobs(lib, selection.ids, selection.needed, options.models)
        saver = ResultSaver(lib, store, options)
        try:
            with (
                open_pool(settings, len(selection)) as pool,
                saver,
                Progress(len(selection)) as progress,
            ):
                for outcome in pool.imap_unordered(jobs):
                    saver.add(outcome)
                    _count(summary, progress, outcome)
        except BackendError as exc:
            raise UserError(f"musicnn: cannot load the models: {exc}") from None
        except ClusterError as exc:
            raise UserError(f"musicnn: {exc}") from None
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.saving_seconds = saver.seconds
        log.debug("{}", summary.time_text())
    summary.wall_seconds = time.monotonic() - started
    return summary


def open_pool(settings: Settings, jobs: int) -> AnalysisPool | DaskPool:
    if settings.executor == "dask":
        from .dask_pool import DaskPool

        return DaskPool(
            settings.analysis_settings(),
            settings.dask_scheduler,
            path_map=settings.path_map,
        )
    from .pool import AnalysisPool

    return AnalysisPool(settings.analysis_settings(), settings.worker_count(jobs))


def _count(summary: RunSummary, progress: Progress, outcome: Outcome) -> None:
    if outcome.analysis is not None:
        summary.analysed += 1
        if outcome.job.models is not None:
            summary.add_partial(outcome.job.models)
        summary.audio_seconds += outcome.analysis.duration
        summary.add_stage_seconds(outcome.analysis.timings)
        progress.advance()
    else:
        summary.failed += 1
        progress.advance(outcome.job.path, error_reason(outcome.error))
