"""The forward pass as a graph a tool can unroll (see ``rnnshape.explain`` for its shape)."""

from __future__ import annotations

from rnnshape.explain.legend import rows
from rnnshape.explain.parts import Diagram, Edge, Node
from rnnshape.family import InputSpec, LayerSpec
from rnnshape.formulas import LISTING_LIMIT, TensorShape, elided_dict, shown_indices


def diagram(spec: LayerSpec, inp: InputSpec, tensor_list: list[TensorShape]) -> Diagram:
    """The graph of the forward pass: see the module docstring for its shape."""
    n = rows(inp)
    h_out = spec.h_out
    tensors = {t.name: t for t in tensor_list}
    nodes: list[Node] = []
    edges: list[Edge] = []
    packed: tuple[tuple[str, object], ...] = ()
    listed = tensors["input"]
    if listed.batch_sizes is not None:
        packed = (("batch_sizes", listed.batch_sizes),)
        if listed.batch_sizes_omitted:
            gap = elided_dict(len(listed.batch_sizes), listed.batch_sizes_omitted)
            packed += (("batch_sizes_elided", gap),)
    nodes.append(Node("input", "input", "input", tensors["input"].shape, extra=packed))
    if spec.mode.is_cell:
        nodes.append(Node("cell", "cell", spec.mode.torch_class, extra=(("steps", 1),)))
        edges.append(Edge("input", "cell", "x", (*n, spec.input_size)))
        states = _widths(spec)
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
    # Above LISTING_LIMIT layers only the first and last LISTING_EDGE are drawn; the edge
    # from the last drawn layer before the gap goes straight to the first after it.
    for k in shown_indices(spec.num_layers):
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
            for s, width in _widths(spec):
                init = f"{s}_0[{slot}]"
                nodes.append(Node(init, "initial_state", init, (*n, width), k, direction))
                edges.append(Edge(init, cell_id, init, (*n, width)))
                edges.append(Edge(cell_id, cell_id, f"{s}_t", (*n, width), recurrent=True))
            edges.append(Edge(cell_id, out_id, "h_t", (*n, h_out)))
            for s, width in _widths(spec):
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
    omitted = max(0, spec.num_layers - LISTING_LIMIT)
    return Diagram(tuple(nodes), tuple(edges), omitted)


def _widths(spec: LayerSpec) -> list[tuple[str, int]]:
    """Each recurrent state with its width: h is H_out wide, LSTM's c hidden_size."""
    return [(s, spec.h_out if s == "h" else spec.hidden_size) for s in spec.mode.family.states]
