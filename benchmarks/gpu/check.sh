#!/usr/bin/env bash
# The GPU check, one run of under 10 minutes on a machine with an NVIDIA GPU whose python3
# has CuPy and PyTorch with cuDNN (the package comes from this working tree: PYTHONPATH=src).
#   1. the torch-reference tests for ops and layers on CuPy arrays (float32 and float64),
#      against PyTorch, and tests/test_gpu.py;
#   2. training-step time against PyTorch + cuDNN (benchmarks/gpu/bench_gpu_step.py);
#   3. fast-cnn on CIFAR-10's 45,000/5,000 split for CIFAR_SECONDS, validation accuracy
#      against wall time.
# Needs gpu-cache/cifar10-train-jpeg.zip (copied from ../shared/data by prepare.sh, an
# ignored folder) and, where that python3 lacks them, the wheels prepare.sh put in gpu-cache/wheels.
# Writes everything to $OUT (default /tmp/gpu-check).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD/tests"
if [ -d gpu-cache/wheels ]; then  # pure-Python and binary wheels for what this python3 lacks
    python3 -m pip install --quiet --no-index --no-deps --target "$OUT/site" gpu-cache/wheels/*.whl 2>&1 | tail -3
    export PYTHONPATH="$PYTHONPATH:$OUT/site"
fi
python3 - <<'PY' | tee "$OUT/versions.txt"
import importlib, sys
print("python", sys.version.split()[0])
for name in ("cupy", "torch", "numpy", "safetensors", "pytest", "PIL", "tqdm", "matplotlib", "threadpoolctl"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"))
    except ImportError as error:
        print(name, "MISSING", error)
import cupy
print("GPU", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
PY

echo "== 1. torch-reference tests on CuPy" | tee "$OUT/tests.txt"
CONVPOOL_REFERENCE_DEVICES=cpu,cuda timeout 200 python3 -m pytest -q -p no:cacheprovider -x \
    tests/test_gpu.py tests/test_basic.py tests/test_activation.py tests/test_conv.py tests/test_pool.py \
    tests/test_linear.py tests/test_loss.py tests/test_norm.py tests/test_pad.py tests/test_dropout.py \
    tests/test_nn_layers.py 2>&1 | tail -25 | tee -a "$OUT/tests.txt"

echo "== 2. training steps against PyTorch + cuDNN" | tee "$OUT/steps.txt"
timeout 150 python3 benchmarks/gpu/bench_gpu_step.py --steps 20 2>&1 | tee -a "$OUT/steps.txt"

echo "== 3. fast-cnn on CIFAR-10 (45,000 train / 5,000 validation)" | tee "$OUT/cifar.txt"
CIFAR_SECONDS=${CIFAR_SECONDS:-150}
if [ -f gpu-cache/cifar10-train-jpeg.zip ]; then
    HOME="$OUT/home" timeout "$((CIFAR_SECONDS + 60))" python3 -m convpool train --device cuda \
        --data gpu-cache/cifar10-train-jpeg.zip --model fast-cnn --augment --crop-padding 2 --tta \
        --optimizer sgd --lr 0.2 --weight-decay 5e-4 --schedule onecycle --label-smoothing 0.2 --batch-size 512 \
        --epochs "${CIFAR_EPOCHS:-10}" --out "$OUT/cifar-run" --no-progress 2>&1 | tail -20 | tee -a "$OUT/cifar.txt"
else
    echo "gpu-cache/cifar10-train-jpeg.zip is missing: run benchmarks/gpu/prepare.sh first" | tee -a "$OUT/cifar.txt"
fi
