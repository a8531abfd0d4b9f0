"""The import stage: analyse each import task's items through one pool for
the whole ``beet import``, and keep their stored results current once the
importer has placed the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from beets import logging
from beets.library import Item

from .runner import open_pool
from .saving import ResultSaver
from .selection import absolute_path, file_mtime, is_up_to_date

if TYPE_CHECKING:
    from beets.library import Library

    from ..executors.base import Executor
    from .settings import Settings
    from .store import ResultStore

log = logging.getLogger("beets.musicnn")

#: Sizes the import pool: as many workers as allowed, whatever the task size.
IMPORT_JOBS = 1 << 30


class ImportAnalyser:
    """Analyses each import task's items through one pool for the import."""

    def __init__(
        self, lib: Library, settings: Settings, store: Callable[[], ResultStore]
    ) -> None:
        self.lib = lib
        self.settings = settings
        # The importer writes the files itself after the plugin stages.
        self.options = settings.run_options(write=False, library_path=lib.path)
        self.store = store
        self.pool: Executor | None = None
        self.broken = False
        #: Items analysed whose files the importer has not placed yet.
        self.analysed: set[int] = set()

    def analyse(self, items: list[Item]) -> None:
        if self.broken:
            return
        from ..engine.backends import BackendError
        from ..executors.dask_pool import ClusterError

        store = self.store()
        # A re-import of files already analysed need not wait for them again.
        jobs = [
            self._job(item)
            for item in items
            if not is_up_to_date(self.lib, item, self.options, store)
        ]
        if not jobs:
            return
        try:
            if self.pool is None:
                self.pool = open_pool(self.settings, IMPORT_JOBS).__enter__()
            outcomes = list(self.pool.imap_unordered(jobs))
        except (BackendError, ClusterError) as exc:
            # An import must go on without tags rather than stop.
            self.broken = True
            cause = (
                "cannot load the models"
                if isinstance(exc, BackendError)
                else "cannot use the Dask cluster"
            )
            log.warning("{}, not analysing: {}", cause, exc)
            return
        saver = ResultSaver(
            self.lib,
            store,
            self.options,
            items={item.id: item for item in items},
        )
        with saver:
            for outcome in outcomes:
                saver.add(outcome)
                for note in outcome.notes:
                    log.debug("{}: {}", outcome.job.path, note)
        self.analysed.update(o.job.item_id for o in outcomes if o.analysis)

    def files_settled(self, items: list[Item]) -> None:
        """The importer has copied or moved the files and written their tags:
        the stored results belong to the files as they are now."""
        for item in items:
            if item.id not in self.analysed:
                continue
            self.analysed.discard(item.id)
            mtime = file_mtime(absolute_path(self.lib, item))
            store = self.store()  # this thread's
            stored = store.get(item.id).values()
            store.put_many(replace(result, mtime=mtime) for result in stored)

    def _job(self, item: Item):
        from ..executors.jobs import Job

        return Job(item.id, absolute_path(self.lib, item))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.__exit__(None, None, None)
            self.pool = None
