"""ONNX ``LSTM``/``GRU``/``RNN`` nodes as torch modules (the gate mapping is ``onnx_gates``).

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
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

from rnnshape.errors import SpecError
from rnnshape.family import Mode, make_spec
from rnnshape.text import one_line, shape_text, shorten

from .onnx_gates import ONNX_OPS, OnnxNode, OnnxOp, gate_blocks, node_notes
from .onnx_proto import read_graph_only
from .records import MAX_DEPTH, Checkpoint, CheckpointError, CheckpointFormat
from .result import InferProblem, InferredModule, InferResult

if TYPE_CHECKING:
    import onnx


_DIRECTIONS = {"forward": 1, "bidirectional": 2}
# torch's dtype names for ONNX's TensorProto.DataType numbers that an RNN's weights use.
_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}

# A name from the file (a node's, a value's) is kept to this many characters, and a value
# quoted in a message to _VALUE_CHARS: a file's text never makes a message long.
NAME_CHARS = 200
_VALUE_CHARS = 80
# Shape inference holds the model several times over (protobuf in C++, the inferred types of
# every value, the copy it returns): measured at up to 7 times the parse's estimated cost on a
# chain of 100,000 nodes, so it runs only where 8 times fits the file's budget
# (onnx_proto.memory_budget; tests/test_onnx_bounds.py holds it to measurement).
INFERENCE_COPIES = 8

_NOT_INFERRED = "ONNX shape inference does not give it"

Dims = tuple[int | str | None, ...]  # an int, a symbolic dim's name, or None when unknown


class ValueType(NamedTuple):
    """What the graph says about one value: its dims (None when even the rank is unknown)."""

    dims: Dims | None
    elem_type: int


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
    graph_only = read_graph_only(path)
    model = graph_only.model
    modules, problems, unknown = _infer_model(model)
    if unknown and graph_only.cost * INFERENCE_COPIES <= graph_only.budget:
        inferred = _shape_inferred(model)
        if inferred is not None:
            modules, problems, _ = _infer_model(inferred)
    elif unknown:  # say why inference gave nothing
        skipped = (
            "ONNX shape inference was not run (the graph is too large to infer within the "
            "memory budget of its file)"
        )
        problems = [replace(p, message=p.message.replace(_NOT_INFERRED, skipped)) for p in problems]
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
    except Exception:  # noqa: BLE001 - any failure (a Loop of one input: ValueError) is "unknown"
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
        name = _cut(attr.name)
        if attr.type == onnx.AttributeProto.GRAPH:
            yield _cut_path(f"{here}/{name}"), attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for i, sub in enumerate(attr.graphs):
                yield _cut_path(f"{here}/{name}/{i}"), sub


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
    # One at a time (chain, not a tuple): a wrapper object per value would cost more than
    # the parsed graph itself.
    for info in chain(graph.value_info, graph.input, graph.output):
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
    name = node.name or next((o for o in node.output if o), "")
    return _cut(name) if name else f"{_cut(node.op_type)}_{index}"


def _str(text: str | bytes) -> str:
    """A string field's text: protobuf gives bytes where the file's are not UTF-8."""
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def _cut(name: str | bytes) -> str:
    """A name from the file, kept to NAME_CHARS characters."""
    return shorten(_str(name), NAME_CHARS)


def _cut_path(path: str) -> str:
    """A subgraph's path, kept to a few names' length however deep it is."""
    return shorten(path, 4 * NAME_CHARS)


def _shown(value: object) -> str:
    """A value from the file, for a message: cut, on one line."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return repr(one_line(shorten(value, _VALUE_CHARS)))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(_shown(v) for v in value[:6])
        return f"[{items}{', …' if len(value) > 6 else ''}]"
    return f"a {type(value).__name__}"


def _attributes(node: onnx.NodeProto) -> tuple[dict[str, object], list[str]]:
    """The node's attributes by name, and a message for each that has no value here."""
    import onnx

    values: dict[str, object] = {}
    messages = []
    for attr in node.attribute:
        if attr.ref_attr_name:
            messages.append(
                f"attribute {_shown(attr.name)} refers to the attribute "
                f"{_shown(attr.ref_attr_name)} of a function, but the node is not inside one: "
                "its value is not known"
            )
            continue
        try:
            values[_str(attr.name)] = onnx.helper.get_attribute_value(attr)
        except ValueError:  # a type ONNX does not define
            messages.append(f"attribute {_shown(attr.name)} has no value of a known type")
    return values, messages


