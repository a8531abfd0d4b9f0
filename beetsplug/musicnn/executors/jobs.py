"""What the analysis executors exchange: the settings every worker needs, a
:class:`Job` (one file) and its :class:`Outcome` (an analysis or a one-line
error).

The local pool (``pool``, ``worker``) and the Dask executor (``dask_pool``,
``dask_worker``) move these between processes, so everything here is
picklable and imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.analysis import Analysis

#: Seconds one file may take before it fails and its worker is stopped (the
#: local pool kills the process, the Dask executor restarts the worker).
#: A worker analyses about 90 times real time with one model, so a 10-hour
#: recording with both models takes about 15 minutes; anything longer is a
#: decoder that hangs (a stalled network mount, a FIFO named like a song), and
#: without a limit it would stall a run of half a million files for good.
JOB_TIMEOUT = 1800.0


def timed_out_error(seconds: float) -> str:
    """The error of a file stopped at the job timeout, on either executor."""
    return (
        f"no result after {seconds:g} s, so the analysis was stopped "
        "(does reading this file hang?)"
    )


@dataclass(frozen=True)
class AnalysisSettings:
    """What every worker needs to analyse a file; picklable."""

    models: tuple[str, ...] = ("msd",)
    backend: str = "onnx"
    overlap: float = 0.0
    #: Intra-op threads per worker; one is the efficient shape (measured).
    threads: int = 1
    #: Fast mode: patches analysed per track (``analyze(patch_budget=)``);
    #: None analyses every patch.
    patch_budget: int | None = None
    #: ``((model, share), ...)``: the share of the patches a model listens
    #: to (``analyze(patch_shares=)``); a model not named hears them all.
    #: A tuple, not a dict, so that the settings stay hashable.
    patch_shares: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Job:
    """One file to analyse."""

    item_id: int
    #: Absolute path, resolved by the caller (workers have no beets library).
    path: str
    #: The models to run for this file when not all of the settings' (the
    #: others' stored results are current); ``None``: all of them.
    models: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one job: an analysis, or why there is none."""

    job: Job
    analysis: Analysis | None
    #: One line for people when ``analysis`` is None; never a traceback.
    error: str | None = None
    #: One-line remarks on the file, e.g. ``native_stderr.DAMAGED_FRAMES``
    #: for damaged frames its decoder skipped; shown with ``beet -v``.
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.analysis is not None


def check_settings(settings: AnalysisSettings) -> None:
    """Raise ValueError, in the caller's process, for settings no worker can use.

    Checked before any worker starts so that a typo gives one clear error
    rather than a worker failure.
    """
    from ..engine.backends import BACKENDS
    from ..engine.models import get_model

    if isinstance(settings.models, str) or not settings.models:
        raise ValueError(
            f"models must be a tuple of model keys, not {settings.models!r}"
        )
    for model in settings.models:
        get_model(model)
    if settings.backend not in BACKENDS:
        known = ", ".join(BACKENDS)
        raise ValueError(f"unknown backend {settings.backend!r} (known: {known})")
    if not 0 <= settings.overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), not {settings.overlap}")
    if settings.threads < 1:
        raise ValueError(f"threads must be >= 1, not {settings.threads}")
    if settings.patch_budget is not None and settings.patch_budget < 1:
        raise ValueError(f"patch_budget must be >= 1, not {settings.patch_budget}")
    for model, share in settings.patch_shares:
        get_model(model)
        if not 0 < share <= 1:
            raise ValueError(f"the patch share of {model} must be in (0, 1]")


def internal_error(error: BaseException) -> str:
    """``"internal error: Type: message"``, one line."""
    return one_line(f"internal error: {type(error).__name__}: {error}")


def one_line(text: str, limit: int = 500) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
