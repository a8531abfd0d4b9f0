"""How much the musicnn plugin slows down every ``beet`` command.

beets imports every enabled plugin on each invocation, so the plugin must
import nothing heavy (ONNX Runtime, librosa, the pool...) at start-up. This
times ``beet version`` in a throw-away configuration with and without the
plugin, interleaved, and prints the medians and their difference. The budget
is 0.3 s.

``beet version`` loads beets' importer, which imports NumPy (through
``lap``), so that whole-process figure cannot show what the plugin itself
imports. The second measure can: in a fresh interpreter that has imported
beets' own modules, the time to import the plugin, and whether that pulled
in NumPy. With ``--baseline CHECKOUT`` (another clone or worktree, e.g. the
main branch) the same is measured for its plugin, interleaved, and the ratio
printed.

    python bench/bench_startup.py [--runs 20] [--baseline ../main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 0.3

#: Imports the plugin after what beets itself imports on every command (its
#: UI, library and plugin loader), and reports the seconds it took and
#: whether NumPy was imported by it.
IMPORT_PLUGIN = """
import json, sys, time
import beets.ui, beets.library, beets.plugins
before = "numpy" in sys.modules
start = time.perf_counter()
import beetsplug.musicnn.plugin
seconds = time.perf_counter() - start
print(json.dumps([seconds, not before and "numpy" in sys.modules]))
"""


def checkout_env(checkout: Path) -> dict[str, str]:
    """The environment that imports beetsplug.musicnn from ``checkout``,
    whether or not (and wherever) the package is installed."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(checkout), os.environ.get("PYTHONPATH")])
        ),
    }


def beet_version_seconds(config_dir: Path) -> float:
    env = {**checkout_env(REPO_ROOT), "BEETSDIR": str(config_dir)}
    command = [sys.executable, "-c", "import beets.ui; beets.ui.main(['version'])"]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def plugin_import(checkout: Path) -> tuple[float, bool]:
    """Seconds to import the plugin of ``checkout`` after beets' modules,
    and whether that imported NumPy."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PLUGIN],
        env=checkout_env(checkout),
        check=True,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    seconds, numpy = json.loads(done.stdout)
    return seconds, numpy


def make_config(folder: Path, plugins: str) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text(
        f"directory: {folder / 'music'}\nlibrary: {folder / 'library.db'}\n"
        f"plugins: [{plugins}]\n"
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose plugin import to compare"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        without = make_config(Path(tmp) / "without", "")
        with_plugin = make_config(Path(tmp) / "with", "musicnn")
        beet_version_seconds(without)  # warm the file cache and bytecode
        beet_version_seconds(with_plugin)
        times: dict[Path, list[float]] = {without: [], with_plugin: []}
        for _ in range(args.runs):  # interleaved, so drift hits both
            for config in times:
                times[config].append(beet_version_seconds(config))
    base = statistics.median(times[without])
    plugin = statistics.median(times[with_plugin])
    print(f"beet version without musicnn: {base:.3f} s (median of {args.runs})")
    print(f"beet version with musicnn:    {plugin:.3f} s")
    print(f"overhead: {plugin - base:+.3f} s (budget {BUDGET_SECONDS} s)")

    checkouts = {"this checkout": REPO_ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    for checkout in checkouts.values():
        plugin_import(checkout)  # bytecode and file cache
    imports: dict[str, list[tuple[float, bool]]] = {name: [] for name in checkouts}
    for _ in range(args.runs):
        for name, checkout in checkouts.items():
            imports[name].append(plugin_import(checkout))
    medians = {}
    for name, runs in imports.items():
        medians[name] = statistics.median(seconds for seconds, _ in runs)
        numpy = "imports NumPy" if any(n for _, n in runs) else "no NumPy"
        print(
            f"importing the plugin after beets' modules, {name}: "
            f"{1000 * medians[name]:.1f} ms (median of {args.runs}; {numpy})"
        )
    if args.baseline:
        print(
            f"plugin import vs baseline: "
            f"{medians['this checkout'] / medians['baseline']:.2f}x"
        )
    sys.exit(0 if plugin - base <= BUDGET_SECONDS else 1)


if __name__ == "__main__":
    main()
