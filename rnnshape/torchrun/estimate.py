"""How long a real run will take, told before it allocates anything.

The model, per forward pass (deliberately a sum, so that it errs long rather than short):

    seconds = FLOPs / gemm_flops_per_s                   the exact cost at the device's pace
            + steps · weight_bytes_per_step / bytes_per_s weights re-read at every time step
            + steps · step_seconds                        a fixed cost per time step and layer

where ``steps`` is the recurrence's sequential depth (time steps × layers × directions; 1 for
a cell). The three rates are measured once per process, per device and dtype, by a tiny
calibration on the device at hand (a 512³ matrix multiply, a 2048² matrix-vector product,
an ``nn.LSTM(8, 8)`` over 128 steps: a few milliseconds on a CPU). Measuring in the run's
dtype on the run's device covers what a table could not: oneDNN or the plain kernels on a
CPU, bfloat16 with or without hardware support, CUDA. A whole run is building the module
(parameters and inputs drawn at random: a few passes over their bytes), one verified forward
pass and, with ``--bench``, the warm-up and timed passes (forward + backward counting
``BACKWARD_FLOPS_FACTOR`` forward passes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rnnshape.formulas import (
    BACKWARD_FLOPS_FACTOR,
    CALIBRATION_GEMM,
    CALIBRATION_GEMV,
    cost,
    memory,
)
from rnnshape.spec import Dtype, InputSpec, LayerSpec
from rnnshape.spec.options import BenchRequest

# The calibration matrix multiply (512³, big enough to use every core) and matrix-vector
# product (a 2048² matrix, larger than most L2): sizes the memory estimate counts too.
_GEMM = CALIBRATION_GEMM
_GEMV = CALIBRATION_GEMV
_STEPS = 128  # time steps of the calibration LSTM: enough to amortise one call's overhead
_WARMUP = 2  # first calls set up kernels (oneDNN primitives, cuBLAS handles)
_REPEATS = 5
# Drawing random parameters and inputs costs a few passes over their bytes.
_BUILD_PASSES = 4
# A run's fixed cost: building the module, first-call kernel set-up.
_FIXED_SECONDS = 0.05
# Autograd records and replays every time step (the plain kernels, not oneDNN's fused
# sequence): its per-step cost dwarfs the forward's (benchmarks/estimate.py).
_BACKWARD_STEP_FACTOR = 400  # measured: ~1.5 ms a step on CPU vs ~4 µs forward


class Throughput(NamedTuple):
    """The device's measured pace at one dtype."""

    flops_per_s: float  # a mid-size matrix multiply
    bytes_per_s: float  # a matrix-vector product: the matrix streamed from memory
    step_seconds: float  # one time step of a tiny LSTM: the fixed cost per step
    device: str
    dtype: str


class RunEstimate(NamedTuple):
    """The estimated wall time of a whole run, and the figures it came from."""

    seconds: float
    passes: float  # forward-pass equivalents: 1, plus the bench's (× 3 with backward)
    pass_seconds: float
    flops: int
    throughput: Throughput


_CALIBRATED: dict[tuple[str, str], Throughput] = {}

# A pace slower than any device rnnshape runs on (1 GFLOP/s, 1 GB/s, 1 ms a time step): a run
# estimated under a second even at this pace needs no measurement (it would cost more than
# the run itself, ~35 ms), and can be neither refused nor slow enough for the spinner.
SLOWEST_SECONDS = 1.0


def slowest(device: str, dtype: Dtype) -> Throughput:
    return Throughput(1e9, 1e9, 1e-3, device, dtype.value)


def calibrate(torch: Any, device: str, dtype: Dtype, *, again: bool = False) -> Throughput:
    """Measure the device's pace at ``dtype`` (once per process; a few milliseconds).

    ``again`` measures once more and keeps, figure by figure, the faster of the two: a
    busy machine only ever slows a measurement down, so before refusing a run the guard
    makes sure a passing hiccup did not make the device look slow."""
    key = (device, dtype.value)
    if key not in _CALIBRATED:
        _CALIBRATED[key] = _measure(torch, device, dtype)
    elif again:
        old, new = _CALIBRATED[key], _measure(torch, device, dtype)
        _CALIBRATED[key] = old._replace(
            flops_per_s=max(old.flops_per_s, new.flops_per_s),
            bytes_per_s=max(old.bytes_per_s, new.bytes_per_s),
            step_seconds=min(old.step_seconds, new.step_seconds),
        )
    return _CALIBRATED[key]


