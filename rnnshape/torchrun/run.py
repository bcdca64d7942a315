"""Build the layer, run one seeded forward pass and return what torch showed.

Verification against the formulas happens in the pipeline; this module only observes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnshape.errors import SpecError, UsageError
from rnnshape.report import BenchTimes
from rnnshape.spec import Dtype, InputSpec, LayerSpec
from rnnshape.spec.options import BenchRequest, RunOptions
from rnnshape.text import short_count
from rnnshape.torchrun.device import (
    available_memory_bytes,
    check_device_fits,
    check_fits,
    import_torch,
    resolve_device,
    torch_warnings,
)
from rnnshape.torchrun.estimate import (
    SLOWEST_SECONDS,
    RunEstimate,
    calibrate,
    duration_text,
    estimate_run,
    slowest,
)


@dataclass(frozen=True)
class ObservedTensor:
    shape: tuple[int, ...]
    dtype: str
    device: str
    batch_sizes: tuple[int, ...] | None = None


@dataclass
class Observation:
    """What torch reported: the module's config, its parameters, the tensors of one pass."""

    config: dict[str, object]
    parameters: list[tuple[str, tuple[int, ...]]]
    tensors: dict[str, ObservedTensor]
    device: str
    dtype: str
    warnings: list[str] = field(default_factory=list)
    bench: BenchTimes | None = None


