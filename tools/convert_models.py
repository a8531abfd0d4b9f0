"""Convert the MusicNN checkpoints from the ``musicnn`` wheel into shipped models.

Why this exists
---------------
The ``musicnn==0.1.0`` wheel is the only published source of the MusicNN
weights, but it ships TensorFlow-1 training checkpoints (``.meta`` graph plus
``.index``/``.data`` variables), pins ``numpy<1.17`` and needs TensorFlow at run
time. Our package instead ships, for each model, a self-contained frozen
TensorFlow graph (``*.pb``, for Essentia's ``TensorflowPredict*`` algorithms)
and an ONNX file (``*.onnx``, for ONNX Runtime). This dev-only script makes
both, and is the record of how they were made.

``tf.compat.v1.train.import_meta_graph`` fails on these ``.meta`` files under
TensorFlow 2, so the graph is frozen by hand: parse the ``MetaGraphDef``, keep
only the sub-graph feeding the two outputs, replace every variable by a
constant holding its checkpoint value, and pin the ``is_training`` placeholder
to ``False`` (inference-mode batch norm, no dropout). tf2onnx then converts the
frozen graph, and the script checks that TensorFlow and ONNX Runtime agree on
both outputs before it returns successfully.

Run it in the reference environment (see ``tools/make_reference_env.sh``)::

    .venv-reference/bin/python tools/convert_models.py

Tensor names, file names and the list of models come from
``beetsplug/musicnn/engine/models.py``, loaded by path so that this script does not
need the package (or beets) installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import librosa
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from tensorflow.core.framework import graph_pb2, node_def_pb2
from tensorflow.core.protobuf import meta_graph_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_PY = REPO_ROOT / "beetsplug" / "musicnn" / "engine" / "models.py"
DEFAULT_OUT = REPO_ROOT / "beetsplug" / "musicnn" / "engine" / "weights"

#: The bool placeholder that switches batch norm and dropout to training mode.
IS_TRAINING_NODE = "model/Placeholder_2"
ONNX_OPSET = 17
#: Symbolic name of the ONNX batch dimension.
BATCH_DIM = "batch"
#: Largest tolerated |TF - ONNX Runtime| on either output.
TOLERANCE = 1e-5
SEED = 20190101
#: tf2onnx marks the names it makes up with a counter suffix such as ``__123``.
GENERATED_NAME = re.compile(r"__\d+")


def load_models_module(path: Path = MODELS_PY) -> ModuleType:
    """Import ``beetsplug/musicnn/engine/models.py`` by path, without its package."""
    spec = importlib.util.spec_from_file_location("_musicnn_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def find_musicnn_dir() -> Path:
    """Folder of the installed ``musicnn`` package (not imported, only located)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or spec.origin is None:
        raise SystemExit("musicnn is not installed; pass --musicnn-dir")
    return Path(spec.origin).parent


def read_graph_def(checkpoint_dir: Path) -> graph_pb2.GraphDef:
    """The training graph stored in the checkpoint's ``.meta`` file."""
    meta_graph = meta_graph_pb2.MetaGraphDef()
    meta_graph.ParseFromString((checkpoint_dir / ".meta").read_bytes())
    return meta_graph.graph_def


def const_node(name: str, value: np.ndarray) -> node_def_pb2.NodeDef:
    """A ``Const`` node called ``name`` holding ``value``."""
    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return node


def read_variables(
    graph_def: graph_pb2.GraphDef, checkpoint_dir: Path
) -> dict[str, np.ndarray]:
    """Checkpoint values of the variables ``graph_def`` uses, by node name.

    The checkpoint prefix is the folder itself (its files are named ``.meta``,
    ``.index`` and so on), hence the trailing slash.
    """
    reader = tf.compat.v1.train.NewCheckpointReader(f"{checkpoint_dir}/")
    return {
        node.name: reader.get_tensor(node.name)
        for node in graph_def.node
        if node.op == "VariableV2"
    }


def count_trainable_parameters(variables: dict[str, np.ndarray]) -> int:
    """Weights a training run updates, i.e. without batch-norm statistics."""
    return sum(value.size for name, value in variables.items() if "moving_" not in name)


