"""How long a real run will take, measured on the real module before the run starts.

Two stages, each refusing a run above the limit before it costs the limit:

1. **Before building** (formulas only): the run at the fastest pace any device of its kind
   could go (``FASTEST``). Only a run that even this pace puts over the limit is refused
   here, so this stage never refuses a run that would have fit.
2. **After the memory guard and the build**: a probe of the real module on the real device at
   the run's dtype. After a warm-up call it times a forward (or, for a backward bench,
   forward + backward) over two short inputs of ``k`` and ``2k`` time steps, fits a fixed
   cost plus a per-step slope, and extrapolates to the run's steps and passes. A cell is timed
   over a few calls. Measuring the module itself covers what no model of a device can: oneDNN
   or the plain kernels, cuDNN's fused persistent kernels, bf16 with or without hardware
   support, a busy machine.

A run that even the slowest device finishes within a second (``SLOWEST``) is not probed: it
can be neither refused nor slow enough to need a spinner, and a probe would cost more than
it saves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from rnnshape.family import Dtype, InputSpec, LayerSpec
from rnnshape.family.options import BenchRequest
from rnnshape.formulas import BACKWARD_FLOPS_FACTOR, cost, memory
from rnnshape.report import Probe
from rnnshape.text import duration_text, short_count


class Pace(NamedTuple):
    """A device's pace, as a bound: FLOP/s, bytes/s and seconds a sequential time step."""

    flops_per_s: float
    bytes_per_s: float
    step_seconds: float


# Faster than any device of the kind (the fastest CPUs reach tens of TFLOP/s with AMX; an
# H200 about 1 PFLOP/s dense bf16): a run refused at this pace is refused everywhere.
FASTEST = {
    "cpu": Pace(2e14, 2e12, 5e-8),
    "cuda": Pace(5e15, 5e13, 5e-8),
    "mps": Pace(1e15, 1e13, 5e-8),
}
# Slower than any device (1 GFLOP/s, 1 GB/s, 1 ms a time step): a run under a second even
# at this pace needs no probe.
SLOWEST = Pace(1e9, 1e9, 1e-3)
SLOWEST_SECONDS = 1.0

# The probe: k is at most a sixteenth of the run's steps (so the probe costs under about
# half a pass), at most _MAX_K, and small enough that the probe's calls, judged by the
# warm-up call of one step, spend at most _PROBE_SHARE of the limit.
_MAX_K = 64
# A pass of at most this many steps is timed whole (when its calls fit the probe's budget):
# per-step costs of short inputs are not linear enough to extrapolate a few steps from.
_WHOLE_STEPS = 256
_PROBE_SHARE = 0.05
_REPEATS = 2  # timed calls per length, at least
_WINDOW = 0.02  # seconds each length is timed for, at least (unless _MOST_CALLS came first)
_MOST_CALLS = 64


class RunEstimate(NamedTuple):
    """The estimated wall time of the run after the probe: the input, the verified forward
    pass and the bench's passes."""

    seconds: float
    steps: int  # time steps of one pass (1 for a cell)
    passes: int  # the verified pass plus the bench's warm-up and timed passes
    probe: Probe | None  # None when the run needed none (under SLOWEST_SECONDS)


def time_steps(spec: LayerSpec, inp: InputSpec) -> int:
    """The time steps one pass runs one after another (the longest sequence; 1 for a cell)."""
    if spec.mode.is_cell:
        return 1
    return max(inp.lengths) if inp.lengths is not None else (inp.seq or 1)


def bound_seconds(
    spec: LayerSpec, inp: InputSpec, dtype: Dtype, pace: Pace, bench: BenchRequest | None
) -> float:
    """The run's time at a bounding pace: FLOPs, bytes drawn and sequential steps."""
    steps = time_steps(spec, inp) * (1 if spec.mode.is_cell else spec.num_layers)
    one = cost(spec, inp).flops / pace.flops_per_s + steps * pace.step_seconds
    passes = 1.0
    if bench is not None:
        factor = BACKWARD_FLOPS_FACTOR if bench.backward else 1
        passes += (bench.warmup + bench.runs) * factor
    mem = memory(spec, inp, dtype)
    fill = (mem.parameter_bytes + mem.input_bytes) / pace.bytes_per_s
    return fill + passes * one


