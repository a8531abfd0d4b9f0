"""Throughput of a full-library scan, against what users would run instead.

Builds a temporary beets library of ``--items`` items from the audio files
under the given folders (each file repeated under distinct paths, as hard
links), then, in one run and on the same files:

- ``model-only``: ONNX Runtime on precomputed patches, one process pinned to
  one core: the ceiling of one worker;
- ``beet musicnn -j K`` for every K of ``--workers``: the real command in a
  subprocess, sampled every 0.1 s with psutil for the peak RSS of the main
  process plus its workers and for each worker's CPU time (utilisation);
  ``beet -v`` reports the seconds the workers spent per stage and the seconds
  the main process spent saving results;
- ``essentia-per-file``: Essentia's documented usage (``MonoLoader`` +
  ``TensorflowPredictMusiCNN``, same patch hop) in a loop over the files,
  unpinned: TensorFlow's own threads use every core;
- ``musicnn-tagger``: the original ``musicnn.extractor.extractor`` in a loop,
  in the reference environment made by ``tools/make_reference_env.sh``
  (``--reference-python``; skipped with a message when absent), unpinned;
- with ``--fast``, ``beet musicnn --fast`` with the most workers that fit the
  cores (fast mode only differs on tracks longer than its patch budget).

With ``--shares 0.25,0.34,1`` it measures only the cost of the label
defaults instead: ``beet musicnn -m msd`` (the old default) and ``beet
musicnn -m msd,mtt`` with ``patch_share: {mtt: S}`` for each share ``S``, on
fresh copies of one library, the most workers that fit the cores, in
``--rounds`` rotated rounds, and prints each one's CPU time (which other
processes on a shared machine disturb much less) and wall time against
``-m msd`` of the same round (issue 10 allows the new default at most 1.4x).

The baselines loop once over the distinct files; the library repeats the same
files, so every contender sees the same mix of tracks and rates compare as
audio hours per wall hour. The result is ratios, not absolute times.

Usage::

    python bench/bench_library.py [FOLDER...] [--items 240] [--workers 1,2,3]
        [--models msd] [--reference-python .venv-reference/bin/python] [--fast]
        [--plot docs/throughput_vs_workers.png] [--json results.json]
    python bench/bench_library.py [FOLDER...] --shares 0.25,0.34,0.5,1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from bench_engine import REPO_ROOT, audio_files, in_child, repo_environment

DEFAULT_FOLDERS = (
    REPO_ROOT.parent / "shared" / "audio",
    REPO_ROOT / "tests" / "data" / "music",
)
DEFAULT_REFERENCE_PYTHON = REPO_ROOT / ".venv-reference" / "bin" / "python"
#: psutil sampling period of a `beet musicnn` run, in seconds.
SAMPLE_EVERY = 0.1
#: Targets of issue 4 for the default worker count.
TARGETS = {"model-only ceiling": 0.8, "essentia-per-file": 2.0, "musicnn-tagger": 3.0}


@dataclass
class Measure:
    """One contender's run: audio seconds done in ``wall`` seconds."""

    audio: float
    wall: float
    tracks: int
    peak_rss_mb: float = 0.0
    #: CPU seconds (user + system) of the workers, and of the main process.
    worker_cpu: float = 0.0
    main_cpu: float = 0.0
    workers: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    saving: float = 0.0

    @classmethod
    def of_baseline(cls, result: dict, tracks: int) -> Measure:
        """From the dict a baseline's child process printed."""
        return cls(
            audio=result["audio"],
            wall=result["wall"],
            tracks=tracks,
            peak_rss_mb=result.get("peak_rss_mb", 0.0),
        )

    @property
    def rate(self) -> float:
        """Audio hours per wall hour (multiples of real time)."""
        return self.audio / self.wall

    @property
    def tracks_per_hour(self) -> float:
        return 3600 * self.tracks / self.wall

    @property
    def utilisation(self) -> float:
        """Share of the workers' wall time they spent on a CPU."""
        return self.worker_cpu / (self.workers * self.wall) if self.workers else 0.0


# --- the library --------------------------------------------------------------


def build_library(files: list[Path], items: int, folder: Path) -> tuple[Path, float]:
    """A beets library of ``items`` items in ``folder``: its config file and
    the seconds of audio it holds."""
    from beets.library import Item, Library

    music = folder / "music"
    music.mkdir(parents=True)
    lib = Library(str(folder / "library.db"), str(music))
    audio_seconds = 0.0
    for n in range(items):
        source = files[n % len(files)]
        copy = music / f"{n:06d}_{source.name}"
        try:
            os.link(source, copy)
        except OSError:  # another file system
            shutil.copyfile(source, copy)
        item = Item.from_path(str(copy))
        lib.add(item)
        audio_seconds += item.length
    lib._close()
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(f"""\
            directory: {music}
            library: {folder / "library.db"}
            plugins: musicnn
            musicnn:
              auto: no
            """)
    )
    return config, audio_seconds


