"""ONNX ``LSTM``/``GRU``/``RNN`` nodes as torch modules, and where each gate block goes.

Every such node, in the main graph or any subgraph (``If`` branches, ``Loop``/``Scan``
bodies), becomes one single-layer module when torch's class computes the same thing, or a
problem naming the attribute that torch has no equivalent for. Shapes come from the
initializers' dims (their bytes are never read, see ``onnx_proto``), from the graph's type
information, or from ONNX shape inference when the weights are computed (an ``Unsqueeze``
or ``Cast`` of an initializer). The ``onnx`` package is imported only when such a file is
read; torch never is.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from rnnshape.errors import SpecError
from rnnshape.spec import Mode, make_spec
from rnnshape.text import shape_text

from .model import MAX_DEPTH, Checkpoint, CheckpointError, CheckpointFormat
from .onnx_proto import load_graph_only
from .result import InferProblem, InferredModule, InferResult

if TYPE_CHECKING:
    import onnx


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
_DIRECTIONS = {"forward": 1, "bidirectional": 2}
# torch's dtype names for ONNX's TensorProto.DataType numbers that an RNN's weights use.
_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}

Dims = tuple[int | str | None, ...]  # an int, a symbolic dim's name, or None when unknown


class ValueType(NamedTuple):
    """What the graph says about one value: its dims (None when even the rank is unknown)."""

    dims: Dims | None
    elem_type: int


@dataclass(frozen=True)
class GateBlock:
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
        rest = "" if self.torch_parameter.startswith("bias") else ", :"
        return f"{self.torch_parameter}[{self.torch_start}:{self.torch_stop}{rest}]"

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
    blocks: tuple[GateBlock, ...]
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


@dataclass(frozen=True)
class OnnxCheckpoint(Checkpoint):
    """An ONNX model: no state dicts, but its recurrent nodes already read as modules."""

    modules: tuple[InferredModule, ...] = ()
    problems: tuple[InferProblem, ...] = ()
    initializers: int = 0

    def infer(self) -> InferResult:
        """The modules and problems found, as ``infer_from`` returns them for other formats."""
        return InferResult(self.path, self.format, self.modules, self.problems, self.initializers)


def read_onnx(path: str) -> OnnxCheckpoint:
    """Read an ONNX model's recurrent nodes without loading a weight or any external data."""
    model = load_graph_only(path)
    modules, problems, unknown = _infer_model(model)
    if unknown:
        inferred = _shape_inferred(model)
        if inferred is not None:
            modules, problems, _ = _infer_model(inferred)
    initializers = sum(len(graph.initializer) for _, graph in _graphs(model.graph, "", 0))
    return OnnxCheckpoint(
        path,
        CheckpointFormat.ONNX,
        (),
        modules=tuple(modules),
        problems=tuple(problems),
        initializers=initializers,
    )


def _shape_inferred(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """The model with ONNX's inferred value types added, or None when inference fails."""
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError):
        return None


def _infer_model(
    model: onnx.ModelProto,
) -> tuple[list[InferredModule], list[InferProblem], bool]:
    """Every recurrent node's module or problems; True when a shape was not known."""
    modules: list[InferredModule] = []
    problems: list[InferProblem] = []
    unknown = False
    for graph_path, node, index, types in _nodes(model.graph, "", ChainMap(), 0):
        op = ONNX_OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if op is None:
            continue
        name = _node_name(node, index)
        module, messages, missing = _infer_node(node, op, name, graph_path, types)
        unknown = unknown or missing
        if module is not None:
            modules.append(module)
        problems += [InferProblem(name, None, m, graph=graph_path) for m in messages]
    return modules, problems, unknown


def _graphs(graph: onnx.GraphProto, path: str, depth: int) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The graph and every subgraph in it, each with its path."""
    yield path, graph
    for index, node in enumerate(graph.node):
        for sub_path, sub in _children(node, index, path, depth):
            yield from _graphs(sub, sub_path, depth + 1)


def _children(
    node: onnx.NodeProto, index: int, path: str, depth: int
) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The subgraphs a node holds (If's branches, a Loop or Scan body), with their paths."""
    import onnx

    if depth >= MAX_DEPTH:
        raise CheckpointError(f"subgraphs nested more than {MAX_DEPTH} deep")
    here = f"{path}/{_node_name(node, index)}" if path else _node_name(node, index)
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield f"{here}/{attr.name}", attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for i, sub in enumerate(attr.graphs):
                yield f"{here}/{attr.name}/{i}", sub