def freeze_graph(
    graph_def: graph_pb2.GraphDef, variables: dict[str, np.ndarray]
) -> graph_pb2.GraphDef:
    """Inference-only copy of ``graph_def`` with ``variables`` inlined as constants."""
    frozen = graph_pb2.GraphDef(versions=graph_def.versions)
    for node in graph_def.node:
        if node.op == "VariableV2":
            new_node = const_node(node.name, variables[node.name])
        elif node.name == IS_TRAINING_NODE:
            new_node = const_node(node.name, np.array(False))
        else:
            new_node = node_def_pb2.NodeDef()
            new_node.CopyFrom(node)
            new_node.attr.pop("_output_shapes", None)
        new_node.device = ""
        frozen.node.append(new_node)
    return frozen


def convert_to_onnx(
    frozen: graph_pb2.GraphDef, input_name: str, output_names: list[str]
) -> onnx.ModelProto:
    """ONNX version of ``frozen`` whose tensors keep their TensorFlow names."""
    renames = {f"{name}:0": name for name in [input_name, *output_names]}
    model, _ = tf2onnx.convert.from_graph_def(
        frozen,
        name="musicnn",
        input_names=[f"{input_name}:0"],
        output_names=[f"{name}:0" for name in output_names],
        opset=ONNX_OPSET,
        tensors_to_rename=renames,
    )
    for value_info in [*model.graph.input, *model.graph.output]:
        value_info.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    make_names_reproducible(model)
    onnx.checker.check_model(model)
    return model


def make_names_reproducible(model: onnx.ModelProto) -> None:
    """Rename tf2onnx's made-up names by position, so that re-runs give equal bytes.

    tf2onnx numbers the nodes and constants it creates with a global counter,
    and when it merges duplicate constants or shared reshapes the survivor's
    name depends on set iteration order, so two conversions of one graph
    usually differ only in these names. Names that came from TensorFlow are
    kept. (Now and then tf2onnx's transpose optimizer, for the same reason,
    also removes one Transpose more; that equivalent graph is left as it is.)
    """
    graph = model.graph
    renames: dict[str, str] = {}

    def rename(name: str, new_name: str) -> str:
        if GENERATED_NAME.search(name) and name not in renames:
            renames[name] = new_name
        return renames.get(name, name)

    for node in graph.node:  # topological order, itself stable
        for name in node.input:  # unseen inputs are initializers
            rename(name, f"const__{len(renames)}")
        node_name = rename(node.name, f"{node.op_type}__{len(renames)}")
        for index, name in enumerate(node.output):
            rename(name, f"{node_name}:{index}")

    for node in graph.node:
        node.name = renames.get(node.name, node.name)
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for item in [*graph.initializer, *graph.value_info]:
        item.name = renames.get(item.name, item.name)
    initializers = [
        onnx.TensorProto.FromString(tensor.SerializeToString())  # detached copies
        for tensor in sorted(graph.initializer, key=lambda tensor: tensor.name)
    ]
    graph.ClearField("initializer")
    graph.initializer.extend(initializers)


def random_patches(
    rng: np.random.Generator, count: int, spec: ModuleType
) -> np.ndarray:
    """Log-mel-like noise: values in musicnn's usual input range of 0 to 4."""
    shape = (count, spec.PATCH_FRAMES, spec.N_MELS)
    return rng.uniform(0.0, 4.0, size=shape).astype(np.float32)