def fresh_copy(config: Path, into: Path, musicnn: str = "") -> Path:
    """The library of ``config`` with nothing analysed, in ``into``;
    ``musicnn`` is YAML added to its ``musicnn`` section."""
    into.mkdir()
    shutil.copyfile(config.parent / "library.db", into / "library.db")
    text = config.read_text().replace(
        str(config.parent / "library.db"), str(into / "library.db")
    )
    copy = into / "config.yaml"
    copy.write_text(text + textwrap.indent(musicnn, "  "))
    return copy


def compare_shares(
    config: Path,
    audio: float,
    workers: int,
    shares: list[float],
    tmp: Path,
    rounds: int = 1,
) -> dict[str, dict[str, float]]:
    """``-m msd`` against ``-m msd,mtt`` with each MTT patch share, in one run.

    Each round runs every contender once on a fresh copy of the library, in
    a rotated order, so that a change of the machine's load during the run
    falls on all of them. The cost of each is reported against ``-m msd``
    of the same round, as wall time and as CPU time (workers + main
    process), which other processes on a shared machine disturb much less;
    the medians over the rounds are returned.
    """
    contenders = [("msd", ["msd"], "")] + [
        (f"msd+mtt/{share:g}", ["msd", "mtt"], f"patch_share:\n  mtt: {share:g}\n")
        for share in shares
    ]
    ratios: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name, _, _ in contenders[1:]
    }
    for number in range(rounds):
        order = contenders[number % len(contenders):] + contenders[
            : number % len(contenders)
        ]
        measures = {}
        for name, models, extra in order:
            library = fresh_copy(config, tmp / f"r{number}-{name.replace('/', '_')}",
                                 extra)
            measures[name] = run = run_beet_musicnn(library, audio, workers, models)
            print(f"  round {number + 1}, {name}: {run.wall:.1f} s wall, "
                  f"{run.worker_cpu + run.main_cpu:.1f} s CPU")
        base = measures["msd"]
        for name in ratios:
            run = measures[name]
            ratios[name]["wall"].append(run.wall / base.wall)
            ratios[name]["cpu"].append(
                (run.worker_cpu + run.main_cpu) / (base.worker_cpu + base.main_cpu)
            )
    summary = {}
    for name, values in ratios.items():
        wall = statistics.median(values["wall"])
        cpu = statistics.median(values["cpu"])
        summary[name] = {"wall": wall, "cpu": cpu}
        print(f"  {name}: {cpu:.2f}x the CPU time of -m msd, {wall:.2f}x its wall "
              f"time (medians of {rounds} rounds)")
    return summary


# --- contenders -----------------------------------------------------------------


