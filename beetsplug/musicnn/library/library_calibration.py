"""Calibration to the user's own library: fit, save, and choose which is in force.

``beet musicnn --calibrate`` refits :meth:`Calibration.fit` on the raw
song-level scores in the library's result store (no audio is decoded) and
saves it beside the library database as ``<library stem>.musicnn-calibration.
json`` (``library.db`` -> ``library.musicnn-calibration.json``). With the
default setting ``calibration: auto`` (or ``library``) the strengths are then
percentiles against the user's own library ("happier than 90 % of *your*
music") rather than against the shipped reference corpus.

A fit on too few tracks moves strengths with every new album: below
:data:`MIN_ITEMS` analysed items ``--calibrate`` refuses, saying how many
there are. The minimum comes from ``bench/bench_calibration_stability.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from os import PathLike, fsdecode
from pathlib import Path
from typing import TYPE_CHECKING

from beets import logging
from beets.ui import UserError

from ..labels.fields import model_versions

# settings.py reads SOURCES at plugin load, so NumPy (through
# labels.calibration) is imported only by the functions that fit or load.
if TYPE_CHECKING:
    import numpy as np

    from ..labels.calibration import Calibration
    from .store import ResultStore

log = logging.getLogger("beets.musicnn")

#: Replaces the library file's suffix: ``library.db`` ->
#: ``library.musicnn-calibration.json``.
CALIBRATION_SUFFIX = ".musicnn-calibration.json"
#: Where strengths come from: the library's own fit when there is one, else
#: the shipped reference corpus (``auto``); or either, pinned.
SOURCES = ("auto", "shipped", "library")
#: Fewest analysed items ``--calibrate`` fits on. Measured with
#: bench/bench_calibration_stability.py on 400 real tracks (docs/fields.md):
#: fitted on 300 tracks drawn from them, even the worst 10 % of 20 fits kept
#: 98 % of all strengths within 0.05 of the fit on all 400 (at 200: 86 %,
#: at 100: 78 %).
MIN_ITEMS = 300


def calibration_path(library_path: str | bytes | PathLike) -> Path | None:
    """The library's own calibration file (None for an in-memory library)."""
    name = fsdecode(library_path)
    if name == ":memory:":
        return None
    path = Path(name).expanduser()
    return path.with_name(path.stem + CALIBRATION_SUFFIX)


def _scores(
    store: ResultStore, model: str, versions: frozenset[str], counter: list[int]
) -> Iterator[np.ndarray]:
    """Scores of ``model``'s results whose part of the version is that of one
    of ``versions`` (a result kept from a run with other models counts)."""
    wanted = {model_versions(version).get(model) for version in versions}
    for result in store.iter_results(model):
        if model_versions(result.version).get(model) in wanted:
            counter[0] += 1
            yield result.scores


def count_fittable(
    store: ResultStore, models: Iterable[str], versions: frozenset[str]
) -> int:
    """Items whose results of every model in ``models`` are of ``versions``
    (the fewest over the models)."""
    counts = []
    for model in models:
        counter = [0]
        for _ in _scores(store, model, versions, counter):
            pass
        counts.append(counter[0])
    return min(counts, default=0)


def fit_library(
    store: ResultStore,
    models: Iterable[str],
    versions: frozenset[str],
    *,
    minimum: int | None = None,
    library_name: str = "library",
) -> Calibration:
    """Fit the calibration on the stored results of ``versions``.

    Only results of the current analysis (``versions``) are used: a mean over
    a share of the patches spreads more than a mean over all of them, so
    mixing analyses would mix two distributions.

    Raises
    ------
    UserError
        With fewer than ``minimum`` (default :data:`MIN_ITEMS`) such items,
        saying how many there are.
    """
    from ..labels.calibration import Calibration

    models = tuple(models)
    minimum = MIN_ITEMS if minimum is None else minimum
    count = count_fittable(store, models, versions)
    if count < minimum:
        raise UserError(
            f"musicnn: --calibrate needs at least {minimum:,} analysed items "
            f"and this library has {count:,} ({'+'.join(models)}, "
            f"{', '.join(sorted(versions))}); a fit on fewer moves with every "
            "album added. Analyse more with `beet musicnn`, or keep "
            "`calibration: shipped`."
        )
    counters = {model: [0] for model in models}
    fitted = Calibration.fit(
        {model: _scores(store, model, versions, counters[model]) for model in models}
    )
    provenance = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pipeline": sorted(versions),
        "sources": [{"name": library_name, "tracks": count}],
    }
    return Calibration(fitted.stats, provenance)


def calibration_in_force(
    source: str, library_path: str | bytes | PathLike, models: Iterable[str]
) -> tuple[Calibration, str]:
    """The calibration in force for ``source`` and where it comes from.

    ``auto`` is the library's own calibration once ``--calibrate`` has
    fitted one, so that a fit takes effect at once, and the shipped one
    before; a fitted file that cannot serve (unreadable, or fitted before a
    model was added) leaves ``auto`` on the shipped calibration, with a
    warning that says to fit again, rather than stopping every command.

    Returns
    -------
    (Calibration, str)
        The calibration, and ``shipped`` or ``library``.

    Raises
    ------
    UserError
        As :func:`load_calibration` for a pinned ``library``.
    """
    from ..labels.calibration import default_calibration

    models = tuple(models)
    if source != "auto":
        return load_calibration(source, library_path, models), source
    path = calibration_path(library_path)
    if path is None or not path.is_file():
        return default_calibration(), "shipped"
    try:
        return load_calibration("library", library_path, models), "library"
    except UserError as problem:
        log.warning(
            "{}; using the shipped calibration until then",
            str(problem).removeprefix("musicnn: "),
        )
        return default_calibration(), "shipped"


def load_calibration(
    source: str, library_path: str | bytes | PathLike, models: Iterable[str]
) -> Calibration:
    """The calibration of a pinned ``source`` (``shipped`` or ``library``).

    Raises
    ------
    UserError
        ``library`` without a fitted file, an unreadable file, or one fitted
        without a model now enabled: each says to run ``--calibrate``.
    """
    from ..labels.calibration import Calibration, default_calibration

    if source == "shipped":
        return default_calibration()
    path = calibration_path(library_path)
    if path is None or not path.is_file():
        raise UserError(
            f"musicnn: `calibration: library` but there is no calibration at "
            f"{path or 'an in-memory library'}: run `beet musicnn --calibrate` "
            "first (or set `calibration: shipped`)"
        )
    try:
        fitted = Calibration.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"musicnn: cannot read the library calibration {path}: {exc}; "
            "run `beet musicnn --calibrate` again"
        ) from None
    missing = [model for model in models if model not in fitted.stats]
    if missing:
        raise UserError(
            f"musicnn: the library calibration {path} has no statistics for "
            f"{', '.join(missing)}: run `beet musicnn --calibrate` again"
        )
    return fitted
