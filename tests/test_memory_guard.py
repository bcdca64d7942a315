"""The memory guard's estimate against the peak RSS real runs reach (issue 11, section 3).

Each run happens in a child process: its peak RSS above the baseline after ``import torch``
must stay within ``MAX_RATIO`` of ``run_memory_bytes``, and the estimate must not be more than
``MAX_OVERESTIMATE`` times the peak (a guard that refuses what would fit is no guard either).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rnnshape.formulas import run_memory_bytes
from rnnshape.spec import Dtype, make_input, make_spec

MAX_RATIO = 1.5  # peak RSS above baseline / estimate
MAX_OVERESTIMATE = 4.0  # estimate / peak RSS above baseline

# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child forked from a big
# pytest process would start with the parent's high-water mark.
_CHILD = """
import json, sys
import torch
from rnnshape.pipeline import inspect
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
args = json.loads(sys.argv[1])
before = hwm()
inspect(*args["args"], max_seconds=None, **args["kwargs"])  # memory is the subject here
print(json.dumps({"peak": hwm() - before}))
"""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)"
)

# (mode, input_size, hidden_size, num_layers, layer options, input options)
GRID: list[tuple[str, int, int, int | None, dict[str, Any], dict[str, Any]]] = [
    ("lstm", 4, 4, 1, {}, {"seq": 5, "batch": 3}),  # the fixed start-up cost alone
    ("rnn", 8, 8, 1, {}, {"seq": 100_000, "batch": 1}),  # long sequence, step by step
    ("gru", 8, 8, 3, {"bidirectional": True}, {"seq": 1_000, "batch": 2}),
    ("lstm", 8, 16, 2, {"proj_size": 4}, {"seq": 20_000, "batch": 2}),
    ("lstm", 32, 64, 1, {"bidirectional": True}, {"seq": 5_000, "batch": 8}),
    ("gru", 16, 32, 20, {}, {"seq": 500, "batch": 4}),  # many layers
    ("lstm", 64, 64, 8, {}, {"seq": 2_000, "batch": 8}),
    ("rnn", 64, 128, 4, {"bidirectional": True}, {"seq": 1_500, "batch": 8}),
    ("rnn", 50, 1, 1, {}, {"lengths": [10_000] + [1] * 99}),  # packed: the padded input
    ("lstm", 8, 16, 2, {}, {"lengths": [20_000, 3, 2]}),
]


def _measure(case: tuple[str, int, int, int | None, dict[str, Any], dict[str, Any]]) -> int:
    mode, i, h, layers, options, inp = case
    payload = json.dumps({"args": [mode, i, h, layers], "kwargs": {**options, **inp}})
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, payload], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["peak"])


@pytest.fixture(scope="module")
def peaks() -> list[int]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_measure, GRID))


@pytest.mark.parametrize("index", range(len(GRID)), ids=[f"{c[0]}-{c[5]}"[:40] for c in GRID])
def test_estimate_bounds_peak_rss(index: int, peaks: list[int]) -> None:
    mode, i, h, layers, options, inp = GRID[index]
    spec = make_spec(mode, i, h, layers, **options)
    estimate = run_memory_bytes(spec, make_input(spec, **inp), Dtype.FLOAT32)
    peak = peaks[index]
    assert peak <= MAX_RATIO * estimate, f"peak {peak:,} B > {MAX_RATIO} x estimate {estimate:,}"
    assert estimate <= MAX_OVERESTIMATE * max(peak, 1), (
        f"estimate {estimate:,} B > {MAX_OVERESTIMATE} x peak {peak:,}"
    )


def test_issue_examples_are_estimated_above_what_torch_asks() -> None:
    # rnn 100 1 --lengths 50000,1,…,1 peaked at 4.07 GB RSS (the padded input, copied to sort
    # it); lstm 1 1 --seq 100000000 --batch 1 made torch ask for 20 GB.
    rnn = make_spec("rnn", 100, 1)
    packed = make_input(rnn, lengths=[50_000] + [1] * 99)
    assert run_memory_bytes(rnn, packed, Dtype.FLOAT32) >= 4.07e9
    lstm = make_spec("lstm", 1, 1)
    long = make_input(lstm, seq=100_000_000, batch=1)
    assert run_memory_bytes(lstm, long, Dtype.FLOAT32) >= 20e9