def _nodes(
    graph: onnx.GraphProto, path: str, outer: ChainMap[str, ValueType], depth: int
) -> Iterator[tuple[str, onnx.NodeProto, int, Mapping[str, ValueType]]]:
    """Every node, depth first, with the value types its graph (and outer scopes) knows."""
    types = outer.new_child(_value_types(graph))
    for index, node in enumerate(graph.node):
        yield path, node, index, types
        for sub_path, sub in _children(node, index, path, depth):
            yield from _nodes(sub, sub_path, types, depth + 1)


def _value_types(graph: onnx.GraphProto) -> dict[str, ValueType]:
    """Types the graph records: value_info, inputs, outputs, Constants, initializers."""
    import onnx

    found: dict[str, ValueType] = {}
    for info in (*graph.value_info, *graph.input, *graph.output):
        if info.type.HasField("tensor_type"):
            tensor = info.type.tensor_type
            dims: Dims | None = None
            if tensor.HasField("shape"):
                dims = tuple(
                    d.dim_value
                    if d.HasField("dim_value")
                    else d.dim_param
                    if d.HasField("dim_param")
                    else None
                    for d in tensor.shape.dim
                )
            found[info.name] = ValueType(dims, tensor.elem_type)
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    found[node.output[0]] = ValueType(tuple(attr.t.dims), attr.t.data_type)
    for tensor in graph.initializer:
        found[tensor.name] = ValueType(tuple(tensor.dims), tensor.data_type)
    return found


