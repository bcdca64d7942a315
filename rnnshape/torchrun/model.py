"""A user's whole model: run its forward once and observe every recurrent submodule called.

Forward hooks see each call of an ``nn.RNN``/``LSTM``/``GRU``/cell (or a subclass) at any
depth, with the real input and states it received; only shapes are kept, never tensors.
Ours run before the module's other forward hooks (a user's hook may replace the output; the
report is of what torch's forward returned), and also when the call raises: a call that
fails inside the model's own ``try`` is a failed call, not a module never called.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from rnnshape.errors import UsageError
from rnnshape.family import InputSpec, LayerSpec, Mode
from rnnshape.text import one_line, shorten
from rnnshape.torchrun.device import import_torch
from rnnshape.torchrun.observe import input_spec_of
from rnnshape.torchrun.passes import (
    Observation,
    final_states,
    observation,
    observed_pass,
    recurrent_mode,
    spec_of_module,
    states_of_hx,
)


@dataclass(frozen=True)
class ObservedCall:
    """One call of a recurrent submodule: its qualified name, its call number, what it saw."""

    name: str
    call: int
    spec: LayerSpec
    input: InputSpec
    observation: Observation


@dataclass(frozen=True)
class FailedCall:
    """A call that raised (and that the model caught, since its forward pass went on)."""

    name: str
    call: int
    error: str  # ``RuntimeError: input.size(-1) must be equal to input_size ...``, one line


# A failed call's error, as quoted in the report.
ERROR_CHARACTERS = 300


@dataclass(frozen=True)
class ModelObservation:
    """Every recurrent call of one forward pass, in order, the calls that raised, the
    recurrent modules not called, and whether global forward hooks (which run before any
    module's own) could have changed what the calls returned."""

    calls: tuple[ObservedCall, ...]
    uncalled: tuple[str, ...]
    failed: tuple[FailedCall, ...] = ()
    global_hooks: bool = False


def observe_model(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ModelObservation:
    """Run ``model(*args, **kwargs)`` once under ``no_grad``; hooks observe each recurrent call."""
    torch = import_torch([])
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    recurrent = [(name, module) for name, module in model.named_modules() if recurrent_mode(module)]
    if not recurrent:
        known = ", ".join(f"nn.{m.torch_class}" for m in Mode)
        raise UsageError(
            f"{type(model).__name__} has no recurrent submodule rnnshape knows ({known})"
        )
    calls: list[ObservedCall] = []
    failed: list[FailedCall] = []
    unreadable: list[UsageError] = []  # raised again after the pass: a model's try hides it
    counts: dict[str, int] = {}

    def hook_for(name: str) -> Any:
        def hook(module: Any, hook_args: Any, hook_kwargs: Any, output: Any) -> None:
            call = counts.get(name, 0)
            counts[name] = call + 1
            if output is None:  # torch's forward raised: this hook runs inside its except
                failed.append(FailedCall(name, call, _error_text(sys.exc_info()[1])))
                return
            try:
                calls.append(_observe_call(name, call, module, hook_args, hook_kwargs, output))
            except UsageError as exc:
                unreadable.append(exc)
                raise

        return hook

    global_hooks = _global_forward_hooks(torch)
    handles = []
    try:
        for name, module in recurrent:
            handles.append(
                module.register_forward_hook(
                    hook_for(name), with_kwargs=True, always_call=True, prepend=True
                )
            )
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    if unreadable:
        raise unreadable[0]
    uncalled = tuple(name for name, _ in recurrent if name not in counts)
    return ModelObservation(tuple(calls), uncalled, tuple(failed), global_hooks)


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "an exception"
    return shorten(one_line(f"{type(exc).__name__}: {exc}"), ERROR_CHARACTERS)


def _global_forward_hooks(torch: Any) -> bool:
    """Whether ``register_module_forward_hook`` hooks are set: they run before ours."""
    hooks = getattr(torch.nn.modules.module, "_global_forward_hooks", None)
    return bool(hooks)


def _observe_call(
    name: str, call: int, module: Any, args: Any, kwargs: Any, output: Any
) -> ObservedCall:
    """What one call received and returned, read as torch's own forward takes its arguments."""
    import torch
    from torch.nn.utils.rnn import PackedSequence

    spec = spec_of_module(module)
    what = f"{name or type(module).__name__} ({type(module).__name__}) call {call}"
    x = args[0] if args else kwargs.get("input")
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    if not isinstance(x, (torch.Tensor, PackedSequence)):
        raise UsageError(
            f"{what}: {_NOT_TORCH_FORWARD.format(spec.mode.torch_class)} (its input is a "
            f"{type(x).__name__}, not a tensor or PackedSequence)"
        )
    try:
        inp = input_spec_of(spec, x)
        finals = final_states(spec, output)
        names = spec.mode.family.states
        suffix = "_1" if spec.mode.is_cell else "_n"
        if hx is None:
            # torch starts from zeros of the final states' shapes, on the input's device.
            states = {f"{s}_0": finals[f"{s}{suffix}"] for s in names}
        else:
            states = states_of_hx(spec, hx)
        seen = observed_pass(spec, x, states, output)
    except UsageError as exc:
        raise UsageError(f"{what}: {exc}") from exc
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{what}: {_NOT_TORCH_FORWARD.format(spec.mode.torch_class)} ({exc})"
        ) from exc
    # torch's own forward returns states shaped as it took them, and packs what came packed:
    # a subclass whose forward takes other arguments (lengths, a mask) breaks one of these.
    mismatched = [s for s in names if seen[f"{s}_0"].shape != seen[f"{s}{suffix}"].shape]
    if mismatched or (
        not spec.mode.is_cell
        and (seen["input"].batch_sizes is None) != (seen["output"].batch_sizes is None)
    ):
        raise UsageError(f"{what}: {_NOT_TORCH_FORWARD.format(spec.mode.torch_class)}")
    return ObservedCall(name, call, spec, inp, observation(module, seen, []))


# Why a call cannot be read: the hook sees the arguments of the module's own forward.
_NOT_TORCH_FORWARD = (
    "its arguments or result do not have the shape of torch's own {}.forward(input, hx); "
    "rnnshape reads a subclass only when its forward takes the same arguments"
)
