"""Inference speed-ups tried on ONNX Runtime, each against fp32 on real patches.

Prints, per variant of the session or the model, the patches per second on
one core (the median over interleaved rounds, so that load from other
processes hits every variant alike), the ratio to the fp32 baseline measured
in the same run, the session creation time, how much the process's peak RSS
grew when the variant was created and first run (variants run in the order
listed, so this shows only what a variant needs beyond all before it), and
the largest score difference
from fp32 per patch and per track (mean over the track's evaluated patches).
A variant is worth shipping only if it is clearly faster and its per-track
difference stays within 0.01.

Variants:

- ``fp32``: the shipped backend's settings (all graph optimisations);
- ``opt-basic``/``opt-extended``/``opt-off``: lower optimisation levels;
- ``saved-optimised``: the graph optimised once, saved with
  ``optimized_model_filepath`` and loaded with optimisations off;
- ``no-spin``: ``session.intra_op.allow_spinning = 0``;
- ``no-arena``: ``enable_cpu_mem_arena = False``;
- ``denormals-zero``: ``session.set_denormal_as_zero = 1`` (flush-to-zero);
- ``batch-8``: eight patches per call instead of one;
- ``int8-*``: static quantisation (``quantize_static``, MinMax calibration on
  real patches of other tracks than those evaluated): QDQ per tensor, QDQ per
  channel, QOperator per channel, and QDQ per channel of the convolutions only.

Usage::

    python bench/bench_inference.py FOLDER... [--model msd] [--rounds 5]
        [--patches 24] [--no-int8]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# One BLAS thread, as in the pool's workers: set before NumPy loads BLAS. Left
# to itself, OpenBLAS threads each small product of the log-mel of a short
# read and makes it ten times slower on a busy machine.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug.musicnn.engine import audio, features  # noqa: E402
from beetsplug.musicnn.engine.models import INPUT_TENSOR, SCORES_TENSOR, get_model  # noqa: E402

AUDIO_SUFFIXES = {".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus"}
#: The accuracy guard: largest per-track score difference from fp32.
GUARD = 0.01


@dataclass
class Variant:
    name: str
    model_path: str
    options: dict
    config: dict
    batch: int = 1


def real_patches(files: list[Path], per_track: int, seed: int = 0) -> list[np.ndarray]:
    """``per_track`` random patches of each file, one array per file."""
    rng = np.random.default_rng(seed)
    tracks = []
    for path in files:
        batch = features.patches(features.log_mel_spectrogram(audio.load_audio(path)))
        pick = rng.choice(len(batch), min(per_track, len(batch)), replace=False)
        tracks.append(np.ascontiguousarray(batch[np.sort(pick)], np.float32))
    return tracks


def session(variant: Variant):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    for name, value in variant.options.items():
        setattr(options, name, value)
    for key, value in variant.config.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(
        variant.model_path, options, providers=["CPUExecutionProvider"]
    )


def runner(variant: Variant) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """A function scoring patches with ``variant``, and its creation time."""
    start = time.perf_counter()
    sess = session(variant)
    created = time.perf_counter() - start

    def run(patches: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                sess.run(
                    [SCORES_TENSOR], {INPUT_TENSOR: patches[i : i + variant.batch]}
                )[0]
                for i in range(0, len(patches), variant.batch)
            ]
        )

    return run, created


def quantised(source: str, target: str, calibration: np.ndarray, **settings) -> str:
    """Statically quantise ``source`` into ``target``, calibrated on patches."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Patches(CalibrationDataReader):
        def __init__(self):
            self._patches = iter(
                calibration[i : i + 1] for i in range(len(calibration))
            )

        def get_next(self):
            patch = next(self._patches, None)
            return None if patch is None else {INPUT_TENSOR: patch}

    prepared = target + ".pre.onnx"
    if not os.path.exists(prepared):
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
    quantize_static(prepared, target, Patches(), **settings)
    return target