def dtype_name(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


def observe_tensor(t: Any) -> ObservedTensor:
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(t, PackedSequence):
        return ObservedTensor(
            tuple(t.data.shape),
            dtype_name(t.data),
            str(t.data.device),
            tuple(int(b) for b in t.batch_sizes.tolist()),
        )
    return ObservedTensor(tuple(t.shape), dtype_name(t), str(t.device))


def initial_states(spec: LayerSpec, inp: InputSpec, make: Callable[..., Any]) -> dict[str, Any]:
    """``h_0`` (and ``c_0``) of the shapes the formulas give (torch validates them)."""
    from rnnshape.formulas import tensor_shapes

    shapes = {t.name: t.shape for t in tensor_shapes(spec, inp)}
    return {f"{s}_0": make(shapes[f"{s}_0"]) for s in spec.mode.family.states}


def hx_of(spec: LayerSpec, states: dict[str, Any]) -> Any:
    """What forward takes as its second argument: ``h_0``, or the tuple ``(h_0, c_0)``."""
    names = spec.mode.family.states
    return tuple(states[f"{s}_0"] for s in names) if len(names) > 1 else states["h_0"]


def forward(
    torch: Any, module: Any, spec: LayerSpec, x: Any, states: dict[str, Any]
) -> dict[str, ObservedTensor]:
    """One pass under inference mode; every tensor in and out, by the formulas' names."""
    with torch.inference_mode():
        result = module(x, hx_of(spec, states))
    return observed_pass(spec, x, states, result)


def final_states(spec: LayerSpec, result: Any) -> dict[str, Any]:
    """The states a pass returned, by name: ``h_n`` (``c_n``) for a layer, ``h_1`` for a cell."""
    names = spec.mode.family.states
    if spec.mode.is_cell:
        finals, suffix = result, "_1"
    else:
        finals, suffix = result[1], "_n"
    if len(names) == 1:
        finals = (finals,)
    return {f"{state}{suffix}": t for state, t in zip(names, finals, strict=True)}


def observed_pass(
    spec: LayerSpec, x: Any, states: dict[str, Any], result: Any
) -> dict[str, ObservedTensor]:
    """Every tensor in and out of one pass (``forward``'s result), by the formulas' names."""
    seen = {"input": observe_tensor(x)}
    seen.update({name: observe_tensor(t) for name, t in states.items()})
    if not spec.mode.is_cell:
        seen["output"] = observe_tensor(result[0])
    seen.update({name: observe_tensor(t) for name, t in final_states(spec, result).items()})
    return seen


def observation(
    module: Any, seen: dict[str, ObservedTensor], notes: list[str], bench: BenchTimes | None = None
) -> Observation:
    """What a pass showed: the module's config and parameters, the tensors, where it ran."""
    from rnnshape.torchrun.observe import module_config

    return Observation(
        config=module_config(module),
        parameters=[(n, tuple(p.shape)) for n, p in module.named_parameters()],
        tensors=seen,
        device=seen["input"].device,
        dtype=seen["input"].dtype,
        warnings=notes,
        bench=bench,
    )


def check_time_fits(
    torch: Any,
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    device: str,
    bench: BenchRequest | None,
    max_seconds: float | None,
) -> RunEstimate:
    """Estimate the run's wall time; refuse it, before allocating, above ``max_seconds``.

    A run that takes under a second even on the slowest device is not measured for."""
    estimate = estimate_run(spec, inp, dtype, slowest(device, dtype), bench)
    limit = SLOWEST_SECONDS if max_seconds is None else min(max_seconds, SLOWEST_SECONDS)
    if estimate.seconds <= limit:
        return estimate
    pace = calibrate(torch, device, dtype)
    estimate = estimate_run(spec, inp, dtype, pace, bench)
    if max_seconds is not None and estimate.seconds > max_seconds:
        pace = calibrate(torch, device, dtype, again=True)  # a refusal is worth a second look
        estimate = estimate_run(spec, inp, dtype, pace, bench)
    if max_seconds is not None and estimate.seconds > max_seconds:
        what = "forward pass" if estimate.passes == 1 else f"{estimate.passes:g} forward passes"
        raise SpecError(
            "max_seconds",
            f"{max_seconds:g}: this run would take about {duration_text(estimate.seconds)} "
            f"(estimate: {what} of {short_count(estimate.flops)}FLOPs each, at the "
            f"{short_count(int(pace.flops_per_s))}FLOP/s measured on {device} at {dtype.value}); "
            "use {dry_run} for the same shapes and counts instantly, a smaller {seq} or "
            "{batch}, or raise {max_seconds}",
        )
    return estimate


def _classify_failure(exc: Exception, spec: LayerSpec, dtype: str, device: str) -> Exception:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if "out of memory" in lowered or "can't allocate memory" in lowered:
        return UsageError(
            f"{spec.mode.torch_class} ran out of memory on {device}: {text}; "
            "use --dry-run to see the shapes and counts without allocating"
        )
    if any(
        k in lowered
        for k in ("not implemented for", "not supported", "unsupported", "does not support")
    ):
        return SpecError("dtype", f"{dtype} cannot run {spec.mode.torch_class} on {device}: {text}")
    return exc


def run(
    spec: LayerSpec,
    inp: InputSpec,
    options: RunOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    started: Callable[[float], None] | None = None,
) -> Observation:
    """Build the module on ``options.device`` at ``options.dtype`` and run one seeded forward
    pass; with ``options.bench``, then time repeated passes of the same module on the same
    input.

    Before allocating, the run's time is estimated (``torchrun.estimate``): above
    ``options.max_seconds`` it is refused; otherwise ``started`` receives the estimate in
    seconds."""
    device, dtype, seed, bench = options.device, options.dtype, options.seed, options.bench_request
    training = options.training
    if device in ("cpu", "mps"):
        check_fits(spec, inp, dtype, device, available_memory_bytes(device), training)
    notes: list[str] = []
    torch = import_torch(notes)
    resolved = resolve_device(torch, device)
    check_device_fits(torch, spec, inp, dtype, device, resolved, training)
    try:  # the calibration runs the dtype on the device first: its failures read the same
        estimate = check_time_fits(torch, spec, inp, dtype, resolved, bench, options.max_seconds)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise _classify_failure(exc, spec, dtype.value, resolved) from exc
    if started is not None:
        started(estimate.seconds)
    tdtype = getattr(torch, dtype.value)
    try:
        with torch_warnings(notes):
            torch.manual_seed(seed)
            cls = getattr(torch.nn, spec.mode.torch_class)
            module = cls(**spec.torch_kwargs(), device=resolved, dtype=tdtype).eval()
            if not spec.mode.is_cell and resolved.startswith("cuda"):
                # Built with device=, the weights are not one cuDNN buffer until flattened.
                module.flatten_parameters()

            def make(shape: tuple[int, ...]) -> Any:
                return torch.randn(shape, dtype=tdtype, device=resolved)

            x = _make_input(torch, spec, inp, make)
            states = initial_states(spec, inp, make)
            seen = forward(torch, module, spec, x, states)
            timed = None
            if bench is not None:
                from rnnshape.torchrun.bench import time_passes

                timed = time_passes(
                    torch, module, spec, x, states, bench, seen["input"].device, progress
                )
    except (RuntimeError, TypeError, ValueError) as exc:
        raise _classify_failure(exc, spec, dtype.value, resolved) from exc
    return observation(module, seen, notes, timed)


def _make_input(torch: Any, spec: LayerSpec, inp: InputSpec, make: Callable[..., Any]) -> Any:
    """The tensor fed to forward: a padded batch, packed when ``lengths`` are given."""
    from rnnshape.formulas import tensor_shapes

    if inp.lengths is None:
        return make(next(t.shape for t in tensor_shapes(spec, inp) if t.name == "input"))
    from torch.nn.utils.rnn import pack_padded_sequence

    longest, count = max(inp.lengths), len(inp.lengths)
    padded = make(
        (count, longest, spec.input_size) if spec.batch_first else (longest, count, spec.input_size)
    )
    return pack_padded_sequence(
        padded,
        torch.tensor(inp.lengths, dtype=torch.int64),
        batch_first=spec.batch_first,
        enforce_sorted=False,
    )
