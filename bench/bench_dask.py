"""Throughput of `beet musicnn` on the local pool and on loopback Dask workers.

Builds a temporary beets library from real audio (the clips bundled in
``tests/data/music`` and those of ``../shared/audio``, copied under distinct
names until there are ``--items`` tracks), then times ``beet musicnn --force``
(a real ``beet`` process each time) on:

- the local pool with 1 and with 2 worker processes;
- a ``dask scheduler`` on 127.0.0.1 with 1, then 2 ``dask worker --nthreads 1``
  processes started with Dask's command-line tools.

The Dask workers are long-lived, as on a real cluster: an untimed run first
has them load the models; the local pool starts its processes (and loads the
models) inside every timed run, as it does for every `beet musicnn`. Prints
tracks per hour for each, the throughput as a ratio of the local pool with
as many processes measured in the same run ("vs local", above 1 is faster),
and the extra wall time against it ("time +", the Dask path's overhead).

Usage::

    python bench/bench_dask.py [--items 36] [--models msd] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
AUDIO_FOLDERS = (
    REPO_ROOT / "tests" / "data" / "music",
    REPO_ROOT.parent / "shared" / "audio",
)
AUDIO_SUFFIXES = {".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus"}
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def clips() -> list[Path]:
    found = [
        path
        for folder in AUDIO_FOLDERS
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in AUDIO_SUFFIXES
    ]
    if not found:
        sys.exit(f"no audio in {', '.join(map(str, AUDIO_FOLDERS))}")
    return found


def build_library(root: Path, items: int, models: str) -> tuple[Path, float]:
    """A beets library of ``items`` tracks; returns BEETSDIR and audio hours."""
    import soundfile
    from beets.library import Item, Library

    music = root / "music"
    music.mkdir()
    library = Library(str(root / "library.db"), str(music))
    sources = clips()
    seconds = 0.0
    for number in range(items):
        source = sources[number % len(sources)]
        path = music / f"{number:04d}_{source.name}"
        shutil.copy(source, path)
        library.add(Item.from_path(str(path)))
        seconds += soundfile.info(str(path)).duration
    library._close()  # (beets printed its schema migrations above)
    (root / "config.yaml").write_text(
        f"directory: {music}\nlibrary: {root / 'library.db'}\nplugins: musicnn\n"
        f"musicnn:\n  auto: no\n  models: [{models}]\n"
    )
    return root, seconds / 3600


def beet_musicnn(beetsdir: Path, *args: str) -> float:
    """Seconds of one `beet musicnn --force ARGS` run, which must succeed."""
    start = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import beets.ui; beets.ui.main()",
            "musicnn",
            "-f",
            *args,
        ],
        env={**ENV, "BEETSDIR": str(beetsdir)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if run.returncode or " 0 failed" not in run.stdout:
        sys.exit(f"beet musicnn {' '.join(args)} failed:\n{run.stdout}{run.stderr}")
    return seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: str, *args: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [DASK, command, *args, "--no-dashboard"],
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped with its worker process below
        )


def stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=120)


def dask_runs(
    beetsdir: Path, address: str, workers: int, root: Path
) -> dict[str, float]:
    """Seconds of a first run on ``workers`` fresh workers (they load the
    models during it) and of a second one (they have them)."""
    processes = [
        start(
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--nworkers",
            "1",
            log=root / f"worker-{workers}-{number}.log",
        )
        for number in range(workers)
    ]
    try:
        wait_for_workers(address, workers)
        first = beet_musicnn(beetsdir, "--scheduler", address)
        second = beet_musicnn(beetsdir, "--scheduler", address)
    finally:
        stop(processes)
    return {
        f"dask, {workers} workers, first": first,
        f"dask, {workers} workers, warm": second,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=36)
    parser.add_argument("--models", default="msd")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, float] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as temp:
        root = Path(temp)
        beetsdir, audio_hours = build_library(root, args.items, args.models)
        for workers in (1, 2):
            results[f"local, {workers} processes"] = beet_musicnn(
                beetsdir, "-j", str(workers)
            )
        address = f"tcp://127.0.0.1:{free_port()}"
        scheduler_args = ("--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1])
        scheduler = start("scheduler", *scheduler_args, log=root / "scheduler.log")
        try:
            for workers in (1, 2):
                results.update(dask_runs(beetsdir, address, workers, root))
        finally:
            stop([scheduler])
    load_after = os.getloadavg()

    print(
        f"{args.items} tracks, {audio_hours * 60:.1f} min of audio, models "
        f"{args.models}; {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"{'run':<28} {'seconds':>8} {'tracks/h':>9} {'vs local':>9} {'time +':>7}")
    for name, seconds in results.items():
        processes = name.split(", ")[1].split()[0]
        local = results[f"local, {processes} processes"]
        print(
            f"{name:<28} {seconds:8.1f} {args.items / seconds * 3600:9.0f} "
            f"{local / seconds:9.2f} {seconds / local - 1:+7.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps({"items": args.items, "seconds": results}))


if __name__ == "__main__":
    main()
