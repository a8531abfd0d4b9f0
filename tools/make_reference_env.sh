#!/usr/bin/env bash
# Create the reference environment that runs tools/convert_models.py.
#
# It holds TensorFlow 2.15 (the newest that still reads musicnn's TF1
# checkpoints without fuss), tf2onnx, ONNX Runtime and the musicnn wheel, whose
# checkpoints are the source of our model files. musicnn is installed without
# its dependencies because it pins numpy<1.17 and a TensorFlow it does not need
# here (we only read its checkpoint files).
#
# onnx is pinned to 1.17.0: onnx>=1.18 needs ml_dtypes>=0.5, but
# tensorflow-cpu 2.15 pins ml_dtypes~=0.3, and `import onnx` then fails.
#
# Usage: tools/make_reference_env.sh [DIR]   (default DIR: .venv-reference)
# Set PYTHON to use another Python 3.11 interpreter than python3.11.
set -euo pipefail

dir="${1:-.venv-reference}"
python="${PYTHON:-python3.11}"

"$python" -m venv "$dir"
"$dir/bin/pip" install \
    tensorflow-cpu==2.15.1 \
    numpy==1.26.4 \
    librosa==0.10.2.post1 \
    tf2onnx==1.17.0 \
    onnx==1.17.0 \
    onnxruntime==1.32.0
"$dir/bin/pip" install --no-deps musicnn==0.1.0

echo "Reference environment ready; now run:"
echo "  $dir/bin/python tools/convert_models.py"
