"""The ``musicnn`` configuration: its defaults, and its checking.

Every value is checked when a command or an import needs it, not when
beets starts, so that a typo stops only what depends on it, with a message
that names the option (a :class:`ConfigError`, which beets prints without a
traceback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import confuse
from beets import ui

from ..engine.models import DEFAULT_PATCH_BUDGET, MODELS, get_model
from ..executors.jobs import AnalysisSettings, SettingError
from ..labels import fields
from .config_keys import unknown_entry_key
from .library_calibration import SOURCES as CALIBRATIONS
from .options import RunOptions

if TYPE_CHECKING:
    from ..executors.dask_pool import PathMap

#: Where the analysis runs: this machine's process pool, or a Dask cluster.
EXECUTORS = ("local", "dask")
#: The configuration's key of each :class:`AnalysisSettings` field.
ANALYSIS_KEYS = {
    "models": "models",
    "backend": "backend",
    "overlap": "overlap",
    "patch_budget": "fast_patches",
    "patch_shares": "patch_share",
}

DEFAULT_CONFIG: dict[str, Any] = {
    # Analyse imported items during `beet import`.
    "auto": True,
    # MSD (last.fm's vocabulary) hears every patch; MTT (which knows
    # classical music, and loud/quiet/fast/slow) a share of them.
    "models": ["msd", "mtt"],
    # Share of each track's patches a model listens to (1 = all); a model
    # not named hears them all. See docs/configuration.md for its cost.
    "patch_share": {"mtt": 0.34},
    # Worker processes; "auto" fits the cores and the memory.
    "workers": "auto",
    "backend": "onnx",
    # Share of each 3-second patch shared with the next (0 = the reference).
    "overlap": 0.0,
    # Fast mode: analyse `fast_patches` patches spread over each track
    # instead of all of them (see docs/performance.md for the agreement).
    "fast": False,
    "fast_patches": DEFAULT_PATCH_BUDGET,
    "threshold": fields.DEFAULT_THRESHOLD,
    # Strengths against this library once `beet musicnn --calibrate` has
    # fitted it, else against the shipped reference corpus (auto); or
    # pinned to either (shipped, library).
    "calibration": "auto",
    # Tags that get a musicnn_<model>_<tag> field: names, "all" or "default".
    "scores": ["default"],
    # Also put musicnn_genre into the genre tag (item.genres) and
    # musicnn_mood into a MOOD tag of the files.
    "write_genre": False,
    "write_mood": False,
    # `dask` ships the analysis to the workers of the Dask scheduler at
    # `dask_scheduler` (docs/cluster.md); `workers` is then not used.
    "executor": "local",
    "dask_scheduler": None,
    # Path prefixes as the Dask workers see them: {/music: /mnt/nas/music}.
    "path_map": {},
    # The radio (`beet musicnn-similar`, `beet musicnn-radio`): the model
    # whose embeddings it compares (null: the first of `models`), its named
    # playlists, and their folder (null: smartplaylist's `playlist_dir`).
    "similar_model": None,
    "similar_playlists": [],
    "similar_playlist_dir": None,
    # Workers at low CPU and I/O priority (no: normal priority).
    "nice": True,
    # Start no new file after this long: 2h, 90m, 45s, 1h30m (null: no limit).
    "max_time": None,
}

#: Keys of one `similar_playlists` entry, and whether each must be there.
RADIO_PLAYLIST_KEYS = {
    "name": True,
    "seeds": True,
    "count": False,
    "where": False,
    "max_per_artist": False,
    "max_per_album": False,
    "order": False,
}


class ConfigError(ui.UserError):
    """A bad ``musicnn`` setting, reported without a traceback."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"musicnn: bad `{key}` setting: {problem}")


@dataclass(frozen=True)
class Overrides:
    """What the command line says instead of the configuration (``None``:
    the configuration's value). A ``scheduler`` implies the ``dask``
    executor."""

    models: str | None = None
    workers: int | None = None
    fast: bool | None = None
    scheduler: str | None = None
    max_time: str | None = None


