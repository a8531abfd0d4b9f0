"""What every executor offers the runner: :class:`Executor`.

The local pool (:class:`pool.AnalysisPool`) and the Dask cluster
(:class:`dask_pool.DaskPool`) both implement it; the runner and the import
stage see only this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .jobs import AnalysisSettings, Job, Outcome


@runtime_checkable
class Executor(Protocol):
    """Analyses jobs somewhere and yields their outcomes as they complete.

    A context manager: leaving the ``with`` block (also by an exception or
    Ctrl-C) stops what is outstanding.
    """

    #: The analysis every job gets (models, backend, fast mode...).
    settings: AnalysisSettings
    #: What workers could not do about their priority, for ``beet -v``
    #: (empty where the workers are not this executor's to start).
    priority_notes: set[str]

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def close(self) -> None:
        """Stop what is outstanding; idempotent."""
        ...

    def imap_unordered(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """One :class:`Outcome` per job, in the order they complete; ``jobs``
        is read lazily, as workers have room."""
        ...
