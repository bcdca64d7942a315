"""How an ONNX ``LSTM``/``GRU``/``RNN`` node maps onto torch: the operators' gate orders,
where each block of W, R and B goes in torch's parameters, and the node's side of an
inferred module (``InferredModule.onnx``). Plain data; the graph is read in ``onnx_nodes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from rnnshape.family import Mode


class OnnxOp(NamedTuple):
    """How one ONNX recurrent operator stacks its weights, next to its torch class."""

    mode: Mode
    gates: tuple[str, ...]  # ONNX's gate blocks in W/R/B rows, in ONNX's order
    torch_gates: tuple[str, ...]  # the torch gate each of those blocks is, same order
    activations: tuple[tuple[str, ...], ...]  # per direction, each equivalent torch choice


# The ONNX operator specs (onnx/docs/Operators.md) against torch's docs: LSTM stacks
# i o f c where torch stacks i f g o (ONNX's c is torch's g, the cell candidate); GRU
# stacks z r h where torch stacks r z n. RNN has one block; its activation is torch's
# nonlinearity. Torch's order itself comes from the family table.
ONNX_OPS: dict[str, OnnxOp] = {
    "LSTM": OnnxOp(
        Mode.LSTM, ("i", "o", "f", "c"), ("i", "o", "f", "g"), (("Sigmoid", "Tanh", "Tanh"),)
    ),
    "GRU": OnnxOp(Mode.GRU, ("z", "r", "h"), ("z", "r", "n"), (("Sigmoid", "Tanh"),)),
    "RNN": OnnxOp(Mode.RNN, (), (), (("Tanh",), ("Relu",))),
}


def torch_rows_text(parameter: str, start: int, stop: int) -> str:
    """Rows of a torch parameter as indexing reads them: ``weight_ih_l0[0:20, :]``, and
    ``bias_ih_l0[0:20]`` for a vector (shared by the ONNX and Keras block mappings)."""
    rest = "" if parameter.startswith("bias") else ", :"
    return f"{parameter}[{start}:{stop}{rest}]"


@dataclass(frozen=True)
class BlockMapping:
    """One row of the ``--explain`` table: a block of ONNX rows and the torch rows it fills.

    ``onnx_tensor`` is ``W``, ``R`` or ``B``; rows count along dimension 1 of that tensor
    (for ``B``, its ``2·gates·hidden`` columns), in direction ``direction`` (dimension 0).
    """

    direction: int
    onnx_tensor: str
    onnx_gate: str | None
    onnx_start: int
    onnx_stop: int
    torch_parameter: str
    torch_gate: str | None
    torch_start: int
    torch_stop: int

    def onnx_slice(self) -> str:
        rest = "" if self.onnx_tensor == "B" else ", :"
        return f"{self.onnx_tensor}[{self.direction}, {self.onnx_start}:{self.onnx_stop}{rest}]"

    def torch_slice(self) -> str:
        return torch_rows_text(self.torch_parameter, self.torch_start, self.torch_stop)

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "onnx_tensor": self.onnx_tensor,
            "onnx_gate": self.onnx_gate,
            "onnx_rows": [self.onnx_start, self.onnx_stop],
            "onnx": self.onnx_slice(),
            "torch_parameter": self.torch_parameter,
            "torch_gate": self.torch_gate,
            "torch_rows": [self.torch_start, self.torch_stop],
            "torch": self.torch_slice(),
        }


@dataclass(frozen=True)
class OnnxNode:
    """The ONNX side of an inferred module: the node, its attributes, the gate mapping."""

    op: str
    graph: str  # "" for the main graph, "If_0/then_branch" inside a subgraph
    gate_order: str
    torch_gate_order: str
    direction: str
    layout: int
    inputs: Mapping[str, str | None]  # W, R, B: the graph values the node reads
    activations: tuple[str, ...]
    linear_before_reset: int | None  # GRU only
    blocks: tuple[BlockMapping, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "op": self.op,
            "gate_order": self.gate_order,
            "torch_gate_order": self.torch_gate_order,
            "direction": self.direction,
            "layout": self.layout,
            "inputs": dict(self.inputs),
            "activations": list(self.activations),
        }
        if self.linear_before_reset is not None:
            out["linear_before_reset"] = self.linear_before_reset
        out["notes"] = list(self.notes)
        return out


@lru_cache(maxsize=256)  # a model's nodes repeat a few shapes: blocks are shared, never copied
def gate_blocks(
    op: OnnxOp, hidden: int, num_directions: int, *, bias: bool
) -> tuple[BlockMapping, ...]:
    """Where each ONNX block of W, R and B goes in torch's parameters, per direction."""
    torch_order = op.mode.gates
    onnx_gates: Sequence[str | None] = op.gates or (None,)
    torch_gates: Sequence[str | None] = op.torch_gates or (None,)
    gates = len(onnx_gates)
    blocks: list[BlockMapping] = []
    for direction in range(num_directions):
        suffix = "_l0_reverse" if direction else "_l0"
        sources = [("W", "weight_ih", 0), ("R", "weight_hh", 0)]
        if bias:
            sources += [("B", "bias_ih", 0), ("B", "bias_hh", gates)]
        for tensor, parameter, offset in sources:
            for k, (onnx_gate, torch_gate) in enumerate(zip(onnx_gates, torch_gates, strict=True)):
                j = torch_order.index(torch_gate) if torch_gate is not None else 0
                blocks.append(
                    BlockMapping(
                        direction,
                        tensor,
                        onnx_gate,
                        (offset + k) * hidden,
                        (offset + k + 1) * hidden,
                        parameter + suffix,
                        torch_gate,
                        j * hidden,
                        (j + 1) * hidden,
                    )
                )
    return tuple(blocks)


def node_notes(inputs: Sequence[str], batch_first: bool) -> tuple[str, ...]:
    """What else differs from torch's call, for a converter author (``inputs`` as quoted)."""
    y = (
        "[batch, seq, num_directions, hidden]"
        if batch_first
        else "[seq, num_directions, batch, hidden]"
    )
    torch_y = (
        "[batch, seq, num_directions·hidden]"
        if batch_first
        else "[seq, batch, num_directions·hidden]"
    )
    notes = [f"ONNX's Y is {y}; torch's output is {torch_y}"]
    if batch_first:
        notes.append(
            "layout=1 also puts batch first in Y_h (and Y_c): [batch, num_directions, hidden]; "
            "torch's h_n stays [num_directions, batch, hidden]"
        )
    if inputs[4]:
        notes.append(
            f"sequence_lens ({inputs[4]}): torch takes lengths as a PackedSequence "
            "(torch.nn.utils.rnn.pack_padded_sequence)"
        )
    return tuple(notes)
