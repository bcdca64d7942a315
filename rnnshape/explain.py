"""The equations, gate blocks and unrolled graph of one layer or cell, with concrete shapes.

Pure functions of a spec and an input (no torch), so ``--explain --dry-run`` stays fast.

``Explanation.to_dict()`` is the ``"explain"`` key of the report (schema v1):

- ``gates``: one entry per gate block of every weight and bias, for every layer and
  direction, in ``named_parameters()`` order: ``{"name": "W_if", "gate": "f", "parameter":
  "weight_ih_l0", "rows": [20, 40], "shape": [20, 10], "layer": 0, "direction": "forward"}``.
  ``rows`` is a half-open Python slice of the parameter's first dimension. Names are the
  PyTorch docs' (``W_ii``, ``b_hf``, GRU's ``W_hr`` ...); LSTM's projection ``weight_hr_l[k]``
  is its own entry, also named ``W_hr`` as the docs do, with ``gate`` null and all its rows.
- ``equations``: the docs' equations for the class, ``{"lhs", "rhs", "terms": [{"symbol",
  "shape"}], "shape", "layers", "note"}``; ``shape`` is one time step's (rows are the batch,
  ``N``, absent unbatched; for packed input ``N`` is the first ``batch_sizes``).
  ``layers`` is the inclusive ``[first, last]`` range of layers the equation holds for with
  these shapes (layer 0 reads ``x_t`` of width ``H_in``, layers 1 and up read the previous
  layer's ``D·H_out``-wide output), null for a cell.
- ``diagram``: the network as a graph that a tool unrolls. It is compact on purpose, its size
  grows with ``num_layers`` only, never with ``L``: one ``cell`` node per layer and direction
  with ``steps`` (how many time steps it runs) and ``time`` (``[first, last]`` t in the order
  it runs: ``[0, L-1]`` forward, ``[L-1, 0]`` reverse), a recurrent self-edge for ``h_t``
  (and ``c_t``), one ``initial_state`` node per ``h_0[k·D+d]`` / ``c_0[k·D+d]`` and one
  ``final_state`` node per ``h_n`` / ``c_n`` slice, one ``layer_output`` node per layer
  (the last one is ``output``) that concatenates the directions, a ``dropout`` node between
  layers when ``dropout > 0``, and the ``input`` node. A cell is one ``cell`` node with
  ``steps`` 1, from ``h_0``/``c_0`` to ``h_1``/``c_1``. Edge shapes are one time step's;
  node shapes are whole tensors. Packed input carries ``batch_sizes`` on the input, cell and
  output nodes: ``L`` is the longest length and only ``batch_sizes[t]`` rows run at step t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnshape.formulas import DOT, batch_sizes, parameter_shapes, tensor_shapes
from rnnshape.spec import InputSpec, LayerSpec

_ROLE_PREFIX = {"weight_ih": "W_i", "weight_hh": "W_h", "bias_ih": "b_i", "bias_hh": "b_h"}
_RNN_NAMES = {"weight_ih": "W_ih", "weight_hh": "W_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}


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

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def to_dict(self) -> dict[str, object]:
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }


@dataclass(frozen=True)
class Explanation:
    """Why the shapes are what they are; ``notes`` are for the terminal, not the JSON."""

    gates: tuple[GateBlock, ...]
    equations: tuple[Equation, ...]
    diagram: Diagram
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "gates": [g.to_dict() for g in self.gates],
            "equations": [e.to_dict() for e in self.equations],
            "diagram": self.diagram.to_dict(),
        }


def explain(spec: LayerSpec, inp: InputSpec) -> Explanation:
    """Gate blocks, equations with shapes and the unrolled graph of ``spec`` on ``inp``."""
    return Explanation(
        gates=tuple(gate_blocks(spec)),
        equations=tuple(equations(spec, inp)),
        diagram=diagram(spec, inp),
        notes=tuple(_notes(spec, inp)),
    )


def gate_blocks(spec: LayerSpec) -> list[GateBlock]:
    """Every gate block of every parameter, in ``named_parameters()`` order."""
    out = []
    h = spec.hidden_size
    for p in parameter_shapes(spec):
        if p.role == "weight_hr":
            out.append(
                GateBlock("W_hr", None, p.name, (0, p.shape[0]), p.shape, p.layer, p.direction)
            )
        elif not p.gates:
            out.append(
                GateBlock(
                    _RNN_NAMES[p.role],
                    None,
                    p.name,
                    (0, p.shape[0]),
                    p.shape,
                    p.layer,
                    p.direction,
                )
            )
        else:
            for i, gate in enumerate(p.gates):
                out.append(
                    GateBlock(
                        f"{_ROLE_PREFIX[p.role]}{gate}",
                        gate,
                        p.name,
                        (i * h, (i + 1) * h),
                        (h, *p.shape[1:]),
                        p.layer,
                        p.direction,
                    )
                )
    return out


def _rows(inp: InputSpec) -> tuple[int, ...]:
    """The leading dimension of one time step: ``(N,)``, or nothing unbatched."""
    if inp.unbatched:
        return ()
    assert inp.batch is not None
    return (inp.batch,)


def _gate_equations(
    spec: LayerSpec, inp: InputSpec, in_width: int, layers: tuple[int, int] | None
) -> list[Equation]:
    cell = spec.mode.is_cell
    n = _rows(inp)
    h, h_out = spec.hidden_size, spec.h_out
    x = "x" if cell else "x_t"
    h_prev = "h_0" if cell else "h_{t-1}"
    c_prev = "c_0" if cell else "c_{t-1}"
    c_new = "c_1" if cell else "c_t"
    h_new = "h_1" if cell else "h_t"
    step = "" if cell else "_t"
    bias = spec.bias
    family = spec.mode.family.recurrence.name

    def affine(gate: str, hidden: str = "") -> tuple[str, list[Term]]:
        """``W_ii x_t + b_ii + W_hi h_{t-1} + b_hi`` and its terms."""
        w_i, w_h, b_i, b_h = (f"W_i{gate}", f"W_h{gate}", f"b_i{gate}", f"b_h{gate}")
        parts = [f"{w_i} {x}"] + ([b_i] if bias else [])
        terms = [Term(w_i, (h, in_width)), Term(x, (*n, in_width))]
        terms += [Term(b_i, (h,))] if bias else []
        rec = f"{w_h} {h_prev}" + (f" + {b_h}" if bias else "")
        parts.append(hidden.format(rec) if hidden else rec)
        terms += [Term(w_h, (h, h_out)), Term(h_prev, (*n, h_out))]
        terms += [Term(b_h, (h,))] if bias else []
        return " + ".join(parts), terms

    if family == "rnn":
        act = "tanh" if spec.nonlinearity == "tanh" else "ReLU"
        parts = [f"{x} W_ihᵀ"] + (["b_ih"] if bias else []) + [f"{h_prev} W_hhᵀ"]
        parts += ["b_hh"] if bias else []
        terms = [Term(x, (*n, in_width)), Term("W_ih", (h, in_width))]
        terms += [Term("b_ih", (h,))] if bias else []
        terms += [Term(h_prev, (*n, h)), Term("W_hh", (h, h))]
        terms += [Term("b_hh", (h,))] if bias else []
        return [
            Equation(
                h_new,
                f"{act}({' + '.join(parts)})",
                tuple(terms),
                (*n, h),
                layers,
                note=f"nonlinearity={spec.nonlinearity!r}",
            )
        ]
    if family == "lstm":
        eqs = []
        for gate, fn in (("i", "σ"), ("f", "σ"), ("g", "tanh"), ("o", "σ")):
            rhs, terms = affine(gate)
            eqs.append(Equation(f"{gate}{step}", f"{fn}({rhs})", tuple(terms), (*n, h), layers))
        g = [Term(f"{k}{step}", (*n, h)) for k in ("i", "f", "g", "o")]
        eqs.append(
            Equation(
                c_new,
                f"f{step} ⊙ {c_prev} + i{step} ⊙ g{step}",
                (g[1], Term(c_prev, (*n, h)), g[0], g[2]),
                (*n, h),
                layers,
            )
        )
        if spec.proj_size > 0:
            eqs.append(
                Equation(
                    h_new,
                    f"W_hr(o{step} ⊙ tanh({c_new}))",
                    (Term("W_hr", (h_out, h)), g[3], Term(c_new, (*n, h))),
                    (*n, h_out),
                    layers,
                    note=(
                        "W_hr here is the projection weight_hr_l[k] "
                        f"({h_out}×{h}, proj_size×hidden_size), a parameter of its own; "
                        "GRU's W_hr is a different thing: the reset-gate rows of weight_hh"
                    ),
                )
            )
        else:
            eqs.append(
                Equation(
                    h_new,
                    f"o{step} ⊙ tanh({c_new})",
                    (g[3], Term(c_new, (*n, h))),
                    (*n, h),
                    layers,
                )
            )
        return eqs
    # GRU
    eqs = []
    for gate in ("r", "z"):
        rhs, terms = affine(gate)
        owner = "weight_hh" if cell else "weight_hh_l[k]"
        note = (
            f"W_hr here is the reset-gate block {owner}[0:{h}, :], not LSTM's projection "
            "weight_hr_l[k]"
            if gate == "r"
            else ""
        )
        eqs.append(Equation(f"{gate}{step}", f"σ({rhs})", tuple(terms), (*n, h), layers, note))
    rhs, terms = affine("n", f"r{step} ⊙ ({{}})")
    terms.append(Term(f"r{step}", (*n, h)))
    eqs.append(Equation(f"n{step}", f"tanh({rhs})", tuple(terms), (*n, h), layers))
    eqs.append(
        Equation(
            h_new,
            f"(1 - z{step}) ⊙ n{step} + z{step} ⊙ {h_prev}",
            (Term(f"z{step}", (*n, h)), Term(f"n{step}", (*n, h)), Term(h_prev, (*n, h))),
            (*n, h),
            layers,
        )
    )
    return eqs


def _concat_text(spec: LayerSpec) -> str:
    if spec.num_directions == 2:
        return "[h_t forward ; h_t reverse]"
    return "h_t"


def equations(spec: LayerSpec, inp: InputSpec) -> list[Equation]:
    """The docs' equations for this class, each term with its shape for this run."""
    if spec.mode.is_cell:
        return _gate_equations(spec, inp, spec.input_size, None)
    n = _rows(inp)
    d, h_out, last = spec.num_directions, spec.h_out, spec.num_layers - 1
    wide = d * h_out
    eqs = _gate_equations(spec, inp, spec.input_size, (0, 0))
    directions = [Term(f"h_t {name}", (*n, h_out)) for name in ("forward", "reverse")[:d]]
    if spec.num_layers > 1:
        dropout = spec.dropout > 0
        eqs.append(
            Equation(
                "x_t",
                ("δ ⊙ " if dropout else "") + f"{_concat_text(spec)} of layer k-1",
                tuple(directions) + ((Term("δ", (*n, wide)),) if dropout else ()),
                (*n, wide),
                (1, last),
                note=(
                    f"layer k ≥ 1 reads the previous layer's output, D·H_out = {d}{DOT}{h_out} "
                    "wide"
                    + (
                        f"; δ is dropout's mask, 0 with probability {spec.dropout} "
                        "(training mode only)"
                        if dropout
                        else ""
                    )
                ),
            )
        )
        eqs += _gate_equations(spec, inp, wide, (1, last))
    state = (d * spec.num_layers, *n)
    eqs.append(
        Equation(
            "h_{t-1}",
            "h_0[k·D+d] at the first step (t = 0 forward, t = L-1 reverse)",
            (Term("h_0", (*state, h_out)),),
            (*n, h_out),
            (0, last),
            note="k is the layer, d the direction (0 forward, 1 reverse)",
        )
    )
    eqs.append(
        Equation(
            "h_n[k·D+d]",
            "h_t at the last step (t = L-1 forward, t = 0 reverse)",
            (Term("h_t", (*n, h_out)),),
            (*n, h_out),
            (0, last),
            note="packed: each sequence's last real step" if inp.packed else "",
        )
    )
    if spec.mode.family.recurrence.name == "lstm":
        eqs.insert(
            len(eqs) - 1,
            Equation(
                "c_{t-1}",
                "c_0[k·D+d] at the first step (t = 0 forward, t = L-1 reverse)",
                (Term("c_0", (*state, spec.hidden_size)),),
                (*n, spec.hidden_size),
                (0, last),
            ),
        )
        eqs.append(
            Equation(
                "c_n[k·D+d]",
                "c_t at the last step (t = L-1 forward, t = 0 reverse)",
                (Term("c_t", (*n, spec.hidden_size)),),
                (*n, spec.hidden_size),
                (0, last),
            )
        )
    out_shape = tuple(t.shape for t in tensor_shapes(spec, inp) if t.name == "output")[0]
    eqs.append(
        Equation(
            "output[t]",
            f"{_concat_text(spec)} of layer {last}, for every t",
            tuple(directions),
            (*n, wide),
            (last, last),
            note=f"output is {_shape(out_shape)}"
            + (" (a PackedSequence's data)" if inp.packed else ""),
        )
    )
    return eqs


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(v) for v in shape) + ("," if len(shape) == 1 else "") + ")"


