"""The exact integer cost of one forward pass: multiply-adds and element-wise FLOPs."""

from __future__ import annotations

from typing import NamedTuple

from rnnshape.family import InputSpec, LayerSpec

from .shapes import _batch, _seq


class Cost(NamedTuple):
    """Exact integer cost of one forward pass (1 MAC = one multiply-add = 2 FLOPs)."""

    input_projection_macs: int
    recurrent_projection_macs: int
    output_projection_macs: int
    elementwise_flops: int

    @property
    def macs(self) -> int:
        return (
            self.input_projection_macs
            + self.recurrent_projection_macs
            + self.output_projection_macs
        )

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise_flops

    def to_dict(self) -> dict[str, object]:
        return {
            "macs": self.macs,
            "flops": self.flops,
            "terms": {
                "input_projection": {"macs": self.input_projection_macs},
                "recurrent_projection": {"macs": self.recurrent_projection_macs},
                "output_projection": {"macs": self.output_projection_macs},
                "elementwise": {"flops": self.elementwise_flops},
            },
        }


def row_steps(spec: LayerSpec, inp: InputSpec) -> int:
    """Rows times time steps that really run: L·N padded, L unbatched, sum(lengths) packed,
    N (or 1) for a cell."""
    if spec.mode.is_cell:
        return 1 if inp.unbatched else _batch(inp)
    if inp.lengths is not None:
        return sum(inp.lengths)
    return _seq(inp) * (1 if inp.unbatched else _batch(inp))


def sequences(inp: InputSpec) -> int:
    """Sequences in one pass: N, or 1 unbatched, or the number of lengths (rows for a cell)."""
    if inp.lengths is not None:
        return len(inp.lengths)
    return 1 if inp.unbatched else (inp.batch or 1)


def cost(spec: LayerSpec, inp: InputSpec) -> Cost:
    """MACs of the matrix multiplies and FLOPs of the element-wise work, per the equations.

    The element-wise constants per hidden unit are the family's (``spec.family``)."""
    steps = row_steps(spec, inp)
    g_h = spec.gate_rows
    d = 1 if spec.mode.is_cell else spec.num_directions
    layer_inputs = spec.input_size + (spec.num_layers - 1) * d * spec.h_out
    base, per_bias = spec.mode.family.recurrence.elementwise_flops
    elementwise_per_unit = base + (per_bias if spec.bias else 0)
    return Cost(
        input_projection_macs=steps * d * g_h * layer_inputs,
        recurrent_projection_macs=steps * d * spec.num_layers * g_h * spec.h_out,
        output_projection_macs=steps * d * spec.num_layers * spec.proj_size * spec.hidden_size,
        elementwise_flops=steps * d * spec.num_layers * spec.hidden_size * elementwise_per_unit,
    )


# Forward plus backward is counted as three forward passes (the backward pass of a matrix
# multiply is two multiplies of the same size), the usual convention for training FLOP/s.
BACKWARD_FLOPS_FACTOR = 3
