"""``beet musicnn-report``: the library as one self-contained HTML page.

beets glue: the items come from a beets query (:mod:`catalog`), the
families from :mod:`family_commands`, the numbers of the page from
:mod:`report_data` and the page itself from :mod:`report_page`. plotly,
umap-learn and scikit-learn (the ``report`` extra) are imported only when a
report is written.
"""

from __future__ import annotations

import os
import shlex
import time
from typing import TYPE_CHECKING, Any

from beets import ui

from ..sound import family_sets as family_commands
from . import similar

if TYPE_CHECKING:
    import numpy as np
    from beets.library import Library

    from ..library.store import ResultStore
    from ..sound.catalog import AnalysedSelection
    from ..sound.family_sets import FamilySet

#: Where the report goes without ``-o``.
DEFAULT_OUTPUT = "musicnn-report.html"


def write_report(
    lib: Library,
    store: ResultStore,
    model: str,
    query: list[str],
    output: str,
    k: int | None = None,
    projection: str = "umap",
) -> dict[str, Any]:
    """Write the report of the items of ``query`` to ``output``; returns
    a summary (``path``, ``items``, ``families``, ``bytes``, ``seconds``, and
    ``timings`` of the stages).

    Raises
    ------
    beets.ui.UserError
        Without the extra, on an empty or unanalysed selection, or if the
        file cannot be written.
    """
    family_commands.require_extra("plotly", "umap", "sklearn")
    from ..report import data as report_data
    from ..report import page as report_page

    started = time.perf_counter()
    selection = family_commands.analysed_or_fail(lib, store, model, query)
    family_set, positions, neighbours, timings = compute(selection, k, projection)
    payload = report_data.build(
        family_set,
        positions,
        neighbours,
        model=model,
        query=shlex.join(query),
        title=_title(query),
        library=os.fsdecode(lib.path),
        timings=timings,
    )
    page = report_page.render(payload)
    target = os.path.abspath(os.path.expanduser(output))
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = target + ".part"
        with open(partial, "w", encoding="utf-8") as out:
            out.write(page)
        os.replace(partial, target)
    except OSError as exc:
        raise ui.UserError(
            f"musicnn: cannot write the report {target}: {exc}"
        ) from None
    return {
        "path": target,
        "items": len(family_set.selection.catalog),
        "families": len(family_set.families),
        "bytes": len(page.encode("utf-8")),
        "seconds": time.perf_counter() - started,
        "timings": payload["timings"],
    }


def compute(
    selection: AnalysedSelection, k: int | None, method: str = "umap"
) -> tuple[FamilySet, np.ndarray, tuple[np.ndarray, np.ndarray], dict[str, float]]:
    """The families, the map and the nearest neighbours of ``selection``.

    The map is made in a second thread while this one makes the families
    and the neighbours: UMAP's layout runs on one core (a fixed seed makes it
    single-threaded, for a reproducible map), so on two cores the other
    stages cost no extra time. Returns them with the seconds of each stage.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..report.data import NEIGHBOURS
    from ..sound import families, projection, similarity

    try:  # before the map starts: a bad -k fails at once
        families.check_size(len(selection.catalog), k)
    except ValueError as exc:
        raise ui.UserError(f"musicnn: cannot make families: {exc}") from None
    families.import_libraries()  # not in two threads at once
    projection.import_libraries()
    timings: dict[str, float] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        result = function(*args)
        timings[name] = time.perf_counter() - started
        return result

    with ThreadPoolExecutor(max_workers=1) as pool:
        positions = pool.submit(
            timed, "projection", projection.project, selection.vectors, method
        )
        family_set = timed("families", family_commands.families_of, selection, k)
        neighbours = timed(
            "neighbours",
            similarity.nearest_neighbours,
            selection.vectors,
            NEIGHBOURS,
        )
        return family_set, positions.result(), neighbours, timings


def _title(query: list[str]) -> str:
    return f"your library: {' '.join(query)}" if query else "your library"


def report_subcommand(plugin: Any) -> ui.Subcommand:
    """``beet musicnn-report``: write the map, charts and families as HTML."""
    command = ui.Subcommand(
        "musicnn-report", help="write an HTML map and charts of what MusicNN heard"
    )
    parser = command.parser
    parser.usage = (
        "beet musicnn-report [options] [QUERY]\n"
        "Write one self-contained HTML page (it works offline) of the items "
        "matching QUERY (all without one): a map by sound, charts of the "
        "labels, and the sound-alike families."
    )
    parser.add_option(
        "-o",
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="FILE",
        help=f"the HTML file to write (default: {DEFAULT_OUTPUT})",
    )
    parser.add_option(
        "-k",
        "--families",
        dest="k",
        type="int",
        metavar="N",
        help="draw N families (default: chosen automatically)",
    )

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        summary = write_report(
            lib,
            plugin.store(lib),
            similar.radio_model(plugin.config),
            args,
            opts.output,
            opts.k,
        )
        ui.print_(
            f"musicnn: wrote {summary['path']} ({summary['items']:,} items, "
            f"{summary['families']} "
            f"{'family' if summary['families'] == 1 else 'families'}, "
            f"{summary['bytes'] / 2**20:.1f} MB, "
            f"{summary['seconds']:.1f} s)"
        )

    command.func = run
    return command