def fastest(device: str) -> Pace:
    return FASTEST["cuda" if device.startswith("cuda") else device if device in FASTEST else "cpu"]


def probe_module(
    torch: Any,
    spec: LayerSpec,
    make_call: Callable[[int], Callable[[], None]],
    steps: int,
    *,
    backward: bool,
    cuda: bool,
    device: str,
    limit: float | None,
    fill_rate: Callable[[], float],
) -> Probe:
    """Time the real module (see the module docstring). ``make_call(k)`` draws an input of
    ``k`` time steps and returns one pass over it; ``fill_rate()`` measures how fast
    the device draws random tensors (bytes/s)."""
    began = time.perf_counter()

    def paced(call: Callable[[], None], least_calls: int, window: float = _WINDOW) -> float:
        """Seconds a call, averaged over at least ``least_calls`` calls and ``window`` seconds:
        a mean, not the fastest call, so that a busy machine's pace is the one measured."""
        calls, start = 0, time.perf_counter()
        while True:
            call()
            calls += 1
            if cuda:
                torch.cuda.synchronize(device)
            spent = time.perf_counter() - start
            if calls >= least_calls and (spent >= window or calls >= _MOST_CALLS):
                return max(spent / calls, 1e-9)

    def paired(a: Callable[[], None], b: Callable[[], None]) -> tuple[float, float]:
        """Seconds a call of ``a`` and of ``b``, timed in turns (a b a b ...) over at least
        two rounds and twice _WINDOW: a load that comes and goes weighs on both alike, so
        their difference, the per-step slope, is not its artefact."""
        spent_a = spent_b = 0.0
        rounds, start = 0, time.perf_counter()
        while True:
            spent_a += paced(a, 1, window=0.0)
            spent_b += paced(b, 1, window=0.0)
            rounds += 1
            done = time.perf_counter() - start >= 2 * _WINDOW or rounds >= _MOST_CALLS
            if rounds >= _REPEATS and done:
                return spent_a / rounds, spent_b / rounds

    exponent = 1.0
    first = make_call(1)
    started = time.perf_counter()
    first()  # kernels, caches, oneDNN primitives: not part of the pace
    if cuda:
        torch.cuda.synchronize(device)
    warm = time.perf_counter() - started
    budget = _PROBE_SHARE * limit if limit is not None else float("inf")
    if spec.mode.is_cell or warm > budget / 3:
        # A cell's pass is one call; a step so slow that the fit would spend the limit is
        # timed once more alone and charged whole to each step (fixed costs are then small).
        once = paced(first, 1 if warm > budget / 3 else _REPEATS)
        k = long_steps = 1
        short = long = once
        fixed, slope = (once, 0.0) if spec.mode.is_cell else (0.0, once)
    elif steps <= _WHOLE_STEPS and 3 * steps * warm <= budget:  # time the whole pass itself
        k = long_steps = steps
        whole = make_call(steps)
        whole()  # a new shape: set-up, not pace
        short = long = paced(whole, _REPEATS)
        fixed, slope = short, 0.0
    else:
        # Forward passes grow linearly: a few steps tell. Backward passes grow faster than
        # their steps: they are timed at a quarter and a half of the run's length.
        k = max(1, steps // 4 if backward else min(_MAX_K, steps // 16))
        while k > 1 and 3 * k * warm > budget:
            k //= 2
        long_steps = 2 * k
        short_call, long_call = make_call(k), make_call(2 * k)
        short_call()  # a new shape: set-up, not pace
        long_call()
        short, long = paired(short_call, long_call)
        slope = (long - short) / k
        if slope <= 0:  # noise larger than k steps: charge every second to the steps
            slope = long / (2 * k)
        fixed = max(short - slope * k, 0.0)
        if backward:
            exponent = min(max(math.log2(long / short), 1.0), 2.0)
    return Probe(
        short_steps=k,
        short_seconds=short,
        long_steps=long_steps,
        long_seconds=long,
        fixed_seconds=fixed,
        step_seconds=slope,
        backward=backward,
        fill_bytes_per_s=fill_rate(),
        spent_seconds=time.perf_counter() - began,
        exponent=exponent,
    )


# Extrapolated far past the probe (over _FAR times its longer input), a step costs
# _FAR_MARGIN times more: a long step-by-step pass keeps one small tensor a step and stacks
# them at the end, which the probe's short passes do not show (on the development machine a
# GRU(1, 1) over 600,000 steps ran about 6% longer than the linear fit of its probe).
_FAR, _FAR_MARGIN = 16, 1.1


def pass_seconds(probe: Probe, steps: int) -> float:
    """A pass of ``steps`` time steps from the probe: a fixed cost plus a slope; for a
    backward probe, the power law it measured between its two lengths (a backward pass
    grows faster than its steps on a CPU: autograd's saved tensors)."""
    if probe.exponent != 1.0:
        return float(probe.long_seconds * (steps / probe.long_steps) ** probe.exponent)
    margin = _FAR_MARGIN if steps > _FAR * probe.long_steps else 1.0
    return probe.fixed_seconds + probe.step_seconds * steps * margin


def estimate_run(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    forward: Probe,
    bench: BenchRequest | None,
    backward: Probe | None = None,
) -> RunEstimate:
    """The run's wall time from the probes: drawing the input, the verified forward pass,
    the bench's warm-up and timed passes (with ``backward``: the forward+backward probe's)."""
    steps = time_steps(spec, inp)
    passes = 1
    seconds = memory(spec, inp, dtype).input_bytes / forward.fill_bytes_per_s
    seconds += pass_seconds(forward, steps)
    if bench is not None:
        timed = bench.warmup + bench.runs
        passes += timed
        per_pass = pass_seconds(backward or forward, steps)
        seconds += timed * per_pass
    return RunEstimate(seconds=seconds, steps=steps, passes=passes, probe=backward or forward)


def refusal_text(estimate: RunEstimate, device: str, dtype: Dtype) -> str:
    """What was measured and what follows: "16 steps took 0.9 ms and 32 steps 1.6 ms, so
    50,000 steps × 23 passes ≈ 74 s"."""
    p = estimate.probe
    assert p is not None
    what = "forward + backward" if p.backward else "forward"
    passes = f" × {estimate.passes:,} passes" if estimate.passes > 1 else ""
    if p.short_steps == p.long_steps:  # one length timed: the whole pass, a cell, a slow step
        steps = "step" if p.short_steps == 1 else "steps"
        measured = f"{p.short_steps:,} {steps} of {what} took {duration_text(p.short_seconds)}"
        follows = f"{estimate.steps:,} step{'s' if estimate.steps != 1 else ''}{passes}"
    else:
        measured = (
            f"{p.short_steps:,} steps of {what} took {duration_text(p.short_seconds)} and "
            f"{p.long_steps:,} steps {duration_text(p.long_seconds)}"
        )
        follows = f"{estimate.steps:,} steps{passes}"
    return (
        f"measured on {device} at {dtype.value}: {measured}, so {follows} ≈ "
        f"{duration_text(estimate.seconds)}"
    )


def bound_text(seconds: float, flops: int, device: str, pace: Pace) -> str:
    return (
        f"{short_count(flops)}FLOPs a pass would take {duration_text(seconds)} even at "
        f"{short_count(int(pace.flops_per_s))}FLOP/s, faster than any {device.split(':')[0]} "
        "device"
    )