@dataclass(frozen=True)
class Settings:
    """The validated ``musicnn`` configuration, with command-line overrides."""

    #: Models, backend, overlap, fast mode's patches, patch shares.
    analysis: AnalysisSettings
    #: ``None`` means "as many as the machine allows" (pool.default_workers).
    workers: int | None
    threshold: float
    scores: tuple[str, ...]
    write_genre: bool
    write_mood: bool
    executor: str = "local"
    #: ``tcp://HOST:PORT`` of the Dask scheduler with the ``dask`` executor.
    dask_scheduler: str | None = None
    #: The library's paths as the Dask workers see them.
    path_map: PathMap | None = None
    #: Local workers run at low CPU and I/O priority (``priority``).
    nice: bool = True
    #: Seconds after which a run starts no new file; ``None``: no limit.
    max_time: float | None = None
    #: ``auto``, ``shipped`` or ``library`` (``library_calibration.SOURCES``).
    calibration: str = "auto"

    @classmethod
    def from_config(
        cls, config: confuse.ConfigView, overrides: Overrides | None = None
    ) -> Settings:
        """Read and check every setting, ``overrides`` first; raise
        :class:`ConfigError` if one is wrong."""
        overrides = overrides or Overrides()
        models, workers, fast = overrides.models, overrides.workers, overrides.fast
        scheduler, max_time = overrides.scheduler, overrides.max_time
        if models is None:
            models = config["models"].get()
        if workers is None:
            workers = config["workers"].get()
        if fast is None:
            fast = parse_bool("fast", config["fast"].get())
        budget = parse_count("fast_patches", config["fast_patches"].get())
        executor = parse_choice("executor", config["executor"].get(), EXECUTORS)
        if scheduler is not None:
            executor = "dask"
        else:
            scheduler = config["dask_scheduler"].get()
        models = parse_models(models)
        settings = cls(
            analysis=parse_analysis(
                models=models,
                backend=config["backend"].get(),
                overlap=parse_real(config["overlap"].get()),
                patch_budget=budget if fast else None,
                patch_shares=parse_patch_shares(config["patch_share"].get(), models),
            ),
            workers=parse_workers(workers),
            threshold=parse_number("threshold", config["threshold"].get()),
            scores=parse_scores(config["scores"].get()),
            write_genre=parse_bool("write_genre", config["write_genre"].get()),
            write_mood=parse_bool("write_mood", config["write_mood"].get()),
            executor=executor,
            dask_scheduler=parse_scheduler(scheduler) if executor == "dask" else None,
            path_map=parse_path_map(config["path_map"].get()),
            nice=parse_bool("nice", config["nice"].get()),
            max_time=parse_duration(
                "max_time", config["max_time"].get() if max_time is None else max_time
            ),
            calibration=parse_choice(
                "calibration", config["calibration"].get(), CALIBRATIONS
            ),
        )
        settings.field_settings()  # check the score selection now
        return settings

    @property
    def models(self) -> tuple[str, ...]:
        return self.analysis.models

    def field_settings(self) -> fields.FieldSettings:
        try:
            return fields.FieldSettings.from_config(
                self.scores, self.threshold, self.models
            )
        except ValueError as exc:
            raise ConfigError("scores", str(exc)) from None

    def run_options(
        self, *, write: bool, library_path: str | bytes | None = None
    ) -> RunOptions:
        """What a run needs; with ``calibration: library`` (or ``auto`` once
        fitted), the calibration fitted beside the library at
        ``library_path`` (a ``UserError`` for ``library`` if there is none)."""
        calibration, source = None, "shipped"
        if self.calibration != "shipped":
            from .library_calibration import calibration_in_force

            calibration, source = calibration_in_force(
                self.calibration, library_path or ":memory:", self.models
            )
        return RunOptions(
            analysis=self.analysis,
            field_settings=self.field_settings(),
            write_genre=self.write_genre,
            write_mood=self.write_mood,
            write=write,
            calibration=calibration,
            calibration_source=source,
        )

    def worker_count(self, jobs: int) -> int:
        """Workers for ``jobs`` files: never more processes than files."""
        if self.workers is None:
            from ..executors.pool import default_workers

            return min(default_workers(), jobs)
        return min(self.workers, jobs)


def parse_models(value: Any) -> tuple[str, ...]:
    """``"msd,mtt"`` or ``["msd", "mtt"]`` -> ``("msd", "mtt")``."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ConfigError("models", f"expected a list of {', '.join(MODELS)}")
    try:
        keys = [get_model(str(name)).key for name in names if str(name).strip()]
    except ValueError as exc:
        raise ConfigError("models", str(exc)) from None
    if not keys:
        raise ConfigError("models", f"expected a list of {', '.join(MODELS)}")
    return tuple(dict.fromkeys(keys))  # without repeats, in the given order


def parse_analysis(**values: Any) -> AnalysisSettings:
    """The analysis settings, checked by :class:`AnalysisSettings` itself;
    a value it refuses is reported under its configuration key."""
    try:
        return AnalysisSettings(**values)
    except SettingError as exc:
        raise ConfigError(ANALYSIS_KEYS[exc.field], exc.problem) from None


def parse_real(value: Any) -> Any:
    """A number as a float; anything else as it is, for the check to name."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number else value


def parse_workers(value: Any) -> int | None:
    if value is None or value == "auto":
        return None
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = -1
    if workers < 0 or isinstance(value, bool | float):
        raise ConfigError(
            "workers", f"{value!r} is not 'auto', 0 (no pool) or a number of processes"
        )
    return workers


def parse_count(key: str, value: Any) -> int:
    """A whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"{value!r} is not a whole number of at least 1")
    return value


def parse_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(choices)}")
    return value


def parse_number(key: str, value: Any) -> float:
    """A number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"{value!r} is not a number in [0, 1]")
    if not 0 <= value <= 1:
        raise ConfigError(key, f"{value} is not in [0, 1]")
    return float(value)


