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


class SettingError(ValueError):
    """An analysis setting no worker can use: ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"bad {field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class AnalysisSettings:
    """What every worker needs to analyse a file; picklable.

    The one definition of these settings: the plugin's configuration makes
    one (``library.settings``), the run options and every job carry it.
    Checked when made (:func:`check_settings`), so a typo gives one clear
    error in the caller's process rather than a worker failure.
    """

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

    def __post_init__(self) -> None:
        check_settings(self)


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
    """Raise :class:`SettingError` for settings no worker can use.

    The one check of these values: the configuration's parsing only turns
    what YAML gives into them (``library.settings``), and reports this
    error as a bad setting.
    """
    from ..engine.backends import BACKENDS
    from ..engine.models import get_model

    def check(field: str, ok: bool, problem: str) -> None:
        if not ok:
            raise SettingError(field, problem)

    models = settings.models
    check(
        "models",
        isinstance(models, tuple) and bool(models),
        f"{models!r} is not a tuple of model keys",
    )
    for model in (*models, *(model for model, _ in settings.patch_shares)):
        try:
            get_model(model)
        except ValueError as exc:
            raise SettingError("models", str(exc)) from None
    backend = settings.backend
    check(
        "backend",
        isinstance(backend, str) and backend in BACKENDS,
        f"{backend!r} is not one of {', '.join(BACKENDS)}",
    )
    check(
        "overlap",
        _number(settings.overlap) and 0 <= settings.overlap < 1,
        f"{_shown(settings.overlap)} is not in [0, 1)",
    )
    check(
        "threads",
        _count(settings.threads),
        f"{settings.threads!r} is not a whole number of at least 1",
    )
    budget = settings.patch_budget
    check(
        "patch_budget",
        budget is None or _count(budget),
        f"{budget!r} is not a whole number of at least 1",
    )
    for model, share in settings.patch_shares:
        check(
            "patch_shares",
            _number(share) and 0 < share <= 1,
            f"{model}: {_shown(share)} is not in (0, 1]",
        )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: object) -> str:
    return f"{value:g}" if _number(value) else repr(value)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def internal_error(error: BaseException) -> str:
    """``"internal error: Type: message"``, one line."""
    return one_line(f"internal error: {type(error).__name__}: {error}")


def one_line(text: str, limit: int = 500) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
