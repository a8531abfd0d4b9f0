"""Speed and memory of the analysis engine, one process on one core.

Runs every contender on the same folder of audio, each in its own process
pinned to one CPU core, and prints per-stage seconds and end-to-end speed as
multiples of real time, plus ratios between contenders measured in this run:

- ``onnx``: our pipeline (soundfile + soxr, our log-mel, ONNX Runtime);
- ``essentia``: our pipeline with the essentia-tensorflow backend;
- ``essentia-per-file``: Essentia's documented usage, ``MonoLoader`` +
  ``TensorflowPredictMusiCNN`` on the same frozen graph, same patch hop;
- ``model-only``: ONNX Runtime on precomputed patches (the ceiling).

Then it measures peak RSS while our pipeline analyses a 60-minute file.

Usage::

    python bench/bench_engine.py [FOLDER] [--models msd] [--repeat 2]
        [--memory-minutes 60] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AUDIO_SUFFIXES = {".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus", ".aiff"}
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = REPO_ROOT.parent / "shared" / "audio"
CONTENDERS = ("model-only", "onnx", "essentia", "essentia-per-file")


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- contenders: each runs inside a child process pinned to one core ---------


def run_ours(files, models, backend, repeat):
    from beetsplug.musicnn.engine.analysis import analyze

    analyze(files[0], models, backend=backend)  # load the models outside the clock
    stages = {"decode": 0.0, "features": 0.0, "inference": 0.0}
    audio_seconds = patches = 0
    start = time.perf_counter()
    for _ in range(repeat):
        for path in files:
            result = analyze(path, models, backend=backend)
            for stage, seconds in result.timings.items():
                stages[stage] += seconds
            audio_seconds += result.duration
            patches += result[models[0]].n_patches
    wall = time.perf_counter() - start
    return {"wall": wall, "audio": audio_seconds, "patches": patches, "stages": stages}


def run_model_only(files, models, repeat):
    from beetsplug.musicnn.engine import audio, features
    from beetsplug.musicnn.engine.backends import load_backend

    inputs = []
    audio_seconds = 0.0
    for path in files:
        y = audio.load_audio(path)
        audio_seconds += len(y) / 16000
        inputs.append(features.patches(features.log_mel_spectrogram(y)))
    runners = [load_backend("onnx", model) for model in models]
    for runner in runners:
        runner.predict(inputs[0])
    start = time.perf_counter()
    for _ in range(repeat):
        for batch in inputs:
            for runner in runners:
                runner.predict(batch)
    wall = time.perf_counter() - start
    patches = repeat * sum(len(batch) for batch in inputs)
    return {"wall": wall, "audio": repeat * audio_seconds, "patches": patches}


def run_essentia_per_file(files, models, repeat):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import essentia
    import essentia.standard as es

    from beetsplug.musicnn.engine.models import get_model

    essentia.log.infoActive = essentia.log.warningActive = False
    taggers = [
        es.TensorflowPredictMusiCNN(
            graphFilename=str(get_model(model).tf_graph_path),
            output="model/Sigmoid",
            patchHopSize=187,
        )
        for model in models
    ]

    def tag(path):
        y = es.MonoLoader(filename=str(path), sampleRate=16000, resampleQuality=4)()
        for tagger in taggers:
            scores = tagger(y)
        return len(y) / 16000, len(scores)

    tag(files[0])
    audio_seconds = patches = 0
    start = time.perf_counter()
    for _ in range(repeat):
        for path in files:
            seconds, n = tag(path)
            audio_seconds += seconds
            patches += n
    wall = time.perf_counter() - start
    return {"wall": wall, "audio": audio_seconds, "patches": patches}


def run_contender(name, files, models, repeat):
    if name == "model-only":
        return run_model_only(files, models, repeat)
    if name == "essentia-per-file":
        return run_essentia_per_file(files, models, repeat)
    return run_ours(files, models, name, repeat)


def run_memory(path, models):
    from beetsplug.musicnn.engine.analysis import analyze

    before = peak_rss_mb()
    result = analyze(path, models)
    return {"audio": result.duration, "rss_before_mb": before}


# --- the parent: orchestrates pinned children and prints the report ---------


def repo_environment(**variables: str) -> dict[str, str]:
    """This environment, with this checkout first on ``PYTHONPATH`` (so the
    package is importable without installing it), plus ``variables``."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **variables)


