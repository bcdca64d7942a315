"""Words that go with the numbers: the symbols' legend, the notes under a report's tables
and under an explanation. Pure functions of a spec and an input."""

from __future__ import annotations

from typing import NamedTuple

from rnnshape.family import InputSpec, LayerSpec
from rnnshape.formulas import LISTING_EDGE, listed_batch_sizes
from rnnshape.text import DOT, listing_text


class Symbol(NamedTuple):
    """A symbol of the PyTorch docs with its value for this run."""

    name: str
    value: int
    meaning: str


def rows(inp: InputSpec) -> tuple[int, ...]:
    """The leading dimension of one time step: ``(N,)``, or nothing unbatched."""
    if inp.unbatched:
        return ()
    assert inp.batch is not None
    return (inp.batch,)


def symbols(spec: LayerSpec, inp: InputSpec) -> list[Symbol]:
    """The legend: each symbol used in the tables with its value for this run."""
    out = []
    if not spec.mode.is_cell:
        meaning = "sequence length" + (" (the longest of lengths)" if inp.packed else "")
        assert inp.seq is not None
        out.append(Symbol("L", inp.seq, meaning))
    if not inp.unbatched:
        assert inp.batch is not None
        out.append(Symbol("N", inp.batch, "batch size"))
    if not spec.mode.is_cell:
        out.append(Symbol("D", spec.num_directions, "2 if bidirectional else 1"))
        out.append(Symbol("num_layers", spec.num_layers, "stacked layers"))
    out.append(Symbol("H_in", spec.input_size, "input_size"))
    out.append(Symbol("H", spec.hidden_size, "hidden_size (rows per gate block)"))
    if spec.mode.family.has_cell_state:
        out.append(Symbol("H_cell", spec.hidden_size, "hidden_size (width of c)"))
    out.append(
        Symbol(
            "H_out",
            spec.h_out,
            "proj_size (width of h)" if spec.proj_size > 0 else "hidden_size (width of h)",
        )
    )
    return out


def report_notes(spec: LayerSpec, inp: InputSpec) -> list[str]:
    """Short explanations of the things that most often confuse people about these shapes."""
    notes = []
    layer = not spec.mode.is_cell
    if layer and spec.batch_first and inp.unbatched:
        notes.append("batch_first is ignored for unbatched input: torch reads it as (L, H_in)")
    elif layer and spec.batch_first:
        notes.append(
            "batch_first=True changes input and output only: h_0/h_n stay "
            "(D·num_layers, N, H_out)"
            + (" and c_0/c_n (D·num_layers, N, H_cell)" if spec.mode.family.has_cell_state else "")
        )
    if inp.lengths is not None:
        notes.append(
            "input is a PackedSequence (enforce_sorted=False): data holds the "
            f"sum(lengths) = {sum(inp.lengths)} real time steps; batch_sizes[t] counts the "
            "sequences still running at step t; h_n holds each sequence's last real step"
        )
    if spec.proj_size > 0:
        notes.append(
            f"proj_size={spec.proj_size}: h and output are {spec.proj_size} wide (H_out), "
            f"c stays hidden_size {spec.hidden_size} (H_cell); weight_hr_l[k] projects h"
        )
    if layer and spec.bidirectional:
        notes.append(
            f"bidirectional: output[..., :{spec.h_out}] is the forward direction and "
            f"output[..., {spec.h_out}:] the reverse; h_n[2k] and h_n[2k+1] are layer k's "
            "forward and reverse final states"
        )
    if "nonlinearity" in spec.mode.kwargs:
        notes.append(_nonlinearity_note(spec))
    if layer and spec.dropout > 0 and spec.num_layers > 1:
        notes.append(
            f"dropout={spec.dropout} applies to the outputs of layers 0 to "
            f"{spec.num_layers - 2} in training mode; shapes are unchanged"
        )
    return notes


def _nonlinearity_note(spec: LayerSpec) -> str:
    """What ``print(module)`` says of the nonlinearity: torch's ``nn.RNN`` never shows it;
    ``nn.RNNCell`` shows it when it is not the default ``tanh``."""
    if not spec.mode.is_cell:
        return f"nonlinearity={spec.nonlinearity!r} (print(module) does not show it)"
    if spec.nonlinearity == "tanh":
        return "nonlinearity='tanh', the default (print(module) shows it only when it is 'relu')"
    return f"nonlinearity={spec.nonlinearity!r} (print(module) shows it, as nonlinearity=relu)"


def explanation_notes(spec: LayerSpec, inp: InputSpec) -> list[str]:
    """Plain-language notes printed under the equations and the diagram."""
    n = rows(inp)
    notes = []
    per_step = (
        "no batch dimension (unbatched)" if inp.unbatched else f"one row per sequence (N = {n[0]})"
    )
    notes.append(
        f"shapes are one time step's: {per_step}; W x means x Wᵀ row by row, as torch computes it"
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
            + (", c_0 → c_1" if spec.mode.family.has_cell_state else "")
        )
    if spec.mode.gates:  # the gated recurrences write σ and ⊙
        notes.append(
            "σ is the sigmoid, ⊙ the element-wise product"
            + ("; c travels beside h" if spec.mode.family.has_cell_state else "")
        )
    if inp.lengths is not None:
        sizes = listing_text(*listed_batch_sizes(inp.lengths), LISTING_EDGE)
        notes.append(
            f"packed: L = {inp.seq} is the longest length; at step t only batch_sizes[t] rows "
            f"run, batch_sizes = {sizes}; N = {inp.batch} "
            "above is "
            "batch_sizes[0]"
        )
    return notes
