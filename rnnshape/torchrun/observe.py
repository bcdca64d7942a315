"""A user's own module and input: which family it is, its config, one observed pass."""

from __future__ import annotations

from typing import Any

from rnnshape.errors import UsageError
from rnnshape.family import InputSpec, LayerSpec, make_input
from rnnshape.torchrun.device import import_torch, torch_warnings
from rnnshape.torchrun.passes import (
    Observation,
    forward,
    initial_states,
    observation,
    spec_of_module,
    states_of_hx,
)


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
    if hx is None:
        torch.manual_seed(seed)

        def make(shape: tuple[int, ...]) -> Any:
            return torch.randn(shape, dtype=data.dtype, device=data.device)

        states = initial_states(spec, inp, make)
    else:
        states = states_of_hx(spec, hx)
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
