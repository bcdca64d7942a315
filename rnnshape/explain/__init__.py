"""The equations, gate blocks and unrolled graph of one layer or cell, with concrete shapes.

Pure functions of a spec and an input (no torch), so ``--explain --dry-run`` stays fast.

``Explanation.to_dict()`` is the ``"explain"`` key of the report (schema v1):

- ``gates``: one entry per gate block of every weight and bias, for every layer and
  direction, in ``named_parameters()`` order: ``{"name": "W_if", "gate": "f", "parameter":
  "weight_ih_l0", "rows": [20, 40], "shape": [20, 10], "layer": 0, "direction": "forward"}``.
  ``rows`` is a half-open Python slice of the parameter's first dimension. Names are the
  PyTorch docs' (``W_ii``, ``b_hf``, GRU's ``W_hr`` ...); LSTM's projection ``weight_hr_l[k]``
  is its own entry, named ``W_proj`` (the docs' ``W_hr``: one symbol, one meaning here), with
  ``gate`` null and all its rows.
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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnshape.explain.build import explain, gate_blocks
    from rnnshape.explain.diagram import diagram
    from rnnshape.explain.equations import equations
    from rnnshape.explain.kernel import (
        KERNEL_WARNING_EXPLANATIONS,
        KernelChoice,
        predict_backend,
        warning_explanation,
    )
    from rnnshape.explain.legend import Symbol, explanation_notes, report_notes, symbols
    from rnnshape.explain.parts import Diagram, Edge, Equation, Explanation, GateBlock, Node, Term

# Loaded on first use: a report without --explain needs only the legend.
_HOME = {
    "explain": "build",
    "gate_blocks": "build",
    "diagram": "diagram",
    "equations": "equations",
    **dict.fromkeys(
        ("KERNEL_WARNING_EXPLANATIONS", "KernelChoice", "predict_backend", "warning_explanation"),
        "kernel",
    ),
    "Symbol": "legend",
    "explanation_notes": "legend",
    "report_notes": "legend",
    "symbols": "legend",
    **dict.fromkeys(
        ("Diagram", "Edge", "Equation", "Explanation", "GateBlock", "Node", "Term"), "parts"
    ),
}
__all__ = [
    "Diagram",
    "Edge",
    "Equation",
    "Explanation",
    "GateBlock",
    "KERNEL_WARNING_EXPLANATIONS",
    "KernelChoice",
    "Node",
    "Symbol",
    "Term",
    "diagram",
    "equations",
    "explain",
    "explanation_notes",
    "gate_blocks",
    "predict_backend",
    "report_notes",
    "symbols",
    "warning_explanation",
]
assert sorted(__all__) == sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