def _node_name(node: onnx.NodeProto, index: int) -> str:
    """The node's name, else its first output's, else its op and place in the graph."""
    return node.name or next((o for o in node.output if o), f"{node.op_type}_{index}")


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    import onnx

    return {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _infer_node(
    node: onnx.NodeProto,
    op: OnnxOp,
    name: str,
    graph: str,
    types: Mapping[str, ValueType],
) -> tuple[InferredModule | None, list[str], bool]:
    """The node's module, or why it has none; True when a weight's shape is not known."""
    attrs = _attributes(node)
    inputs = list(node.input) + [""] * (8 - len(node.input))
    direction = _text(attrs.get("direction", b"forward"))
    layout = attrs.get("layout", 0)
    activations = tuple(_text(a) for a in attrs.get("activations", []))  # type: ignore[attr-defined]
    lbr = attrs.get("linear_before_reset", 0) if op.mode is Mode.GRU else None
    messages = _not_equivalent(op, attrs, inputs, direction, layout, activations, lbr)
    if messages:
        return None, messages, False
    num_directions = _DIRECTIONS[direction]

    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: set[str] = set()
    for role, value in (("W", inputs[1]), ("R", inputs[2]), ("B", inputs[3])):
        if not value:
            if role != "B":
                messages.append(f"input {role} is missing")
            continue
        found = types.get(value)
        dims = found.dims if found is not None else None
        if dims is None or not all(isinstance(d, int) and d > 0 for d in dims):
            shape = "rank unknown" if dims is None else f"[{', '.join(map(str, dims))}]"
            messages.append(
                f"the shape of {role} ({value!r}) cannot be known statically ({shape}): it is "
                "computed at run time and ONNX shape inference does not give it"
            )
            continue
        shapes[role] = tuple(d for d in dims if isinstance(d, int))
        if found is not None:
            dtypes.add(_DTYPES.get(found.elem_type, f"onnx type {found.elem_type}"))
    if messages:
        return None, messages, True

    gates = max(1, len(op.gates))
    w, r = shapes["W"], shapes["R"]
    if len(r) != 3:
        return None, [f"R ({inputs[2]!r}) has shape {shape_text(r)}: it must be 3-D"], False
    hidden = r[2]
    given = attrs.get("hidden_size")
    if given is not None and given != hidden:
        messages.append(f"hidden_size={given}, but R ({inputs[2]!r}) has {hidden} columns")
    input_size = w[2] if len(w) == 3 else 0
    expected = {
        "W": (num_directions, gates * hidden, input_size),
        "R": (num_directions, gates * hidden, hidden),
        "B": (num_directions, 2 * gates * hidden),
    }
    for role, found_shape in shapes.items():
        if found_shape != expected[role]:
            messages.append(
                f"{role} ({node.input[('W', 'R', 'B').index(role) + 1]!r}) has shape "
                f"{shape_text(found_shape)}, but {direction} {op.mode.torch_class} with "
                f"hidden_size {hidden} needs {shape_text(expected[role])}"
            )
    if messages:
        return None, messages, False
    options: dict[str, object] = {
        "bias": "B" in shapes,
        "batch_first": layout == 1,
        "bidirectional": num_directions == 2,
    }
    if "nonlinearity" in op.mode.kwargs:
        options["nonlinearity"] = "relu" if activations[:1] == ("Relu",) else "tanh"
    try:
        spec = make_spec(op.mode, input_size, hidden, 1, **options)
    except SpecError as exc:
        return None, [f"the shapes give {exc.message}, which torch does not allow"], False
    info = OnnxNode(
        op=node.op_type,
        graph=graph,
        gate_order="".join(op.gates),
        torch_gate_order="".join(op.mode.gates),
        direction=direction,
        layout=int(layout),  # type: ignore[call-overload]
        inputs={"W": inputs[1], "R": inputs[2], "B": inputs[3] or None},
        activations=activations or op.activations[0] * num_directions,
        linear_before_reset=int(lbr) if lbr is not None else None,  # type: ignore[call-overload]
        blocks=gate_blocks(op, hidden, num_directions, bias="B" in shapes),
        notes=_notes(inputs, layout == 1),
    )
    dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
    return InferredModule(name, None, spec, dtype, onnx=info), [], False


def _not_equivalent(
    op: OnnxOp,
    attrs: Mapping[str, object],
    inputs: Sequence[str],
    direction: str,
    layout: object,
    activations: tuple[str, ...],
    lbr: object,
) -> list[str]:
    """Each attribute or input that makes the node compute what no torch class does."""
    torch_class = f"nn.{op.mode.torch_class}"
    messages = []
    if direction == "reverse":
        messages.append(
            f'direction="reverse": {torch_class} runs a reverse direction only next to the '
            "forward one (bidirectional=True)"
        )
    elif direction not in _DIRECTIONS:
        messages.append(f"direction={direction!r} is not an ONNX direction")
    if layout not in (0, 1):
        messages.append(f"layout={layout!r}: ONNX defines layout 0 and 1 only")
    if op.mode is Mode.LSTM and inputs[7]:
        messages.append(f"peepholes (input P, {inputs[7]!r}): {torch_class} has none")
    if "clip" in attrs:
        messages.append(f"clip={attrs['clip']}: {torch_class} never clips its gates")
    if attrs.get("input_forget", 0):
        messages.append(
            f"input_forget={attrs['input_forget']} (coupled input and forget gates): "
            f"{torch_class} has separate ones"
        )
    if lbr is not None and lbr != 1:
        default = "" if "linear_before_reset" in attrs else " (the default)"
        messages.append(
            f"linear_before_reset={lbr}{default}: the reset gate multiplies h before the "
            f"recurrent weights; {torch_class} multiplies after them (linear_before_reset=1)"
        )
    if activations:
        per = len(op.activations[0])
        chunks = {activations[i : i + per] for i in range(0, len(activations), per)}
        if len(activations) % per or len(chunks) != 1 or chunks.pop() not in op.activations:
            choices = " or ".join(", ".join(a) for a in op.activations)
            messages.append(
                f"activations={list(activations)}: {torch_class} uses {choices} in each direction"
            )
    return messages


def gate_blocks(
    op: OnnxOp, hidden: int, num_directions: int, *, bias: bool
) -> tuple[GateBlock, ...]:
    """Where each ONNX block of W, R and B goes in torch's parameters, per direction."""
    torch_order = op.mode.gates
    onnx_gates: Sequence[str | None] = op.gates or (None,)
    torch_gates: Sequence[str | None] = op.torch_gates or (None,)
    gates = len(onnx_gates)
    blocks: list[GateBlock] = []
    for direction in range(num_directions):
        suffix = "_l0_reverse" if direction else "_l0"
        sources = [("W", "weight_ih", 0), ("R", "weight_hh", 0)]
        if bias:
            sources += [("B", "bias_ih", 0), ("B", "bias_hh", gates)]
        for tensor, parameter, offset in sources:
            for k, (onnx_gate, torch_gate) in enumerate(zip(onnx_gates, torch_gates, strict=True)):
                j = torch_order.index(torch_gate) if torch_gate is not None else 0
                blocks.append(
                    GateBlock(
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


def _notes(inputs: Sequence[str], batch_first: bool) -> tuple[str, ...]:
    """What else differs from torch's call, for a converter author."""
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
            f"sequence_lens ({inputs[4]!r}): torch takes lengths as a PackedSequence "
            "(torch.nn.utils.rnn.pack_padded_sequence)"
        )
    return tuple(notes)
