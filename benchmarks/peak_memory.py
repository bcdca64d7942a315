"""The memory guard's peak estimate against the peak each run is measured to add.

Runs each configuration of tests/test_memory_guard.py's grid in its own process (one thread)
and prints the report's ``memory.peak_bytes`` (the guard's estimate, shown in the Memory
table) beside ``memory.measured_peak_bytes`` (VmHWM over the size at the run's start on a
CPU; ``torch.cuda.max_memory_allocated`` on CUDA) and their ratio.

    python benchmarks/peak_memory.py [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_memory_guard import GRID  # noqa: E402  (the grid the test asserts on)

CHILD = """
import json, sys
from rnnshape.pipeline import inspect
args = json.loads(sys.argv[1])
r = inspect(*args["args"], max_seconds=None, **args["kwargs"])
print(json.dumps({"estimate": r.memory.peak_bytes, "peak": r.memory.measured_peak_bytes}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'run':<66} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    ratios = []
    for mode, i, h, layers, options, inp in GRID:
        kwargs = {**options, **inp, "device": args.device}
        payload = json.dumps({"args": [mode, i, h, layers], "kwargs": kwargs})
        done = subprocess.run(
            [sys.executable, "-c", CHILD, payload],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        figures = json.loads(done.stdout)
        ratio = figures["peak"] / figures["estimate"]
        ratios.append(ratio)
        label = f"{mode}({i}, {h}, {layers}) {options} {inp}"[:66]
        print(
            f"{label:<66} {figures['estimate'] / 2**20:>7.1f} MiB {figures['peak'] / 2**20:>7.1f}"
            f" MiB {ratio:>6.2f}"
        )
    print(f"measured / estimate from {min(ratios):.2f} to {max(ratios):.2f} (target 0.5 to 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