def run_beet_musicnn(
    config: Path, audio_seconds: float, workers: int, models: list[str], *extra: str
) -> Measure:
    """``beet -v musicnn -j workers [extra]``, watched from outside with psutil."""
    command = [
        sys.executable, "-m", "beets", "-v", "-c", str(config),
        "musicnn", "-j", str(workers), "-m", ",".join(models), *extra,
    ]  # fmt: skip
    env = repo_environment(BEETSDIR=str(config.parent))
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    main = psutil.Process(process.pid)
    peak_rss = 0
    worker_cpu: dict[int, float] = {}
    main_cpu = 0.0
    while process.poll() is None:
        try:
            children = main.children(recursive=True)
            rss = main.memory_info().rss
            times = main.cpu_times()
            main_cpu = times.user + times.system
        except psutil.NoSuchProcess:
            break
        for child in children:
            try:
                rss += child.memory_info().rss
                times = child.cpu_times()
                worker_cpu[child.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        peak_rss = max(peak_rss, rss)
        time.sleep(SAMPLE_EVERY)
    output = process.stdout.read()
    wall = time.perf_counter() - start
    if process.wait() != 0:
        raise RuntimeError(f"beet musicnn failed:\n{output[-2000:]}")
    return Measure(
        audio=audio_seconds,
        wall=wall,
        tracks=int(_search(r"analysed ([\d,]+) track", output).replace(",", "")),
        peak_rss_mb=peak_rss / 2**20,
        worker_cpu=sum(worker_cpu.values()),
        main_cpu=main_cpu,
        workers=workers,
        stages={
            stage: float(seconds)
            for stage, seconds in re.findall(r"(\w+) ([\d.]+) s \(\d+%\)", output)
        },
        saving=float(_search(r"saving results: ([\d.]+) s", output)),
    )


def _search(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in the output of beet:\n{text[-2000:]}")
    return match.group(1)


TAGGER_SCRIPT = """
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import librosa
from musicnn.extractor import extractor
files, model = json.loads(sys.argv[1]), sys.argv[2]
tag = lambda path: extractor(path, model=model, input_length=3, input_overlap=False,
                             extract_features=False)[0]
tag(files[0])
audio = patches = 0
start = time.perf_counter()
for path in files:
    patches += len(tag(path))
    audio += librosa.get_duration(path=path)
print(json.dumps({"wall": time.perf_counter() - start, "audio": audio,
                  "patches": patches}))
"""

TAGGER_MODELS = {"msd": "MSD_musicnn", "mtt": "MTT_musicnn"}


def run_musicnn_tagger(python: Path, files: list[Path], models: list[str]) -> dict:
    """The original tagger, once per model per file, as its README shows."""
    total = {"wall": 0.0, "audio": 0.0, "patches": 0}
    for model in models:
        done = subprocess.run(
            [str(python), "-c", TAGGER_SCRIPT, json.dumps(list(map(str, files))),
             TAGGER_MODELS[model]],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            raise RuntimeError(done.stderr.strip().splitlines()[-1])
        one = json.loads(lines[-1])
        total["wall"] += one["wall"]
        total["audio"] = one["audio"]
        total["patches"] += one["patches"]
    return total


# --- the report -------------------------------------------------------------------


def report(runs: dict[int, Measure], baselines: dict[str, Measure], k: int) -> dict:
    """Print the table and the ratios of ``beet musicnn -j k``; return the ratios."""
    print(
        f"\n{'contender':<22}{'tracks/h':>10}{'audio h/h':>11}{'util':>7}"
        f"{'peak RSS MB':>13}{'main CPU s':>12}"
    )
    rows = {**baselines, **{f"beet musicnn -j {n}": run for n, run in runs.items()}}
    for name, row in rows.items():
        util = f"{row.utilisation:.0%}" if row.workers else ""
        main_cpu = f"{row.main_cpu:.1f}" if row.workers else ""
        print(
            f"{name:<22}{row.tracks_per_hour:>10,.0f}{row.rate:>11.1f}{util:>7}"
            f"{row.peak_rss_mb:>13.0f}{main_cpu:>12}"
        )
    run = runs[k]
    analysing = sum(run.stages.values())
    shares = ", ".join(f"{s} {t / analysing:.0%}" for s, t in run.stages.items())
    print(
        f"\n-j {k}: workers analysing {analysing / (k * run.wall):.0%} of their "
        f"wall time ({shares}), on a CPU {run.utilisation:.0%}; the main process "
        f"used {run.main_cpu:.1f} CPU s, {run.saving:.1f} s of it saving results"
    )
    ceiling = k * baselines["model-only"].rate
    ratios = {"model-only ceiling": run.rate / ceiling}
    ratios |= {
        name: run.rate / baselines[name].rate
        for name in ("essentia-per-file", "musicnn-tagger")
        if name in baselines
    }
    print(f"\nbeet musicnn -j {k} against (targets in brackets):")
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio:.2f}x (>= {TARGETS[name]:.1f}x)")
    if 1 in runs and k != 1:
        print(f"  beet musicnn -j 1: {run.rate / runs[1].rate:.2f}x")
    every_core = f"model-only x {os.cpu_count() or 1} cores"
    if every_core in baselines:
        ratios["hardware scaling"] = (
            baselines[every_core].rate / baselines["model-only"].rate
        )
        print(
            f"\nWhere the rest goes: {every_core} runs at "
            f"{ratios['hardware scaling']:.2f}x one core (the hardware's own scaling); "
            f"beet musicnn -j {k} reaches {run.rate / baselines[every_core].rate:.2f} "
            f"of it."
        )
    return ratios


def plot(runs: dict[int, Measure], baselines: dict[str, Measure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(runs)
    cores = os.cpu_count() or 1
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [runs[k].rate for k in ks], "o-", label="beet musicnn -j K")
    ax.plot(
        ks,
        [min(k, cores) * baselines["model-only"].rate for k in ks],
        "k--",
        label="min(K, cores) x model-only rate of one core",
    )
    for name, color, style in (
        ("essentia-per-file", "tab:red", ":"),
        ("musicnn-tagger", "tab:green", "-."),
    ):
        if name in baselines:
            ax.axhline(
                baselines[name].rate,
                color=color,
                linestyle=style,
                label=f"{name} (all cores)",
            )
    ax.set_xlabel("worker processes K")
    ax.set_ylabel("audio hours per wall hour")
    ax.set_xticks(ks)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Library scan throughput, {cores}-core CPU")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot written to {path}")


def model_only_on_every_core(task: dict, cores: int) -> dict:
    """``model-only`` on each core at once: what the hardware gives when every
    core computes (shared caches, memory bandwidth, a VM's vCPUs)."""
    with ThreadPoolExecutor(cores) as threads:
        results = list(
            threads.map(lambda core: in_child(task, cores={core}), range(cores))
        )
    return {
        "audio": sum(r["audio"] for r in results),
        "wall": max(r["wall"] for r in results),
        "peak_rss_mb": sum(r["peak_rss_mb"] for r in results),
    }


def measure_baselines(
    files: list[Path], models: list[str], reference_python: Path
) -> dict[str, Measure]:
    task = {"files": list(map(str, files)), "models": models, "repeat": 1}
    cores = os.cpu_count() or 1
    contenders = {
        # One pinned core: the ceiling of one worker process.
        "model-only": lambda: in_child({**task, "kind": "model-only"}, cores={0}),
        f"model-only x {cores} cores": lambda: model_only_on_every_core(
            {**task, "kind": "model-only"}, cores
        ),
        # Unpinned: TensorFlow's own threads use every core.
        "essentia-per-file": lambda: in_child({**task, "kind": "essentia-per-file"}),
        "musicnn-tagger": lambda: run_musicnn_tagger(reference_python, files, models),
    }
    baselines = {}
    for name, run in contenders.items():
        if name == "musicnn-tagger" and not reference_python.exists():
            print(
                f"skipped {name}: no reference environment at {reference_python} "
                f"(make it with tools/make_reference_env.sh)"
            )
            continue
        try:
            baselines[name] = Measure.of_baseline(run(), tracks=len(files))
        except RuntimeError as exc:
            print(f"skipped {name}: {str(exc).strip().splitlines()[-1]}")
    if "model-only" not in baselines:
        raise SystemExit("the model-only baseline failed; see above")
    return baselines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=list(DEFAULT_FOLDERS))
    parser.add_argument("--items", type=int, default=240)
    parser.add_argument("--workers", default="1,2", help="comma-separated K values")
    parser.add_argument("--models", default="msd", help="comma-separated keys")
    parser.add_argument(
        "--reference-python", type=Path, default=DEFAULT_REFERENCE_PYTHON
    )
    parser.add_argument(
        "--fast", action="store_true", help="also scan with `beet musicnn --fast`"
    )
    parser.add_argument(
        "--shares", help="only compare -m msd with -m msd,mtt at these MTT shares"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of --shares (default 3)"
    )
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    files = [f for d in args.folders if d.is_dir() for f in audio_files(d)]
    if not files:
        parser.error("no audio files in " + ", ".join(map(str, args.folders)))
    models = args.models.split(",")
    worker_counts = [int(k) for k in args.workers.split(",")]
    cores = os.cpu_count() or 1
    k = max((n for n in worker_counts if n <= cores), default=worker_counts[0])
    print(
        f"{args.items} items from {len(files)} files, models {models}, "
        f"workers {worker_counts}, {cores} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    if args.shares:
        shares = [float(s) for s in args.shares.split(",")]
        with tempfile.TemporaryDirectory(prefix="bench_library_") as tmp:
            config, audio = build_library(files, args.items, Path(tmp) / "template")
            ratios = compare_shares(
                config, audio, k, shares, Path(tmp), rounds=args.rounds
            )
        if args.json:
            args.json.write_text(json.dumps({"ratios": ratios}, indent=2))
        return
    baselines = measure_baselines(files, models, args.reference_python)
    runs: dict[int, Measure] = {}
    with tempfile.TemporaryDirectory(prefix="bench_library_") as tmp:
        config, audio = build_library(files, args.items, Path(tmp) / "template")
        for n in worker_counts:
            library = fresh_copy(config, Path(tmp) / f"j{n}")
            runs[n] = run_beet_musicnn(library, audio, n, models)
        if args.fast:
            library = fresh_copy(config, Path(tmp) / "fast")
            baselines["beet musicnn --fast"] = fast = run_beet_musicnn(
                library, audio, k, models, "--fast"
            )
    ratios = report(runs, baselines, k)
    if args.fast:
        ratios["fast"] = fast.rate / runs[k].rate
        print(f"  --fast -j {k} / faithful -j {k}: {ratios['fast']:.2f}x")
    if args.plot:
        plot(runs, baselines, args.plot)
    if args.json:
        rows = {**baselines, **{f"-j {n}": run for n, run in runs.items()}}
        results = {
            "measures": {
                name: {**asdict(m), "rate": m.rate} for name, m in rows.items()
            },
            "ratios": ratios,
        }
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
