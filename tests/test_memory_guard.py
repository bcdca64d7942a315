"""The memory guard's estimate against the peak real runs reach (issues 11 and 14).

Each run happens in a child process, pinned to one thread: the report's own measured peak
(``memory.measured_peak_bytes``, the process's VmHWM over its size when the run started) must
lie within [MIN_RATIO, MAX_RATIO] of the guard's estimate shown beside it
(``memory.peak_bytes``): a guard that lets through what does not fit is no guard, and one that
refuses what would fit is no guard either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rnnshape.family import Dtype, make_input, make_spec
from rnnshape.formulas import run_memory_bytes

MIN_RATIO, MAX_RATIO = 0.5, 1.5  # measured peak / estimate

_CHILD = """
import json, sys
from rnnshape.pipeline import inspect
args = json.loads(sys.argv[1])
report = inspect(*args["args"], max_seconds=None, **args["kwargs"])  # memory is the subject
print(json.dumps({"estimate": report.memory.peak_bytes,
                  "peak": report.memory.measured_peak_bytes}))
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


def _measure(
    case: tuple[str, int, int, int | None, dict[str, Any], dict[str, Any]],
) -> dict[str, int]:
    mode, i, h, layers, options, inp = case
    payload = json.dumps({"args": [mode, i, h, layers], "kwargs": {**options, **inp}})
    # One thread: children of a parallel test run must not fight over cores for minutes.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, payload],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, int] = json.loads(done.stdout)
    return figures


@pytest.fixture(scope="module")
def peaks() -> list[dict[str, int]]:
    return [_measure(case) for case in GRID]


@pytest.mark.parametrize("index", range(len(GRID)), ids=[f"{c[0]}-{c[5]}"[:40] for c in GRID])
def test_measured_peak_is_within_the_guards_estimate(
    index: int, peaks: list[dict[str, int]]
) -> None:
    mode, i, h, layers, options, inp = GRID[index]
    spec = make_spec(mode, i, h, layers, **options)
    figures = peaks[index]
    estimate, peak = figures["estimate"], figures["peak"]
    # The report shows the guard's own estimate: the one run_memory_bytes gives (CPU, forward).
    assert estimate >= run_memory_bytes(spec, make_input(spec, **inp), Dtype.FLOAT32, fused=True)
    assert peak is not None, "this Linux can reset the high-water mark (/proc/self/clear_refs)"
    ratio = peak / estimate
    assert MIN_RATIO <= ratio <= MAX_RATIO, (
        f"peak {peak:,} B / estimate {estimate:,} B = {ratio:.2f}"
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
