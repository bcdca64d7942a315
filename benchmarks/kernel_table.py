"""The kernel predicted from torch's rules against the kernel observed, over a grid.

For each layer, dtype and mode (inference, or training for a backward bench), prints
``explain.kernel.predict_backend`` (from torch's switches) beside what a real run observed
(the report's ``run.backend``).

    python benchmarks/kernel_table.py [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

GRID: list[tuple[str, dict[str, Any]]] = [
    ("lstm", {}),
    ("lstm", {"proj_size": 4}),
    ("lstm", {"lengths": [5, 3, 2]}),
    ("lstm", {"unbatched": True}),
    ("lstm", {"num_layers": 2, "dropout": 0.5, "bidirectional": True}),
    ("gru", {}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm-cell", {}),
    ("gru-cell", {}),
]
DTYPES = ("float32", "float64", "bfloat16", "float16")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    import torch

    import rnnshape
    from rnnshape.explain.kernel import predict_backend
    from rnnshape.torchrun.backend import backend_facts

    facts = backend_facts(torch, args.device)
    print(f"torch {torch.__version__} on {args.device}")
    print(f"{'layer':<48} {'dtype':<9} {'mode':<9} {'predicted':<10} {'observed':<10}")
    mismatches = 0
    for mode, options in GRID:
        for dtype in DTYPES:
            for training in (False, True):
                bench = {"bench": 1, "backward": True} if training else {}
                try:
                    report = rnnshape.inspect(
                        mode, 8, 16, device=args.device, dtype=dtype, **options, **bench
                    )
                except rnnshape.RnnShapeError as exc:
                    print(f"{mode} {options} {dtype}: {exc.message[:60]}")
                    continue
                assert report.run is not None
                predicted = predict_backend(
                    report.spec,
                    report.input,
                    device_kind=args.device,
                    dtype=dtype,
                    training=training,
                    facts=facts,
                ).backend
                observed = report.run.backend
                mismatches += predicted != observed
                label = f"{report.spec.constructor()} {options}"[:48]
                kind = "training" if training else "inference"
                print(f"{label:<48} {dtype:<9} {kind:<9} {predicted:<10} {observed:<10}")
    print(f"{mismatches} mismatch(es)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
