"""How much the musicnn plugin slows down every ``beet`` command.

beets imports every enabled plugin on each invocation, so the plugin must
import nothing heavy (ONNX Runtime, librosa, the pool...) at start-up. This
times ``beet version`` in a throw-away configuration with and without the
plugin, interleaved, and prints the medians and their difference. The budget
is 0.3 s.

    python bench/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 0.3


def beet_version_seconds(config_dir: Path) -> float:
    env = {
        **os.environ,
        "BEETSDIR": str(config_dir),
        # The checkout, whether or not the package is installed.
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [sys.executable, "-c", "import beets.ui; beets.ui.main(['version'])"]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


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
    sys.exit(0 if plugin - base <= BUDGET_SECONDS else 1)


if __name__ == "__main__":
    main()
