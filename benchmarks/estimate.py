"""How close the time guard's estimate comes to the run it precedes.

For each run of a grid, runs ``rnnshape.inspect`` (no limit) and prints the report's own
``run.estimated_seconds`` (from the probe of the built module) against ``run.measured_seconds``
(the same span: drawing the input, the verified pass, the bench) and their ratio.

    python benchmarks/estimate.py [--device cpu] [--dtype float32] [--busy N] [--factor 2]

``--busy N`` starts N processes that spin on a core for the whole grid (a loaded machine).
Prints the worst ratio; exits 1 if a ratio falls outside ``1/factor .. factor``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

# (mode, input_size, hidden_size, num_layers, keywords): a fraction of a second to a few
# seconds on a CPU, each probed (over a second even on the slowest device).
GRID: list[tuple[str, int, int, int | None, dict[str, Any]]] = [
    ("lstm", 64, 64, 1, {"seq": 2000, "batch": 4}),
    ("gru", 128, 256, 2, {"seq": 300, "batch": 16, "bidirectional": True}),
    ("lstm", 512, 512, 1, {"seq": 300, "batch": 64}),
    ("lstm", 1024, 1024, 1, {"seq": 300, "batch": 1}),
    ("rnn", 256, 256, 3, {"seq": 1200, "batch": 8, "nonlinearity": "relu"}),
    ("lstm", 256, 512, 2, {"seq": 150, "batch": 32, "proj_size": 128}),
    ("lstm", 128, 128, 1, {"lengths": [900, 360, 120], "bench": 5, "backward": True}),
    ("gru-cell", 512, 1024, None, {"batch": 256, "bench": 200}),
    ("lstm", 16, 16, 1, {"bench": 3000}),
    ("gru", 1, 1, 1, {"seq": 300_000}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--busy", type=int, default=0, help="spinning processes beside")
    parser.add_argument("--factor", type=float, default=2.0)
    args = parser.parse_args(argv)

    import torch

    import rnnshape

    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    try:
        print(
            f"torch {torch.__version__}, device {args.device}, dtype {args.dtype}, "
            f"{args.busy} busy process(es) beside"
        )
        print(f"{'run':<66} {'estimate':>9} {'measured':>9} {'ratio':>6}  backend")
        worst = 1.0
        for mode, input_size, hidden_size, num_layers, keywords in GRID:
            report = rnnshape.inspect(
                mode,
                input_size,
                hidden_size,
                num_layers,
                device=args.device,
                dtype=args.dtype,
                max_seconds=None,
                **keywords,
            )
            run = report.run
            assert run is not None
            label = f"{report.spec.constructor()} {keywords}"[:66]
            if run.estimated_seconds is None:
                print(f"{label:<66} {'-':>9} {run.measured_seconds:>8.3f}s {'-':>6}  {run.backend}")
                continue
            ratio = run.estimated_seconds / run.measured_seconds
            worst = max(worst, ratio, 1 / ratio)
            print(
                f"{label:<66} {run.estimated_seconds:>8.3f}s {run.measured_seconds:>8.3f}s "
                f"{ratio:>6.2f}  {run.backend}"
            )
        print(f"worst ratio (either way): {worst:.2f} (target: within {args.factor:g}x)")
        return 0 if worst <= args.factor else 1
    finally:
        for spinner in spinners:
            spinner.kill()


if __name__ == "__main__":
    sys.exit(main())
