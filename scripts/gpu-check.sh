#!/usr/bin/env bash
# The CUDA checks of issue 14, on a machine with a GPU: tests/test_cuda.py, then one table over
# a CUDA grid (benchmarks/gpu_grid.py): rnnshape's --bench against a hand-written CUDA-event
# loop, the time guard's estimate against the measured run, the kernel predicted against the
# kernel observed, and the peak estimate against torch.cuda.max_memory_allocated; then what
# bf16's weight compaction costs (benchmarks/cudnn_bf16_compaction.py).
#
#   scripts/gpu-check.sh            # from a checkout (PYTHONPATH=. is set here)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 2)" || {
    echo "no CUDA device here: nothing to check" >&2; exit 2; }
status=0
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider || status=1
python3 benchmarks/gpu_grid.py || status=1
python3 benchmarks/cudnn_bf16_compaction.py || status=1
exit $status