def in_child(task: dict, cores: set[int] | None = None) -> dict:
    """Run ``task`` in a fresh interpreter, restricted to ``cores`` if given."""
    env = repo_environment(OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    if cores is None:  # let the contender use every core its own way
        del env["OMP_NUM_THREADS"]
    command = [sys.executable, __file__, "--child", json.dumps(task)]
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{task['kind']} failed:\n{done.stderr[-2000:]}")


def in_pinned_child(task: dict, core: int = 0) -> dict:
    """Run ``task`` in a fresh interpreter restricted to one CPU core."""
    return in_child(task, cores={core})


def child_main(task: dict) -> None:
    files = [Path(p) for p in task.get("files", [])]
    models = tuple(task["models"])
    if task["kind"] == "memory":
        out = run_memory(task["path"], models)
    else:
        out = run_contender(task["kind"], files, models, task["repeat"])
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def write_long_file(sources: list[Path], minutes: float, folder: Path) -> Path:
    """A stereo 44.1 kHz FLAC of ``minutes`` of real music: the clips, repeated.

    The usual format of a long track in a collection, whatever the rates of
    the clips; each clip is resampled once, in this (unmeasured) process.
    """
    import itertools

    import numpy as np
    import soundfile as sf
    import soxr

    rate = 44100
    clips = []
    for source in sources:
        y, native_rate = sf.read(source, dtype="float32", always_2d=True)
        stereo = y[:, :2] if y.shape[1] >= 2 else np.repeat(y, 2, axis=1)
        clips.append(soxr.resample(stereo, native_rate, rate))
    target = folder / f"long_{minutes:g}min.flac"
    frames_needed = int(minutes * 60 * rate)
    with sf.SoundFile(target, "w", rate, 2, format="FLAC") as out:
        for clip in itertools.cycle(clips):
            if frames_needed <= 0:
                break
            out.write(clip[:frames_needed])
            frames_needed -= min(len(clip), frames_needed)
    return target


def report_speed(results: dict) -> None:
    print("\nOne process pinned to one core; seconds summed over all files.")
    header = f"{'contender':<18}{'audio s':>9}{'wall s':>9}{'x realtime':>12}"
    print(header + f"{'patches/s':>11}{'peak RSS MB':>13}")
    for name, r in results.items():
        speed = r["audio"] / r["wall"]
        print(
            f"{name:<18}{r['audio']:>9.1f}{r['wall']:>9.2f}{speed:>12.1f}"
            f"{r['patches'] / r['wall']:>11.1f}{r['peak_rss_mb']:>13.0f}"
        )
    for name in ("onnx", "essentia"):
        if name in results:
            stages = results[name]["stages"]
            total = sum(stages.values())
            shares = ", ".join(
                f"{s} {t:.2f} s ({t / total:.0%})" for s, t in stages.items()
            )
            print(f"stages of {name}: {shares}")

    def ratio(a, b):
        if a in results and b in results:
            rate = {k: results[k]["audio"] / results[k]["wall"] for k in (a, b)}
            print(f"{a} / {b}: {rate[a] / rate[b]:.2f}x")

    print()
    ratio("onnx", "essentia-per-file")
    ratio("onnx", "model-only")
    ratio("essentia", "essentia-per-file")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--models", default="msd", help="comma-separated keys")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument(
        "--memory-minutes",
        type=float,
        default=60.0,
        help="length of the long file for peak RSS; 0 skips",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return

    files = audio_files(args.folder)
    if not files:
        parser.error(f"no audio files in {args.folder}")
    models = args.models.split(",")
    print(
        f"{len(files)} files from {args.folder}, models {models}, "
        f"repeat {args.repeat}, CPU cores {os.cpu_count()}"
    )
    results = {}
    for name in filter(None, args.contenders.split(",")):
        task = {
            "kind": name,
            "files": [str(f) for f in files],
            "models": models,
            "repeat": args.repeat,
        }
        try:
            results[name] = in_pinned_child(task)
        except RuntimeError as exc:
            print(f"skipped {name}: {str(exc).splitlines()[-1]}")
    if results:
        report_speed(results)

    if args.memory_minutes:
        with tempfile.TemporaryDirectory() as tmp:
            long_file = write_long_file(files, args.memory_minutes, Path(tmp))
            memory = in_pinned_child(
                {"kind": "memory", "path": str(long_file), "models": models}
            )
        results["memory"] = memory
        print(
            f"\n{memory['audio'] / 60:.1f}-minute file: peak RSS "
            f"{memory['peak_rss_mb']:.0f} MB "
            f"(before the analysis: {memory['rss_before_mb']:.0f} MB)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
