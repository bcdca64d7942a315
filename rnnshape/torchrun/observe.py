"""A user's own module and input: which family it is, its config, one observed pass."""

from __future__ import annotations

from typing import Any

from rnnshape.errors import UsageError
from rnnshape.spec import InputSpec, LayerSpec, Mode, make_input, make_spec
from rnnshape.torchrun.device import import_torch, torch_warnings
from rnnshape.torchrun.run import Observation, forward, initial_states, observation


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


def observe_module(
    module: Any, input: Any, hx: Any = None, seed: int = 0
) -> tuple[LayerSpec, InputSpec, Observation]:
    """Run a user's module on a user's input; states default to seeded random ones."""
    notes: list[str] = []
    torch = import_torch(notes)
    from torch.nn.utils.rnn import PackedSequence

    spec = spec_of_module(module)
    inp = input_spec_of(spec, input)
    data = input.data if isinstance(input, PackedSequence) else input
    if data.shape[-1] != spec.input_size:
        raise UsageError(
            f"input has {data.shape[-1]} features in its last dimension but the module's "
            f"input_size is {spec.input_size}"
        )
    names = spec.mode.family.states
    if hx is None:
        torch.manual_seed(seed)

        def make(shape: tuple[int, ...]) -> Any:
            return torch.randn(shape, dtype=data.dtype, device=data.device)

        states = initial_states(spec, inp, make)
    elif len(names) > 1:
        states = {f"{s}_0": t for s, t in zip(names, hx, strict=True)}
    else:
        states = {"h_0": hx}
    with torch_warnings(notes):
        seen = forward(torch, module, spec, input, states)
    return spec, inp, observation(module, seen, notes)


def input_spec_of(spec: LayerSpec, input: Any) -> InputSpec:
    """Describe a user's input tensor or PackedSequence as an InputSpec."""
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(input, PackedSequence):
        if spec.mode.is_cell:
            raise UsageError("a cell takes one time step, not a PackedSequence")
        sizes = input.batch_sizes.tolist()
        by_rank = [sum(1 for b in sizes if b > i) for i in range(int(sizes[0]))]
        if input.unsorted_indices is not None:
            lengths = [by_rank[int(i)] for i in input.unsorted_indices.tolist()]
        else:
            lengths = by_rank
        return make_input(spec, lengths=lengths)
    rank = input.dim()
    if spec.mode.is_cell:
        if rank not in (1, 2):
            raise UsageError(f"a cell's input must be 1-D or 2-D, got {rank}-D")
        return (
            make_input(spec, unbatched=True)
            if rank == 1
            else make_input(spec, batch=int(input.shape[0]))
        )
    if rank == 2:
        return make_input(spec, seq=int(input.shape[0]), unbatched=True)
    if rank != 3:
        raise UsageError(f"a recurrent layer's input must be 2-D or 3-D, got {rank}-D")
    first, second = int(input.shape[0]), int(input.shape[1])
    seq, batch = (second, first) if spec.batch_first else (first, second)
    return make_input(spec, seq=seq, batch=batch)