def diagram(spec: LayerSpec, inp: InputSpec) -> Diagram:
    """The graph of the forward pass: see the module docstring for its shape."""
    n = _rows(inp)
    h, h_out = spec.hidden_size, spec.h_out
    lstm = spec.mode.family.recurrence.name == "lstm"
    tensors = {t.name: t for t in tensor_shapes(spec, inp)}
    nodes: list[Node] = []
    edges: list[Edge] = []
    packed: tuple[tuple[str, object], ...] = ()
    if inp.lengths is not None:
        packed = (("batch_sizes", batch_sizes(inp.lengths)),)
    nodes.append(Node("input", "input", "input", tensors["input"].shape, extra=packed))
    if spec.mode.is_cell:
        nodes.append(Node("cell", "cell", spec.mode.torch_class, extra=(("steps", 1),)))
        edges.append(Edge("input", "cell", "x", (*n, spec.input_size)))
        states = [("h", h_out)] + ([("c", h)] if lstm else [])
        for s, width in states:
            nodes.append(Node(f"{s}_0", "initial_state", f"{s}_0", (*n, width)))
            edges.append(Edge(f"{s}_0", "cell", f"{s}_0", (*n, width)))
        for s, width in states:
            nodes.append(Node(f"{s}_1", "final_state", f"{s}_1", (*n, width)))
            edges.append(Edge("cell", f"{s}_1", f"{s}_1", (*n, width)))
        return Diagram(tuple(nodes), tuple(edges))

    d = spec.num_directions
    seq = inp.seq
    assert seq is not None
    last = spec.num_layers - 1
    wide = d * h_out
    source, source_width = "input", spec.input_size
    for k in range(spec.num_layers):
        out_id = "output" if k == last else f"l{k}.output"
        for di, direction in enumerate(("forward", "reverse")[:d]):
            cell_id = f"l{k}.{direction}"
            slot = k * d + di
            time = (0, seq - 1) if direction == "forward" else (seq - 1, 0)
            nodes.append(
                Node(
                    cell_id,
                    "cell",
                    spec.mode.torch_class,
                    layer=k,
                    direction=direction,
                    extra=(("steps", seq), ("time", time), *packed),
                )
            )
            edges.append(Edge(source, cell_id, "x_t", (*n, source_width)))
            for s, width in [("h", h_out)] + ([("c", h)] if lstm else []):
                init = f"{s}_0[{slot}]"
                nodes.append(Node(init, "initial_state", init, (*n, width), k, direction))
                edges.append(Edge(init, cell_id, init, (*n, width)))
                edges.append(Edge(cell_id, cell_id, f"{s}_t", (*n, width), recurrent=True))
            edges.append(Edge(cell_id, out_id, "h_t", (*n, h_out)))
            for s, width in [("h", h_out)] + ([("c", h)] if lstm else []):
                final = f"{s}_n[{slot}]"
                nodes.append(Node(final, "final_state", final, (*n, width), k, direction))
                edges.append(Edge(cell_id, final, final, (*n, width)))
        label = "output" if k == last else f"layer {k} output"
        nodes.append(Node(out_id, "layer_output", label, tensors["output"].shape, k, extra=packed))
        source, source_width = out_id, wide
        if k < last and spec.dropout > 0:
            drop_id = f"l{k}.dropout"
            nodes.append(Node(drop_id, "dropout", "dropout", layer=k, extra=(("p", spec.dropout),)))
            edges.append(Edge(out_id, drop_id, "h_t", (*n, wide)))
            source = drop_id
    return Diagram(tuple(nodes), tuple(edges))