def parse_patch_shares(value: Any, models: tuple[str, ...]) -> tuple:
    """``{mtt: 0.34}`` -> ``(("mtt", 0.34),)`` for the enabled models, in
    their order; a share of 1 is left out (the model hears every patch).
    Only the form is checked here; :class:`AnalysisSettings` checks the
    range."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(
            "patch_share", f"{value!r} is not a mapping like {{mtt: 0.34}}"
        )
    shares = {}
    for name, share in value.items():
        try:
            key = get_model(str(name)).key
        except ValueError as exc:
            raise ConfigError("patch_share", str(exc)) from None
        if isinstance(share, bool) or not isinstance(share, int | float):
            raise ConfigError("patch_share", f"{name}: {share!r} is not a number")
        shares[key] = float(share)
    return tuple((key, shares[key]) for key in models if shares.get(key, 1.0) != 1.0)


def parse_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"{value!r} is not yes or no")
    return value


def parse_scores(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ConfigError("scores", f"{value!r} is not a list of tags")
    return tuple(str(tag).strip() for tag in value if str(tag).strip())


def parse_scheduler(value: Any) -> str:
    """The Dask scheduler's address, needed by the ``dask`` executor."""
    from ..executors.dask_pool import check_scheduler_address

    if value is None:
        raise ConfigError(
            "dask_scheduler", "`executor: dask` needs the scheduler's tcp://HOST:PORT"
        )
    try:
        return check_scheduler_address(value)
    except ValueError as exc:
        raise ConfigError("dask_scheduler", str(exc)) from None


def parse_path_map(value: Any) -> Any:
    """A ``dask_pool.PathMap`` from ``{from: to}`` or ``[{from:, to:}, ...]``."""
    from ..executors.dask_pool import PathMap

    try:
        return PathMap.parse(value)
    except ValueError as exc:
        raise ConfigError("path_map", str(exc)) from None


def parse_similar_model(value: Any, models: Any) -> str:
    """The radio's model: ``value``, or the first of the ``models`` setting."""
    if value is None:
        return parse_models(models)[0]
    try:
        return get_model(str(value)).key
    except ValueError as exc:
        raise ConfigError("similar_model", str(exc)) from None


def parse_similar_playlists(value: Any) -> list[dict[str, Any]]:
    """Check the shape of each ``similar_playlists`` entry: a mapping with
    a ``name`` and ``seeds`` (a query string or list), and optionally
    ``count``, ``where``, ``max_per_artist``, ``max_per_album`` and
    ``order``. The values themselves are checked when the playlist is made."""
    key = "similar_playlists"
    entries = parse_entries(key, value, RADIO_PLAYLIST_KEYS, "{name: ..., seeds: ...}")
    for number, entry in enumerate(entries, 1):
        if not str(entry["name"]).strip():
            raise ConfigError(key, f"entry {number}: empty name")
        for count_key in ("count", "max_per_artist", "max_per_album"):
            if entry.get(count_key) is not None:
                parse_count(f"{key}[{number}].{count_key}", entry[count_key])
    return entries


def parse_entries(
    key: str, value: Any, keys: dict[str, bool], shape: str
) -> list[dict[str, Any]]:
    """A list setting of mappings (``similar_playlists``,
    ``family_playlists``): each entry a mapping with no key but ``keys``,
    and every key marked ``True`` there; ``shape`` shows one in messages.

    Raises
    ------
    ConfigError
        Naming the entry (from 1) and what is wrong with it.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(key, f"expected a list of {shape} entries")
    for number, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise ConfigError(key, f"entry {number} is not a mapping")
        unknown = unknown_entry_key(entry, keys, f"entry {number}")
        if unknown:
            raise ConfigError(key, unknown)
        missing = {name for name, needed in keys.items() if needed} - set(entry)
        if missing:
            names = ", ".join(sorted(missing))
            raise ConfigError(key, f"entry {number}: missing {names}")
    return value


#: A time budget: hours, minutes and seconds, each optional, in this order.
_DURATION = re.compile(
    r"\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*m)?"
    r"\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s)?\s*",
    re.IGNORECASE,
)


def parse_duration(key: str, value: Any) -> float | None:
    """``"2h"``, ``"90m"``, ``"45s"``, ``"1h30m"`` or a number of seconds
    -> seconds; ``None`` (no limit) stays ``None``."""
    if value is None:
        return None
    problem = (
        f"{value!r} is not a time like 2h, 90m, 45s or 1h30m (or null for no limit)"
    )
    if isinstance(value, bool):
        raise ConfigError(key, problem)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if not match or not any(match.groupdict().values()):
            raise ConfigError(key, problem)
        h, m, s = (float(match[part] or 0) for part in "hms")
        seconds = 3600 * h + 60 * m + s
    if not seconds > 0:
        raise ConfigError(key, f"{value!r} is not a time of more than 0 seconds")
    return seconds