def _text(value: object) -> str:
    """A string attribute's text; anything else as a message shows it."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else _shown(value)


def _input(name: str | bytes) -> str:
    """A value the node reads, as a message names it."""
    return repr(one_line(shorten(_str(name), _VALUE_CHARS)))


def _infer_node(
    node: onnx.NodeProto,
    op: OnnxOp,
    name: str,
    graph: str,
    types: Mapping[str, ValueType],
) -> tuple[InferredModule | None, list[str], bool]:
    """The node's module, or why it has none; True when a weight's shape is not known."""
    attrs, messages = _attributes(node)
    if messages:
        return None, messages, False
    inputs = [_str(i) for i in node.input[:8]] + [""] * (8 - len(node.input))
    direction = _text(attrs.get("direction", b"forward"))
    layout = attrs.get("layout", 0)
    given_activations = attrs.get("activations", [])
    activations = (
        tuple(_text(a) for a in given_activations) if isinstance(given_activations, list) else ()
    )
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
            shape = "rank unknown" if dims is None else _shown(list(dims))
            messages.append(
                f"the shape of {role} ({_input(value)}) cannot be known statically ({shape}): "
                f"it is computed at run time and {_NOT_INFERRED}"
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
        return None, [f"R ({_input(inputs[2])}) has shape {_shown(list(r))}: it must be 3-D"], False
    hidden = r[2]
    given = attrs.get("hidden_size")
    if given is not None and given != hidden:
        messages.append(
            f"hidden_size={_shown(given)}, but R ({_input(inputs[2])}) has {hidden} columns"
        )
    input_size = w[2] if len(w) == 3 else 0
    expected = {
        "W": (num_directions, gates * hidden, input_size),
        "R": (num_directions, gates * hidden, hidden),
        "B": (num_directions, 2 * gates * hidden),
    }
    for role, found_shape in shapes.items():
        if found_shape != expected[role]:
            messages.append(
                f"{role} ({_input(inputs[('W', 'R', 'B').index(role) + 1])}) has shape "
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
        inputs={"W": _cut(inputs[1]), "R": _cut(inputs[2]), "B": _cut(inputs[3]) or None},
        activations=activations or op.activations[0] * num_directions,
        linear_before_reset=int(lbr) if lbr is not None else None,  # type: ignore[call-overload]
        blocks=gate_blocks(op, hidden, num_directions, bias="B" in shapes),
        notes=node_notes([_input(i) if i else "" for i in inputs], layout == 1),
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
        messages.append(f"direction={_shown(direction)} is not an ONNX direction")
    if layout not in (0, 1):
        messages.append(f"layout={_shown(layout)}: ONNX defines layout 0 and 1 only")
    if op.mode is Mode.LSTM and inputs[7]:
        messages.append(f"peepholes (input P, {_input(inputs[7])}): {torch_class} has none")
    if "clip" in attrs:
        messages.append(f"clip={_shown(attrs['clip'])}: {torch_class} never clips its gates")
    if attrs.get("input_forget", 0):
        messages.append(
            f"input_forget={_shown(attrs['input_forget'])} (coupled input and forget gates): "
            f"{torch_class} has separate ones"
        )
    if lbr is not None and lbr != 1:
        default = "" if "linear_before_reset" in attrs else " (the default)"
        messages.append(
            f"linear_before_reset={_shown(lbr)}{default}: the reset gate multiplies h before the "
            f"recurrent weights; {torch_class} multiplies after them (linear_before_reset=1)"
        )
    if activations:
        per = len(op.activations[0])
        chunks = {activations[i : i + per] for i in range(0, len(activations), per)}
        if len(activations) % per or len(chunks) != 1 or chunks.pop() not in op.activations:
            choices = " or ".join(", ".join(a) for a in op.activations)
            messages.append(
                f"activations={_shown(list(activations))}: {torch_class} uses {choices} "
                "in each direction"
            )
    return messages
