"""Time repeated passes of a built module: CUDA events on a GPU, the wall clock elsewhere."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rnnshape.family import LayerSpec
from rnnshape.family.options import BenchRequest
from rnnshape.report import BenchTimes
from rnnshape.torchrun.passes import hx_of, pass_function


def time_passes(
    torch: Any,
    module: Any,
    spec: LayerSpec,
    x: Any,
    states: dict[str, Any],
    request: BenchRequest,
    device: str,
    progress: Callable[[int, int], None] | None,
    backend: str | None = None,
) -> BenchTimes:
    """Time ``request.runs`` passes after ``request.warmup`` untimed ones; ``backend`` is the
    kernel observed for this module (``cudnn`` ... ``native``)."""
    import time

    hx = hx_of(spec, states)
    cuda = device.startswith("cuda")
    if request.backward:
        module.train()  # cuDNN's backward needs training mode; dropout then applies too

    once = pass_function(torch, module, spec, x, hx, request.backward)

    total = request.warmup + request.runs
    times: list[float] = []
    runnable: list[int] = []
    for i in range(total):
        if cuda:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            once()
            end.record()
            end.synchronize()
            elapsed = float(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            once()
            elapsed = (time.perf_counter() - began) * 1000.0
        if i >= request.warmup:
            times.append(elapsed)
            if not cuda and len(runnable) < _RUNNABLE_SAMPLES:
                seen = runnable_threads()
                if seen is not None:
                    runnable.append(seen)
        if progress is not None:
            progress(i + 1, total)
    module.eval()
    # cuDNN ran exactly when it was observed (off CUDA: no such question).
    cudnn = backend == "cudnn" if cuda else None
    return BenchTimes(
        tuple(times),
        request.warmup,
        request.backward,
        device,
        cudnn,
        threads=None if cuda else int(torch.get_num_threads()),
        runnable_most=_typical_most(runnable),
        cores=os.cpu_count(),
    )


# Reading /proc/stat costs ~30 µs: sampled after each of the first timed passes only.
_RUNNABLE_SAMPLES = 50


def runnable_threads() -> int | None:
    """Threads runnable on the machine right now, this one included (Linux's
    ``procs_running``); None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _typical_most(samples: list[int]) -> int | None:
    """The upper quartile of the samples: a load that lasted, not one passing spike."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[(3 * (len(ordered) - 1)) // 4]
