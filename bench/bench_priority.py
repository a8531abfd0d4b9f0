"""How much a scan slows down what the user is doing, with and without `nice`.

A foreground task (a fixed pure-Python loop, one thread, normal priority:
what a desktop program or a media server does between waits) is timed:

- alone (the baseline, measured again right before each scan);
- while a real ``beet musicnn -j 2 --force`` scans a temporary library with
  ``nice: yes`` (the default: workers at niceness 19, idle I/O class, and on
  Linux with autogroup scheduling a session of their own at niceness 19);
- the same with ``nice: no``.

The scan runs in a session of its own (``start_new_session``), as a scan
started from another terminal, by cron or by a service does; ``--same-session``
runs it in this benchmark's session instead. Each foreground measurement is
the median of ``--repeat`` runs of the loop; the scan's CPU use during it is
the workers' CPU seconds over the wall seconds (in cores). The result is the
slowdown ratio against the adjacent baseline, per round and as the median of
``--rounds`` rounds (the order of the two scans alternates between rounds).

On Linux with autogroup scheduling each round also times the foreground task
beside two CPU-bound processes at niceness 19 in a session of their own,
with and without that session's autogroup niceness set to 19: niceness alone
orders processes only within a session, which is why the workers take a
session of their own and lower its group (``priority.py``).

Run it at normal priority (not under ``nice``), on a machine as quiet as you
can make it; say in the docs if it was not.

Usage::

    python bench/bench_priority.py [FOLDER...] [--items 300] [--repeat 5]
        [--loop 6000000] [--rounds 3] [--same-session]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_engine import audio_files, repo_environment
from bench_library import DEFAULT_FOLDERS, build_library, fresh_copy

#: Seconds a worker needs after it appears to load its models and start on
#: a file; the foreground task is timed only once the scan is in full swing.
WARM_UP = 4.0


def foreground_task(loop: int) -> float:
    """Seconds one pass of a fixed CPU-bound pure-Python loop takes."""
    start = time.perf_counter()
    total = 0
    for i in range(loop):
        total += i * i % 7
    return time.perf_counter() - start


def timed(loop: int, repeat: int) -> float:
    return statistics.median(foreground_task(loop) for _ in range(repeat))


def workers_of(process: psutil.Process) -> list[psutil.Process]:
    workers = []
    for child in process.children():
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if "multiprocessing" in command and "resource_tracker" not in command:
                workers.append(child)
    return workers


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def during_scan(
    config: Path, nice: bool, loop: int, repeat: int, same_session: bool
) -> tuple[float, float, list[int]]:
    """The foreground time during a ``beet musicnn -j 2`` scan, the scan's
    CPU use meanwhile (cores), and the workers' niceness."""
    with config.open("a") as text:
        text.write(f"  nice: {'yes' if nice else 'no'}\n")
    command = [
        sys.executable, "-m", "beets", "-c", str(config),
        "musicnn", "-j", "2", "--force",
    ]  # fmt: skip
    scan = subprocess.Popen(
        command,
        env=repo_environment(BEETSDIR=str(config.parent)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=not same_session,
    )
    try:
        main = psutil.Process(scan.pid)
        deadline = time.monotonic() + 60
        while len(workers := workers_of(main)) < 2:
            if scan.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the scan did not start two workers")
            time.sleep(0.05)
        time.sleep(WARM_UP)
        niceness = [worker.nice() for worker in workers]
        cpu_before, wall_before = cpu_seconds(workers), time.perf_counter()
        seconds = timed(loop, repeat)
        cores = (cpu_seconds(workers) - cpu_before) / (
            time.perf_counter() - wall_before
        )
        if scan.poll() is not None:
            raise RuntimeError("the scan ended before the measurement: use --items")
    finally:
        if scan.poll() is None:
            # Ctrl-C for the scan: it saves what finished and exits 130.
            if same_session:
                scan.send_signal(signal.SIGINT)
            else:
                os.killpg(scan.pid, signal.SIGINT)
        scan.wait(timeout=60)
    return seconds, cores, niceness


#: A CPU-bound process at niceness 19, in the session it is started in; with
#: "autogroup" it also sets its session's autogroup to niceness 19, as the
#: workers do (priority._own_autogroup).
SPINNER = """
import os, sys
os.setpriority(os.PRIO_PROCESS, 0, 19)
if sys.argv[1] == "autogroup":
    with open("/proc/self/autogroup", "w") as group:
        group.write("19")
while True:
    pass
"""


def during_spinners(mode: str, loop: int, repeat: int) -> float:
    """The foreground time while two nice CPU-bound processes run in a
    session of their own: why niceness alone is not enough with autogroup."""
    spinners = [
        subprocess.Popen(
            [sys.executable, "-c", SPINNER, mode], start_new_session=True
        )
        for _ in range(2)
    ]
    try:
        time.sleep(0.5)
        return timed(loop, repeat)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=DEFAULT_FOLDERS)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop", type=int, default=6_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--same-session", action="store_true")
    args = parser.parse_args()
    folders = [folder for folder in args.folders if folder.is_dir()]
    files = [path for folder in folders for path in audio_files(folder)]
    if not files:
        sys.exit("no audio files in " + ", ".join(map(str, args.folders)))

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    print(f"foreground: median of {args.repeat} passes of a {args.loop:,}-step loop")
    session = "this session" if args.same_session else "a session of its own"
    print(f"scan: beet musicnn -j 2 --force on {args.items} items, in {session}")
    print(f"{args.rounds} rounds, each: baseline, scan, for nice yes then no")
    rows: dict[bool, list[tuple[float, float, float, list[int]]]] = {
        True: [],
        False: [],
    }
    autogroup = Path("/proc/self/autogroup").exists()
    spinner_rows: dict[str, list[float]] = {"nice only": [], "autogroup": []}
    with tempfile.TemporaryDirectory() as folder:
        with contextlib.redirect_stdout(io.StringIO()):  # beets' migrations
            config, _ = build_library(files, args.items, Path(folder) / "base")
        timed(args.loop, 1)  # warm the interpreter
        for round_ in range(args.rounds):
            # Alternate the order, so that a load that grows or shrinks
            # during the run does not favour one side.
            order = (True, False) if round_ % 2 == 0 else (False, True)
            for nice in order:
                baseline = timed(args.loop, args.repeat)
                copy = fresh_copy(config, Path(folder) / f"run{round_}{nice}")
                seconds, cores, niceness = during_scan(
                    copy, nice, args.loop, args.repeat, args.same_session
                )
                rows[nice].append((baseline, seconds, cores, niceness))
            if autogroup:
                for mode in ("nice only", "autogroup"):
                    baseline = timed(args.loop, args.repeat)
                    seconds = during_spinners(mode, args.loop, args.repeat)
                    spinner_rows[mode].append(seconds / baseline)

    print()
    print(f"{'scan':<11}{'round':>6}{'baseline s':>11}{'during s':>10}"
          f"{'slowdown':>10}{'scan cores':>12}  worker nice")  # fmt: skip
    for nice, measures in rows.items():
        label = "nice: yes" if nice else "nice: no"
        for number, (baseline, seconds, cores, niceness) in enumerate(measures):
            print(
                f"{label:<11}{number + 1:>6}{baseline:>11.2f}{seconds:>10.2f}"
                f"{seconds / baseline:>9.2f}x{cores:>12.2f}  {niceness}"
            )
    print()
    for nice, measures in rows.items():
        label = "nice: yes" if nice else "nice: no"
        slowdown = statistics.median(s / b for b, s, _, _ in measures)
        cores = statistics.median(c for _, _, c, _ in measures)
        print(
            f"{label}: median slowdown {slowdown:.2f}x, "
            f"scan used {cores:.2f} cores meanwhile"
        )
    for mode, ratios in spinner_rows.items():
        if ratios:
            label = {
                "nice only": "niceness 19 only",
                "autogroup": "niceness 19 and its autogroup at 19",
            }[mode]
            print(
                f"2 CPU-bound processes in their own session, {label}: slowdown "
                f"{statistics.median(ratios):.2f}x "
                f"({', '.join(f'{r:.2f}' for r in ratios)})"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