def variants(model_path: str, workdir: str, calibration, with_int8: bool):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType

    level = ort.GraphOptimizationLevel
    saved = os.path.join(workdir, "optimised.onnx")
    optimiser = Variant("", model_path, {"optimized_model_filepath": saved}, {})
    session(optimiser)  # writes the optimised graph
    found = [
        Variant("fp32", model_path, {}, {}),
        *(
            Variant(name, model_path, {"graph_optimization_level": setting}, {})
            for name, setting in (
                ("opt-basic", level.ORT_ENABLE_BASIC),
                ("opt-extended", level.ORT_ENABLE_EXTENDED),
                ("opt-off", level.ORT_DISABLE_ALL),
            )
        ),
        Variant(
            "saved-optimised",
            saved,
            {"graph_optimization_level": level.ORT_DISABLE_ALL},
            {},
        ),
        Variant("no-spin", model_path, {}, {"session.intra_op.allow_spinning": "0"}),
        Variant("no-arena", model_path, {"enable_cpu_mem_arena": False}, {}),
        Variant(
            "denormals-zero", model_path, {}, {"session.set_denormal_as_zero": "1"}
        ),
        Variant("batch-8", model_path, {}, {}, batch=8),
    ]
    if not with_int8:
        return found
    schemes = {
        "int8-qdq": dict(quant_format=QuantFormat.QDQ, per_channel=False),
        "int8-qdq-channel": dict(quant_format=QuantFormat.QDQ, per_channel=True),
        "int8-qop-channel": dict(
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
        ),
        "int8-conv-only": dict(
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            op_types_to_quantize=["Conv"],
        ),
    }
    for name, settings in schemes.items():
        print(f"quantising {name}...", file=sys.stderr)
        path = quantised(
            model_path, os.path.join(workdir, f"{name}.onnx"), calibration, **settings
        )
        found.append(Variant(name, path, {}, {}))
    return found


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--model", default="msd")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--patches", type=int, default=24, help="timed per round")
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--no-int8", dest="int8", action="store_false")
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

    files = sorted(
        path
        for folder in args.folders
        for path in folder.rglob("*")
        if path.suffix.lower() in AUDIO_SUFFIXES
    )[: args.tracks]
    # Calibrate on half of the tracks, evaluate on the other half.
    calibration = np.concatenate(real_patches(files[0::2], 8, seed=1))
    evaluation = real_patches(files[1::2], 12, seed=2)
    timed = np.concatenate(evaluation)[: args.patches]

    with tempfile.TemporaryDirectory() as workdir:
        found = variants(
            str(get_model(args.model).onnx_path), workdir, calibration, args.int8
        )
        runs, created, peak = {}, {}, {}
        for variant in found:
            before = rss_mb()
            runs[variant.name], created[variant.name] = runner(variant)
            runs[variant.name](timed[:8])
            peak[variant.name] = rss_mb() - before
        reference = [runs["fp32"](track) for track in evaluation]
        accuracy = {}
        for name, run in runs.items():
            scored = [run(track) for track in evaluation]
            per_patch = max(
                float(np.abs(s - r).max())
                for s, r in zip(scored, reference, strict=True)
            )
            per_track = max(
                float(np.abs(s.mean(0) - r.mean(0)).max())
                for s, r in zip(scored, reference, strict=True)
            )
            accuracy[name] = (per_patch, per_track)
        speed: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run(timed)
                speed[name].append(len(timed) / (time.perf_counter() - start))

    base = statistics.median(speed["fp32"])
    n_eval = sum(len(track) for track in evaluation)
    print(
        f"{args.model.upper()}, one core, {args.rounds} interleaved rounds of "
        f"{len(timed)} patches; accuracy on {n_eval} patches of {len(evaluation)} "
        f"tracks, calibration on {len(calibration)} patches of other tracks"
    )
    print(
        "| variant | patches/s | vs fp32 | session s | peak RSS growth MB "
        "| max diff / patch | max diff / track | guard |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in runs:
        rate = statistics.median(speed[name])
        per_patch, per_track = accuracy[name]
        verdict = "ok" if per_track <= GUARD else "FAIL"
        print(
            f"| {name} | {rate:.1f} | {rate / base:.2f} | {created[name]:.2f} "
            f"| {peak[name]:.0f} | {per_patch:.1e} | {per_track:.1e} | {verdict} |"
        )


if __name__ == "__main__":
    main()
