"""What an explanation holds, as plain data; each ``to_dict()`` is part of the report's
``"explain"`` key (see ``rnnshape.explain`` for the layout)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnshape.explain.kernel import KernelChoice
from rnnshape.formulas import LISTING_LIMIT, elided_dict


@dataclass(frozen=True)
class GateBlock:
    """One gate's rows of one parameter: ``W_if`` = ``weight_ih_l0[20:40, :]``."""

    name: str
    gate: str | None  # "f"; None for an RNN's single block and for LSTM's projection
    parameter: str
    rows: tuple[int, int]  # half-open slice of the parameter's first dimension
    shape: tuple[int, ...]
    layer: int | None
    direction: str

    @property
    def index(self) -> str:
        """The slice as Python writes it: ``weight_ih_l0[20:40, :]``, ``bias_ih_l0[20:40]``."""
        rows = f"{self.rows[0]}:{self.rows[1]}"
        return f"{self.parameter}[{rows}" + (", :]" if len(self.shape) == 2 else "]")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "gate": self.gate,
            "parameter": self.parameter,
            "rows": list(self.rows),
            "shape": list(self.shape),
            "layer": self.layer,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class Term:
    """A symbol of an equation with its concrete shape."""

    symbol: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"symbol": self.symbol, "shape": list(self.shape)}


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs`` as the docs write it, every term's shape and the result's."""

    lhs: str
    rhs: str
    terms: tuple[Term, ...]
    shape: tuple[int, ...]
    layers: tuple[int, int] | None  # inclusive; None for a cell
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "lhs": self.lhs,
            "rhs": self.rhs,
            "terms": [t.to_dict() for t in self.terms],
            "shape": list(self.shape),
            "layers": list(self.layers) if self.layers is not None else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Node:
    """A node of the diagram; ``extra`` holds kind-specific keys (``steps``, ``p`` ...)."""

    id: str
    kind: str  # input, initial_state, cell, layer_output, dropout, final_state
    label: str
    shape: tuple[int, ...] | None = None
    layer: int | None = None
    direction: str | None = None
    extra: tuple[tuple[str, object], ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "kind": self.kind, "label": self.label}
        if self.shape is not None:
            out["shape"] = list(self.shape)
        if self.layer is not None:
            out["layer"] = self.layer
        if self.direction is not None:
            out["direction"] = self.direction
        for key, value in self.extra:
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Edge:
    """What flows from one node to another at one time step."""

    source: str
    target: str
    label: str
    shape: tuple[int, ...]
    recurrent: bool = False  # t → t+1 (t → t-1 in reverse) inside one cell node

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "from": self.source,
            "to": self.target,
            "label": self.label,
            "shape": list(self.shape),
        }
        if self.recurrent:
            out["recurrent"] = True
        return out


@dataclass(frozen=True)
class Diagram:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    layers_omitted: int = 0  # layers left out after the first LISTING_EDGE (elided)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }
        if self.layers_omitted:
            out["layers_elided"] = elided_dict(LISTING_LIMIT, self.layers_omitted)
        return out


@dataclass(frozen=True)
class Explanation:
    """Why the shapes are what they are; ``notes`` are for the terminal, not the JSON."""

    gates: tuple[GateBlock, ...]
    equations: tuple[Equation, ...]
    diagram: Diagram
    notes: tuple[str, ...] = field(default=())
    gates_omitted: int = 0  # gate blocks left out at index LISTING_EDGE (elided)
    kernel: KernelChoice | None = None  # the kernel torch picks and the rule that decided

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"gates": [g.to_dict() for g in self.gates]}
        if self.gates_omitted:
            out["gates_elided"] = elided_dict(len(self.gates), self.gates_omitted)
        out["equations"] = [e.to_dict() for e in self.equations]
        out["diagram"] = self.diagram.to_dict()
        if self.kernel is not None:
            out["kernel"] = self.kernel.to_dict()
        return out