def _measure(torch: Any, device: str, dtype: Dtype) -> Throughput:
    import time

    tdtype = getattr(torch, dtype.value)
    cuda = device.startswith("cuda")

    def timed(work: Any) -> float:
        """The fastest of a few timed calls after untimed ones: the device's own pace, as
        free of other programs' noise as a few milliseconds allow."""
        for _ in range(_WARMUP):
            work()
        times = []
        for _ in range(_REPEATS):
            if cuda:
                torch.cuda.synchronize(device)
            began = time.perf_counter()
            work()
            if cuda:
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - began)
        return max(min(times), 1e-9)

    with torch.inference_mode():
        g = torch.randn(_GEMM, _GEMM, device=device).to(tdtype)
        gemm = timed(lambda: g @ g)
        m = torch.randn(_GEMV, _GEMV, device=device).to(tdtype)
        v = torch.randn(_GEMV, 1, device=device).to(tdtype)
        gemv = timed(lambda: m @ v)
        lstm = torch.nn.LSTM(8, 8, device=device, dtype=tdtype).eval()
        x = torch.randn(_STEPS, 1, 8, device=device).to(tdtype)
        steps = timed(lambda: lstm(x))
    return Throughput(
        flops_per_s=2 * _GEMM**3 / gemm,
        bytes_per_s=_GEMV * _GEMV * dtype.itemsize / gemv,
        step_seconds=steps / _STEPS,
        device=device,
        dtype=dtype.value,
    )


def sequential_steps(spec: LayerSpec, inp: InputSpec) -> int:
    """Time steps that must run one after another: steps × layers × directions."""
    if spec.mode.is_cell:
        return 1
    length = max(inp.lengths) if inp.lengths is not None else (inp.seq or 1)
    return length * spec.num_layers * spec.num_directions


def weight_bytes_per_step(spec: LayerSpec, itemsize: int) -> int:
    """The weights one time step of one layer and direction reads: W_ih, W_hh (and W_hr)."""
    d = 1 if spec.mode.is_cell else spec.num_directions
    widest_input = max(spec.input_size, d * spec.h_out)
    rows = spec.gate_rows * (widest_input + spec.h_out) + spec.proj_size * spec.hidden_size
    return rows * itemsize


def pass_seconds(spec: LayerSpec, inp: InputSpec, pace: Throughput, itemsize: int) -> float:
    """The estimated time of one forward pass (see the module's docstring)."""
    steps = sequential_steps(spec, inp)
    return (
        cost(spec, inp).flops / pace.flops_per_s
        + steps * weight_bytes_per_step(spec, itemsize) / pace.bytes_per_s
        + steps * pace.step_seconds
    )


def estimate_run(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    pace: Throughput,
    bench: BenchRequest | None = None,
) -> RunEstimate:
    """The estimated wall time of building the module, one forward pass and the bench."""
    one = pass_seconds(spec, inp, pace, dtype.itemsize)
    passes = 1.0
    total = one
    if bench is not None:
        timed = bench.warmup + bench.runs
        if bench.backward:
            steps = sequential_steps(spec, inp) * pace.step_seconds
            per_pass = BACKWARD_FLOPS_FACTOR * one + _BACKWARD_STEP_FACTOR * steps
            passes += timed * BACKWARD_FLOPS_FACTOR
        else:
            per_pass = one
            passes += timed
        total += timed * per_pass
    mem = memory(spec, inp, dtype)
    build = _BUILD_PASSES * (mem.parameter_bytes + mem.input_bytes) / pace.bytes_per_s
    return RunEstimate(
        seconds=_FIXED_SECONDS + build + total,
        passes=passes,
        pass_seconds=one,
        flops=cost(spec, inp).flops,
        throughput=pace,
    )


def duration_text(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``5.8 min``, ``2.1 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
