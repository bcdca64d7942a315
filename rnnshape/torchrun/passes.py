"""One pass of a built module: its input and states, the call, what torch returned.

Shared by the run (``run``), the probe and the bench (``estimate``, ``bench``), a user's
module (``observe``) and a whole model (``model``); torch arrives as an argument or is
imported inside the functions, never at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnshape.errors import UsageError
from rnnshape.family import InputSpec, LayerSpec, Mode, make_spec
from rnnshape.report import BenchTimes, RunFigures


def recurrent_mode(module: Any) -> Mode | None:
    """The family of a torch module if it is one of the six recurrent classes (or a subclass)."""
    from torch import nn

    for mode in Mode:
        if isinstance(module, getattr(nn, mode.torch_class)):
            return mode
    return None


def mode_of(module: Any) -> Mode:
    """The family of a torch module, by the torch class it is an instance of."""
    mode = recurrent_mode(module)
    if mode is not None:
        return mode
    known = ", ".join(f"nn.{m.torch_class}" for m in Mode)
    raise UsageError(f"{type(module).__name__} is not a recurrent module rnnshape knows ({known})")


def module_config(module: Any) -> dict[str, object]:
    """The torch kwargs of a module, read back from its attributes."""
    return {name: getattr(module, name) for name in mode_of(module).kwargs}


def spec_of_module(module: Any) -> LayerSpec:
    """A validated spec describing an existing torch module."""
    config = module_config(module)
    return make_spec(mode_of(module), **config)


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
    run: RunFigures | None = None  # a layer command's own run: estimate, outcome, backend
    measured_peak_bytes: int | None = None
    facts: dict[str, object] | None = None  # what decided the kernel (backend.backend_facts)


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


def states_of_hx(spec: LayerSpec, hx: Any) -> dict[str, Any]:
    """Forward's second argument by the formulas' names, ``h_0`` (and ``c_0``): ``hx_of``'s
    inverse."""
    names = spec.mode.family.states
    if len(names) == 1:
        return {"h_0": hx}
    return {f"{s}_0": t for s, t in zip(names, hx, strict=True)}


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
    module: Any,
    seen: dict[str, ObservedTensor],
    notes: list[str],
    bench: BenchTimes | None = None,
    run: RunFigures | None = None,
    measured_peak_bytes: int | None = None,
    facts: dict[str, object] | None = None,
) -> Observation:
    """What a pass showed: the module's config and parameters, the tensors, where it ran."""
    return Observation(
        config=module_config(module),
        parameters=[(n, tuple(p.shape)) for n, p in module.named_parameters()],
        tensors=seen,
        device=seen["input"].device,
        dtype=seen["input"].dtype,
        warnings=notes,
        bench=bench,
        run=run,
        measured_peak_bytes=measured_peak_bytes,
        facts=facts,
    )


def loss_of(spec: LayerSpec, result: Any) -> Any:
    """A scalar to call backward on: the sum of the output (a cell: of the new states)."""
    from torch.nn.utils.rnn import PackedSequence

    if spec.mode.is_cell:  # the new states: h_1, or (h_1, c_1)
        finals = list(final_states(spec, result).values())
        return sum((t.sum() for t in finals[1:]), finals[0].sum())
    output = result[0]
    if isinstance(output, PackedSequence):
        output = output.data
    return output.sum()


def pass_function(
    torch: Any, module: Any, spec: LayerSpec, x: Any, hx: Any, backward: bool
) -> Callable[[], None]:
    """One pass of ``module`` on ``x``: under inference mode, or forward + backward (the
    caller puts the module in training mode first, as cuDNN's backward needs)."""

    def once() -> None:
        if backward:
            module.zero_grad(set_to_none=True)
            loss_of(spec, module(x, hx)).backward()
        else:
            with torch.inference_mode():
                module(x, hx)

    return once


def make_input_tensor(torch: Any, spec: LayerSpec, inp: InputSpec, make: Callable[..., Any]) -> Any:
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
