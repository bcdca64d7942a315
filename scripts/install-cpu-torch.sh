#!/usr/bin/env bash
# Install a CPU build of torch from PyTorch's own CPU wheel index, as pytorch.org's install
# page shows for Linux + pip + CPU. PyPI's default Linux torch is the CUDA build (about 3 GB
# of wheels with its nvidia-* dependencies); the CPU build is a fraction of that.
#
# usage: scripts/install-cpu-torch.sh [REQUIREMENT]   (default: the range pyproject.toml declares)
#
# TORCH_INDEX_URL overrides the index (default https://download.pytorch.org/whl/cpu); set it
# empty to use pip's own configuration. Where the CPU index cannot be reached or has no such
# build, this falls back to pip's own configuration (on Linux and PyPI: the CUDA build) and
# says so on stderr.
set -euo pipefail
requirement=${1:-'torch>=2.13,<2.16'}  # keep in step with pyproject.toml
index=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
pip=(python -m pip install --retries 1)
if [ -n "$index" ]; then
    if "${pip[@]}" "$requirement" --index-url "$index"; then
        exit 0
    fi
    echo "install-cpu-torch: '$requirement' not found at $index;" \
        "installing it with pip's own configuration (from PyPI on Linux: the CUDA build)" >&2
fi
"${pip[@]}" "$requirement"
