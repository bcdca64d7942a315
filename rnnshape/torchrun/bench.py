"""Time repeated passes of a built module: CUDA events on a GPU, the wall clock elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnshape.report import BenchTimes
from rnnshape.spec import LayerSpec
from rnnshape.spec.options import BenchRequest
from rnnshape.torchrun.run import hx_of


def _uses_cudnn(torch: Any, spec: LayerSpec, x: Any, device: str) -> bool | None:
    """Whether torch dispatches this layer to cuDNN (its own rule); None off CUDA."""
    if not device.startswith("cuda"):
        return None
    if spec.mode.is_cell:  # cells run torch's fused CUDA kernels, never cuDNN
        return False
    data = x.data if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x
    cudnn = torch.backends.cudnn
    return bool(cudnn.enabled and cudnn.is_available() and cudnn.is_acceptable(data))


def time_passes(
    torch: Any,
    module: Any,
    spec: LayerSpec,
    x: Any,
    states: dict[str, Any],
    request: BenchRequest,
    device: str,
    progress: Callable[[int, int], None] | None,
) -> BenchTimes:
    """Time ``request.runs`` passes after ``request.warmup`` untimed ones."""
    import time

    from torch.nn.utils.rnn import PackedSequence

    hx = hx_of(spec, states)
    cuda = device.startswith("cuda")
    if request.backward:
        module.train()  # cuDNN's backward needs training mode; dropout then applies too

    def loss_of(result: Any) -> Any:
        if spec.mode.is_cell:  # the new states: h_1, or (h_1, c_1)
            finals = result if isinstance(result, tuple) else (result,)
            return sum((t.sum() for t in finals[1:]), finals[0].sum())
        output = result[0]
        if isinstance(output, PackedSequence):
            output = output.data
        return output.sum()

    def once() -> None:
        if request.backward:
            module.zero_grad(set_to_none=True)
            loss_of(module(x, hx)).backward()
        else:
            with torch.inference_mode():
                module(x, hx)

    total = request.warmup + request.runs
    times: list[float] = []
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
        if progress is not None:
            progress(i + 1, total)
    module.eval()
    return BenchTimes(
        tuple(times), request.warmup, request.backward, device, _uses_cudnn(torch, spec, x, device)
    )
