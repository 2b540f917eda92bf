#!/usr/bin/env bash
# Before benchmarks/gpu/check.sh: copy the CIFAR-10 zip into the ignored gpu-cache/ folder
# (the device tool carries it with `carry: ["gpu-cache"]`, 64 MiB in all), and download the
# wheels of convpool's light dependencies for the GPU machine's Python (default 3.12), for a
# python3 there that lacks them. Run on the development machine, which reaches the package index.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYVER=${1:-3.12}
mkdir -p gpu-cache/wheels
cp ../shared/data/cifar10-train-jpeg.zip gpu-cache/
python3 -m pip download --quiet --only-binary :all: --no-deps --python-version "$PYVER" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d gpu-cache/wheels \
    safetensors tqdm threadpoolctl pytest pluggy iniconfig packaging
du -sh gpu-cache
