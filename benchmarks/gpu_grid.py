"""One table over a CUDA grid (issue 14): for each layer and dtype, rnnshape's ``--bench``
median against a hand-written CUDA-event loop on the same layer, the time guard's estimate
against the measured run, the kernel predicted (``explain.kernel``, from torch's switches)
against the kernel observed, and the peak estimate against ``torch.cuda.max_memory_allocated``.

    python benchmarks/gpu_grid.py [--runs 30]

Needs a CUDA GPU (exits 2 without one). Prints the worst of each comparison last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

GRID: list[tuple[str, int, int, int | None, dict[str, Any]]] = [
    ("lstm", 1024, 1024, 4, {"seq": 256, "batch": 64}),
    ("lstm", 2048, 4096, 2, {"seq": 128, "batch": 128, "proj_size": 1024}),
    ("gru", 512, 512, 2, {"seq": 512, "batch": 32, "bidirectional": True}),
    ("rnn", 256, 256, 3, {"seq": 1000, "batch": 16}),
    ("lstm", 256, 256, 1, {"lengths": [400, 300, 200, 100]}),
    ("gru-cell", 1024, 1024, None, {"batch": 256}),
]
DTYPES = ("float32", "float16", "bfloat16", "float64")


def event_loop_ms(torch: Any, report: Any, runs: int) -> float:
    """The median of ``runs`` forward passes of the same layer, timed with CUDA events."""
    spec, inp = report.spec, report.input
    dtype = getattr(torch, report.dtype)
    module = getattr(torch.nn, spec.mode.torch_class)(
        **spec.torch_kwargs(), device="cuda", dtype=dtype
    ).eval()
    if not spec.mode.is_cell:
        module.flatten_parameters()
        if inp.lengths is not None:
            padded = torch.randn(
                max(inp.lengths), len(inp.lengths), spec.input_size, device="cuda", dtype=dtype
            )
            x = torch.nn.utils.rnn.pack_padded_sequence(
                padded, torch.tensor(inp.lengths), enforce_sorted=False
            )
        else:
            x = torch.randn(inp.seq, inp.batch, spec.input_size, device="cuda", dtype=dtype)
    else:
        x = torch.randn(inp.batch, spec.input_size, device="cuda", dtype=dtype)
    times = []
    with torch.inference_mode():
        for i in range(runs + 3):
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            module(x)
            end.record()
            end.synchronize()
            if i >= 3:
                times.append(start.elapsed_time(end))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device here", file=sys.stderr)
        return 2
    import rnnshape
    from rnnshape.explain.kernel import predict_backend
    from rnnshape.torchrun.backend import backend_facts

    facts = backend_facts(torch, "cuda")
    print(
        f"{torch.cuda.get_device_name()} · torch {torch.__version__} · cuDNN "
        f"{torch.backends.cudnn.version()}"
    )
    print(
        f"{'layer':<58} {'dtype':<8} {'bench/loop':>10} {'est/meas':>9} "
        f"{'kernel pred/obs':>17} {'peak meas/est':>13}"
    )
    worst = {"bench": 1.0, "estimate": 1.0, "peak": 1.0, "kernel": 0}
    for mode, i, h, layers, keywords in GRID:
        for dtype in DTYPES:
            try:
                report = rnnshape.inspect(
                    mode,
                    i,
                    h,
                    layers,
                    device="cuda",
                    dtype=dtype,
                    bench=args.runs,
                    max_seconds=None,
                    **keywords,
                )
            except rnnshape.RnnShapeError as exc:
                print(f"{mode} {i} {h} {layers} {keywords} {dtype}: {exc.message}")
                continue
            run, bench, memory = report.run, report.bench, report.memory
            assert run is not None and bench is not None
            loop = event_loop_ms(torch, report, args.runs)
            bench_ratio = bench.median_ms / loop
            est = (run.estimated_seconds or float("nan")) / run.measured_seconds
            predicted = predict_backend(
                report.spec, report.input, device_kind="cuda", dtype=dtype, facts=facts
            ).backend
            peak = (memory.measured_peak_bytes or 0) / memory.peak_bytes
            worst["bench"] = max(worst["bench"], bench_ratio, 1 / bench_ratio)
            if run.estimated_seconds is not None:
                worst["estimate"] = max(worst["estimate"], est, 1 / est)
            worst["peak"] = max(worst["peak"], peak, 1 / max(peak, 1e-9))
            worst["kernel"] += predicted != run.backend
            label = f"{report.spec.constructor()} {keywords}"[:58]
            print(
                f"{label:<58} {dtype:<8} {bench_ratio:>10.2f} {est:>9.2f} "
                f"{predicted + '/' + str(run.backend):>17} {peak:>13.2f}"
            )
    print(
        f"worst: bench/loop {worst['bench']:.2f}x, estimate {worst['estimate']:.2f}x, "
        f"peak {worst['peak']:.2f}x; kernel mismatches {worst['kernel']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