def _notes(spec: LayerSpec, inp: InputSpec) -> list[str]:
    """Plain-language notes printed under the equations and the diagram."""
    n = _rows(inp)
    notes = []
    rows = (
        "no batch dimension (unbatched)" if inp.unbatched else f"one row per sequence (N = {n[0]})"
    )
    notes.append(
        f"shapes are one time step's: {rows}; W x means x Wᵀ row by row, as torch computes it"
    )
    if not spec.mode.is_cell:
        d = spec.num_directions
        notes.append(
            f"each layer runs the equations for t = 0 … L-1 (L = {inp.seq})"
            + (
                "; the reverse direction, with its own _reverse weights, runs t = L-1 … 0"
                if d == 2
                else ""
            )
        )
        if spec.num_layers > 1:
            notes.append(
                f"layer k+1 reads layer k's h_t, D·H_out = {d}{DOT}{spec.h_out} = "
                f"{d * spec.h_out} wide"
                + (
                    f", through dropout(p={spec.dropout}) in training mode"
                    if spec.dropout > 0
                    else ""
                )
            )
    else:
        notes.append(
            "a cell runs one step: h_0 → h_1"
            + (", c_0 → c_1" if spec.mode.family.recurrence.name == "lstm" else "")
        )
    if spec.mode.family.recurrence.name == "lstm":
        notes.append("σ is the sigmoid, ⊙ the element-wise product; c travels beside h")
    elif spec.mode.family.recurrence.name == "gru":
        notes.append("σ is the sigmoid, ⊙ the element-wise product")
    if inp.lengths is not None:
        notes.append(
            f"packed: L = {inp.seq} is the longest length; at step t only batch_sizes[t] rows "
            f"run, batch_sizes = {list(batch_sizes(inp.lengths))}; N = {inp.batch} above is "
            "batch_sizes[0]"
        )
    return notes
