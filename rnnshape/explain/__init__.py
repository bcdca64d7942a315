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

from rnnshape.explain.diagram import diagram
from rnnshape.explain.equations import equations
from rnnshape.explain.legend import explanation_notes, report_notes, symbols
from rnnshape.explain.model import (
    Diagram,
    Edge,
    Equation,
    Explanation,
    GateBlock,
    Node,
    Symbol,
    Term,
)
from rnnshape.formulas import ParameterShape, TensorShape, parameter_shapes, tensor_shapes
from rnnshape.spec import InputSpec, LayerSpec

__all__ = [
    "Diagram",
    "Edge",
    "Equation",
    "Explanation",
    "GateBlock",
    "Node",
    "Symbol",
    "Term",
    "diagram",
    "equations",
    "explain",
    "explanation_notes",
    "gate_blocks",
    "report_notes",
    "symbols",
]

_ROLE_PREFIX = {"weight_ih": "W_i", "weight_hh": "W_h", "bias_ih": "b_i", "bias_hh": "b_h"}
_RNN_NAMES = {"weight_ih": "W_ih", "weight_hh": "W_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}


def explain(
    spec: LayerSpec,
    inp: InputSpec,
    parameters: list[ParameterShape] | None = None,
    tensors: list[TensorShape] | None = None,
) -> Explanation:
    """Gate blocks, equations with shapes and the unrolled graph of ``spec`` on ``inp``.

    ``parameters`` and ``tensors`` are the formulas' (computed here when not given)."""
    if parameters is None:
        parameters = parameter_shapes(spec)
    if tensors is None:
        tensors = tensor_shapes(spec, inp)
    return Explanation(
        gates=tuple(gate_blocks(spec, parameters)),
        equations=tuple(equations(spec, inp, tensors)),
        diagram=diagram(spec, inp, tensors),
        notes=tuple(explanation_notes(spec, inp)),
    )


def gate_blocks(spec: LayerSpec, parameters: list[ParameterShape]) -> list[GateBlock]:
    """Every gate block of every parameter, in ``named_parameters()`` order."""
    out = []
    h = spec.hidden_size
    for p in parameters:
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
