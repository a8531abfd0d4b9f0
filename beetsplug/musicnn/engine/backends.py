"""Inference stage: log-mel patches -> per-patch tag scores and embeddings.

Two runtimes sit behind one small interface: ONNX Runtime (the default) and
essentia-tensorflow, which runs the frozen TensorFlow graph. Both receive the
same patches, so the choice changes only how the network is evaluated. Neither
runtime is imported until a backend is created.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from functools import cache
from typing import NamedTuple

import numpy as np

from .models import (
    EMBEDDING_TENSOR,
    INPUT_TENSOR,
    SCORES_TENSOR,
    ModelSpec,
    get_model,
)

#: Patches per inference call. Batching brings no speed on a CPU (measured),
#: but every patch in a batch adds about 45 MB of activations that ONNX
#: Runtime's arena then keeps: 117 MB peak RSS at 1, 1.5 GB at 32.
BATCH_PATCHES = 1


class BackendError(RuntimeError):
    """A backend cannot be created (runtime missing, model file unreadable)."""


class Prediction(NamedTuple):
    """Per-patch outputs of one model."""

    scores: np.ndarray  #: (n_patches, n_tags) sigmoid outputs, float32
    embeddings: np.ndarray  #: (n_patches, 200) ``model/dense/BiasAdd``, float32


class Backend(ABC):
    """Runs one MusicNN model on batches of (n, 187, 96) float32 patches."""

    name: str

    def __init__(self, model: ModelSpec, threads: int = 1):
        self.model = model
        self.threads = threads

    def predict(self, patches: np.ndarray) -> Prediction:
        """Evaluate the model on every patch, in batches of ``BATCH_PATCHES``."""
        batches = [
            self._run(np.ascontiguousarray(patches[i : i + BATCH_PATCHES], np.float32))
            for i in range(0, len(patches), BATCH_PATCHES)
        ]
        scores, embeddings = zip(*batches, strict=True)
        return Prediction(np.concatenate(scores), np.concatenate(embeddings))

    @abstractmethod
    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and embeddings of one contiguous batch."""


class OnnxBackend(Backend):
    """ONNX Runtime on the CPU, one intra-op thread by default.

    One process per core with one thread each is the efficient shape for this
    model: a second intra-op thread was measured to slow it down.
    """

    name = "onnx"

    def __init__(self, model: ModelSpec, threads: int = 1):
        super().__init__(model, threads)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError(f"the onnx backend needs onnxruntime: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                str(model.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own unrelated exception types
            raise BackendError(f"cannot load {model.onnx_path}: {exc}") from exc

    def _run(self, batch):
        scores, embeddings = self._session.run(
            [SCORES_TENSOR, EMBEDDING_TENSOR], {INPUT_TENSOR: batch}
        )
        return scores, embeddings


class EssentiaBackend(Backend):
    """essentia-tensorflow's ``TensorflowPredict`` on the frozen graph.

    Essentia exposes no thread setting; its bundled TensorFlow picks its own.
    """

    name = "essentia"

    def __init__(self, model: ModelSpec, threads: int = 1):
        super().__init__(model, threads)
        # oneDNN makes the TensorFlow bundled with Essentia die with SIGFPE.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            import essentia
            import essentia.standard as es
        except ImportError as exc:
            raise BackendError(
                "the essentia backend needs essentia-tensorflow: "
                "pip install 'beets-musicnn[essentia]'"
            ) from exc
        essentia.log.infoActive = False
        essentia.log.warningActive = False
        self._pool_type = essentia.Pool
        self._predict = es.TensorflowPredict(
            graphFilename=str(model.tf_graph_path),
            inputs=[INPUT_TENSOR],
            outputs=[SCORES_TENSOR, EMBEDDING_TENSOR],
        )

    def _run(self, batch):
        pool = self._pool_type()
        # TensorflowPredict takes 4-D tensors (batch, channel, time, bands)
        # and squeezes the channel axis to fit the model's 3-D input.
        pool.set(INPUT_TENSOR, batch[:, None])
        out = self._predict(pool)
        return (
            np.asarray(out[SCORES_TENSOR], np.float32).reshape(len(batch), -1),
            np.asarray(out[EMBEDDING_TENSOR], np.float32).reshape(len(batch), -1),
        )


BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (OnnxBackend, EssentiaBackend)
}


@cache
def load_backend(name: str, model: str, threads: int = 1) -> Backend:
    """The backend ``name`` running ``model``, created once per process.

    Raises
    ------
    ValueError
        For an unknown backend or model name.
    BackendError
        When the runtime is not installed or the model cannot be loaded.
    """
    try:
        backend_type = BACKENDS[name]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise ValueError(f"unknown backend {name!r} (known: {known})") from None
    return backend_type(get_model(model), threads)
