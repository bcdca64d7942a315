"""How close the run-time estimate (``--max-seconds``) comes to the measured wall time.

For each run of a small grid, prints the estimate that ``rnnshape.torchrun.estimate`` makes
before allocating, the measured wall time of the same run through ``rnnshape.inspect``
(build, forward pass, bench; torch already imported, calibration done) and their ratio.

    python benchmarks/estimate.py [--device cpu] [--dtype float32] [--factor 10]

Exits 1 if a ratio falls outside ``1/factor .. factor``. The estimate is meant to err long:
a ratio above 1 means it over-estimated.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

# (mode, input_size, hidden_size, num_layers, keywords): small to a few seconds on a CPU.
GRID: list[tuple[str, int, int, int | None, dict[str, Any]]] = [
    ("lstm", 10, 20, 2, {}),
    ("lstm", 64, 64, 1, {"seq": 200, "batch": 4}),
    ("gru", 128, 256, 2, {"seq": 100, "batch": 16, "bidirectional": True}),
    ("lstm", 512, 512, 1, {"seq": 100, "batch": 64}),
    ("lstm", 1024, 1024, 1, {"seq": 100, "batch": 1}),
    ("rnn", 256, 256, 3, {"seq": 400, "batch": 8, "nonlinearity": "relu"}),
    ("lstm", 256, 512, 2, {"seq": 50, "batch": 32, "proj_size": 128}),
    ("lstm", 128, 128, 1, {"lengths": [300, 120, 40], "bench": 5, "backward": True}),
    ("gru-cell", 512, 1024, None, {"batch": 256, "bench": 20}),
    ("lstm", 1024, 2048, 2, {"seq": 64, "batch": 32}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--factor", type=float, default=10.0)
    args = parser.parse_args(argv)

    import torch

    import rnnshape
    from rnnshape.spec import RunOptions, make_input, make_spec, parse_dtype
    from rnnshape.torchrun.device import resolve_device
    from rnnshape.torchrun.estimate import calibrate, estimate_run

    dtype = parse_dtype(args.dtype)
    device = resolve_device(torch, args.device)
    began = time.perf_counter()
    pace = calibrate(torch, device, dtype)
    print(
        f"calibration on {device} at {dtype.value}: {time.perf_counter() - began:.3f} s; "
        f"{pace.flops_per_s / 1e9:.1f} GFLOP/s (512³ matmul), "
        f"{pace.bytes_per_s / 1e9:.1f} GB/s (2048² matvec), "
        f"{pace.step_seconds * 1e6:.1f} µs per time step"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'run':<62} {'estimate':>10} {'measured':>10} {'ratio':>7}")
    worst = 1.0
    for mode, input_size, hidden_size, num_layers, keywords in GRID:
        options = dict(keywords)
        input_keys = {k: options.pop(k) for k in ("seq", "batch", "lengths") if k in options}
        bench, backward = options.pop("bench", None), options.pop("backward", False)
        spec = make_spec(mode, input_size, hidden_size, num_layers, **options)
        inp = make_input(spec, **input_keys)
        estimate = estimate_run(
            spec, inp, dtype, pace, RunOptions(bench=bench, backward=backward).bench_request
        )
        began = time.perf_counter()
        rnnshape.inspect(
            mode,
            input_size,
            hidden_size,
            num_layers,
            device=device,
            dtype=dtype,
            bench=bench,
            backward=backward,
            max_seconds=None,
            **input_keys,
            **options,
        )
        measured = time.perf_counter() - began
        ratio = estimate.seconds / measured
        worst = max(worst, ratio, 1 / ratio)
        flags = " ".join(f"{k}={v}" for k, v in keywords.items())
        label = f"{mode} {input_size} {hidden_size} {num_layers or ''} {flags}"[:62]
        print(f"{label:<62} {estimate.seconds:>9.3f}s {measured:>9.3f}s {ratio:>6.2f}×")
    print(f"worst factor {worst:.1f}× (allowed {args.factor:g}×)")
    return 0 if worst <= args.factor else 1


if __name__ == "__main__":
    sys.exit(main())