def music_like_patches(rng: np.random.Generator, spec: ModuleType) -> np.ndarray:
    """Patches of a synthetic tune, computed exactly like musicnn's front end.

    A bass line, a chord with harmonics, a noise hi-hat and silence at the end,
    through musicnn's own recipe: librosa mel power spectrogram, rounded to
    float16, then ``log10(10000 * x + 1)`` in float32 (what numpy 1 did for
    musicnn; numpy 2 would stay in float16 and overflow to ``inf``).
    """
    sr = spec.SAMPLE_RATE
    t = np.arange(10 * sr) / sr
    audio = np.zeros_like(t)
    for bar, root in enumerate((55.0, 73.4, 82.4, 65.4)):  # one note a second
        audio += 0.3 * np.sin(2 * np.pi * root * t) * (np.floor(t) % 4 == bar)
    for freq in (261.6, 329.6, 392.0):
        for harmonic in range(1, 6):
            audio += 0.05 / harmonic * np.sin(2 * np.pi * freq * harmonic * t)
    hihat = rng.standard_normal(t.size) * np.exp(-40 * ((t * 4) % 1))
    audio += 0.1 * hihat
    audio[-2 * sr :] = 0.0
    mel = librosa.feature.melspectrogram(
        y=audio.astype(np.float32),
        sr=sr,
        n_fft=spec.N_FFT,
        hop_length=spec.HOP_LENGTH,
        n_mels=spec.N_MELS,
    ).T
    log_mel = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    starts = range(0, len(log_mel) - spec.PATCH_FRAMES + 1, spec.PATCH_FRAMES // 2)
    return np.stack([log_mel[s : s + spec.PATCH_FRAMES] for s in starts])


def run_tensorflow(
    frozen: graph_pb2.GraphDef, inputs: np.ndarray, input_name: str, outputs: list[str]
) -> list[np.ndarray]:
    """Outputs of the frozen graph, run by TensorFlow."""
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(frozen, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(
                [f"{name}:0" for name in outputs], {f"{input_name}:0": inputs}
            )


def run_onnx(
    model_bytes: bytes, inputs: np.ndarray, input_name: str, outputs: list[str]
) -> list[np.ndarray]:
    """Outputs of the ONNX model, run by ONNX Runtime on the CPU."""
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(outputs, {input_name: inputs})


def verify(
    frozen: graph_pb2.GraphDef, model_bytes: bytes, spec: ModuleType
) -> dict[str, float]:
    """Largest |TF - ONNX Runtime| per output; raises if any exceeds TOLERANCE."""
    rng = np.random.default_rng(SEED)
    inputs = np.concatenate(
        [random_patches(rng, 8, spec), music_like_patches(rng, spec)]
    )
    outputs = [spec.SCORES_TENSOR, spec.EMBEDDING_TENSOR]
    expected = run_tensorflow(frozen, inputs, spec.INPUT_TENSOR, outputs)
    actual = run_onnx(model_bytes, inputs, spec.INPUT_TENSOR, outputs)
    diffs = {}
    for name, want, got in zip(outputs, expected, actual, strict=True):
        if want.shape != got.shape:
            raise AssertionError(f"{name}: TF shape {want.shape}, ONNX {got.shape}")
        diffs[name] = float(np.max(np.abs(want - got)))
    bad = {name: diff for name, diff in diffs.items() if not diff <= TOLERANCE}
    if bad:
        raise AssertionError(f"TF and ONNX Runtime disagree (> {TOLERANCE}): {bad}")
    return diffs


def convert_model(model, musicnn_dir: Path, out_dir: Path, spec: ModuleType) -> None:
    """Write, then verify, the ``.pb`` and ``.onnx`` files of one model."""
    outputs = [spec.SCORES_TENSOR, spec.EMBEDDING_TENSOR]
    checkpoint_dir = musicnn_dir / model.upstream_name
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(
        read_graph_def(checkpoint_dir), outputs
    )
    variables = read_variables(graph_def, checkpoint_dir)
    frozen = freeze_graph(graph_def, variables)
    onnx_model = convert_to_onnx(frozen, spec.INPUT_TENSOR, outputs)
    pb_bytes = frozen.SerializeToString(deterministic=True)
    onnx_bytes = onnx_model.SerializeToString(deterministic=True)

    pb_path = out_dir / f"{model.key}_musicnn.pb"
    onnx_path = out_dir / f"{model.key}_musicnn.onnx"
    pb_path.write_bytes(pb_bytes)
    onnx_path.write_bytes(onnx_bytes)

    diffs = verify(graph_pb2.GraphDef.FromString(pb_bytes), onnx_bytes, spec)
    params = count_trainable_parameters(variables)
    print(f"{model.upstream_name}: {params:,} trainable parameters")
    for path in (pb_path, onnx_path):
        print(f"  wrote {path} ({path.stat().st_size:,} bytes)")
    for name, diff in diffs.items():
        print(f"  max |TF - ONNX Runtime| {name}: {diff:.3g}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--musicnn-dir",
        type=Path,
        help="the musicnn package folder (default: the installed one)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    musicnn_dir = args.musicnn_dir or find_musicnn_dir()
    args.out.mkdir(parents=True, exist_ok=True)
    spec = load_models_module()
    for model in spec.MODELS.values():
        convert_model(model, musicnn_dir, args.out, spec)


if __name__ == "__main__":
    main()
