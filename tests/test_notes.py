"""Every note rnnshape prints is true of the module it is printed for: each kind of note is
checked against torch itself (the real module, its forward pass, ``print(module)``), and a
note no checker knows fails the test, so a new note comes with its check."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnshape import make_input, make_spec
from rnnshape.explain.legend import explanation_notes, report_notes
from rnnshape.family import InputSpec, LayerSpec

# (mode, sizes, layer keywords, input keywords): between them every note is printed.
CASES: list[tuple[str, tuple[int, ...], dict[str, Any], dict[str, Any]]] = [
    ("lstm", (4, 6, 2), {}, {}),
    ("lstm", (4, 6, 2), {"batch_first": True}, {}),
    ("lstm", (4, 6, 2), {"batch_first": True, "proj_size": 3}, {}),
    ("lstm", (4, 6), {"batch_first": True}, {"unbatched": True}),
    ("gru", (4, 6), {"batch_first": True}, {"unbatched": True}),
    ("lstm", (4, 6, 2), {}, {"lengths": [5, 3, 2]}),
    ("gru", (4, 6), {"batch_first": True, "bidirectional": True}, {"lengths": [2, 5, 4]}),
    ("lstm", (4, 6, 2), {"proj_size": 3, "bidirectional": True}, {}),
    ("rnn", (4, 6, 3), {"dropout": 0.5, "nonlinearity": "relu"}, {}),
    ("rnn", (4, 6), {"nonlinearity": "tanh", "bidirectional": True}, {}),
    ("lstm", (4, 6, 3), {"dropout": 0.25, "bidirectional": True}, {}),
    ("rnn-cell", (4, 6), {"nonlinearity": "relu"}, {}),
    ("rnn-cell", (4, 6), {"nonlinearity": "tanh"}, {"unbatched": True}),
    ("lstm-cell", (4, 6), {}, {}),
    ("gru-cell", (4, 6), {}, {"unbatched": True}),
]


class Case:
    """A spec, its input, the torch module and one forward pass of it."""

    def __init__(
        self, mode: str, sizes: tuple[int, ...], layer: dict[str, Any], inp: dict[str, Any]
    ):
        self.spec: LayerSpec = make_spec(mode, *sizes, **layer)
        self.inp: InputSpec = make_input(self.spec, **inp)
        torch.manual_seed(0)
        self.module: nn.Module = getattr(nn, self.spec.mode.torch_class)(**self.spec.torch_kwargs())
        self.module.eval()
        self.x = self._input()
        with torch.no_grad():
            self.output, self.states = self._run(self.x)

    def _input(self) -> Any:
        spec, inp = self.spec, self.inp
        h_in = spec.input_size
        if spec.mode.is_cell:
            return torch.randn(h_in) if inp.unbatched else torch.randn(inp.batch, h_in)
        if inp.unbatched:
            return torch.randn(inp.seq, h_in)
        if inp.lengths is not None:
            padded = torch.randn(len(inp.lengths), inp.seq, h_in)  # batch first
            if not spec.batch_first:
                padded = padded.transpose(0, 1)
            lengths = torch.tensor(inp.lengths)
            return pack_padded_sequence(
                padded, lengths, batch_first=spec.batch_first, enforce_sorted=False
            )
        shape = (inp.batch, inp.seq, h_in) if spec.batch_first else (inp.seq, inp.batch, h_in)
        return torch.randn(*shape)

    def _run(self, x: Any) -> tuple[Any, tuple[torch.Tensor, ...]]:
        out = self.module(x)
        if self.spec.mode.is_cell:
            states = out if isinstance(out, tuple) else (out,)
            return None, states
        output, hidden = out
        return output, hidden if isinstance(hidden, tuple) else (hidden,)

    @property
    def h_n(self) -> torch.Tensor:
        return self.states[0]

    def padded_output(self) -> torch.Tensor:
        """The output as (L, N, D·H_out), whatever the layout."""
        out = self.output
        if isinstance(out, torch.nn.utils.rnn.PackedSequence):
            out, _ = pad_packed_sequence(out)
        elif self.spec.batch_first and not self.inp.unbatched:
            out = out.transpose(0, 1)
        return out


def _batch_first_unbatched(case: Case, note: str) -> None:
    """ "torch reads it as (L, H_in)": the output's first dimension is L, not N."""
    spec, inp = case.spec, case.inp
    assert case.output.shape == (inp.seq, spec.num_directions * spec.h_out)


def _batch_first(case: Case, note: str) -> None:
    """The states keep their layout: (D·num_layers, N, H_out) and (…, H_cell) for c."""
    spec, inp = case.spec, case.inp
    if inp.lengths is None:  # input and output batch first
        assert case.output.shape[:2] == (inp.batch, inp.seq)
    widths = {"H_out": spec.h_out, "H_cell": spec.hidden_size}
    claims = re.findall(r"(h_0/h_n|c_0/c_n) (?:stay )?\(D·num_layers, N, (H_\w+)\)", note)
    assert [name for name, _ in claims] == ["h_0/h_n", "c_0/c_n"][: len(case.states)]
    for state, (_, width) in zip(case.states, claims, strict=True):
        assert state.shape == (spec.num_directions * spec.num_layers, inp.batch, widths[width])


def _packed(case: Case, note: str) -> None:
    inp = case.inp
    assert inp.lengths is not None
    steps = int(re.search(r"sum\(lengths\) = (\d+)", note).group(1))  # type: ignore[union-attr]
    assert case.x.data.shape[0] == steps == sum(inp.lengths)
    expected = [sum(1 for n in inp.lengths if n > t) for t in range(inp.seq)]
    assert case.x.batch_sizes.tolist() == expected
    out = case.padded_output()
    width = case.spec.h_out
    top = case.h_n[-case.spec.num_directions]  # the last layer's forward direction
    for i, n in enumerate(inp.lengths):
        torch.testing.assert_close(out[n - 1, i, :width], top[i])


def _projection(case: Case, note: str) -> None:
    spec = case.spec
    p = int(re.search(r"are (\d+) wide", note).group(1))  # type: ignore[union-attr]
    assert p == spec.proj_size
    assert case.padded_output().shape[-1] == spec.num_directions * p
    assert case.states[0].shape[-1] == p and case.states[1].shape[-1] == spec.hidden_size
    for k in range(spec.num_layers):
        assert getattr(case.module, f"weight_hr_l{k}").shape == (p, spec.hidden_size)


def _bidirectional(case: Case, note: str) -> None:
    spec = case.spec
    width = int(re.search(r"output\[\.\.\., :(\d+)\]", note).group(1))  # type: ignore[union-attr]
    assert width == spec.h_out
    out = case.padded_output()
    last = 2 * (spec.num_layers - 1)
    if case.inp.lengths is None:
        torch.testing.assert_close(out[-1, ..., :width], case.h_n[last])
    torch.testing.assert_close(out[0, ..., width:], case.h_n[last + 1])


def _nonlinearity(case: Case, note: str) -> None:
    shown = "nonlinearity" in repr(case.module)
    assert case.module.nonlinearity == case.spec.nonlinearity
    if "does not show it" in note or "shows it only when" in note:
        assert not shown, repr(case.module)
    else:
        assert "shows it" in note and shown, repr(case.module)
    if "the default" in note:
        assert nn.RNNCell(2, 2).nonlinearity == case.spec.nonlinearity


def _dropout(case: Case, note: str) -> None:
    spec = case.spec
    last = int(re.search(r"layers 0 to (\d+)", note).group(1))  # type: ignore[union-attr]
    assert last == spec.num_layers - 2
    assert case.module.dropout == spec.dropout
    torch.manual_seed(1)
    case.module.train()
    with torch.no_grad():
        trained, _ = case._run(case.x)
    case.module.eval()
    assert trained.shape == case.output.shape  # shapes are unchanged
    assert not torch.equal(trained, case.output)  # and in training mode it applies


def _one_step(case: Case, note: str) -> None:
    rows = () if case.inp.unbatched else (case.inp.batch,)
    if case.spec.mode.is_cell:
        assert case.x.shape == (*rows, case.spec.input_size)
        assert all(s.shape == (*rows, case.spec.h_out) for s in case.states)
    assert ("N = " in note) != case.inp.unbatched


def _time_steps(case: Case, note: str) -> None:
    seq = int(re.search(r"\(L = (\d+)\)", note).group(1))  # type: ignore[union-attr]
    assert case.padded_output().shape[0] == seq
    assert ("reverse direction" in note) == case.spec.bidirectional


def _layer_input(case: Case, note: str) -> None:
    width = int(re.search(r"= (\d+) wide", note).group(1))  # type: ignore[union-attr]
    for k in range(1, case.spec.num_layers):
        assert getattr(case.module, f"weight_ih_l{k}").shape[1] == width
    assert ("dropout" in note) == (case.module.dropout > 0)


def _cell_step(case: Case, note: str) -> None:
    assert case.spec.mode.is_cell
    assert ("c_0 → c_1" in note) == (len(case.states) == 2)


def _gate_symbols(case: Case, note: str) -> None:
    """σ and ⊙ appear in the gated families' equations (torch's docs for LSTM and GRU)."""
    assert case.spec.mode.gates
    assert ("c travels beside h" in note) == (len(case.states) == 2)


def _packed_steps(case: Case, note: str) -> None:
    sizes = re.search(r"batch_sizes = \[([\d, ]+)\]", note).group(1)  # type: ignore[union-attr]
    assert [int(n) for n in sizes.split(",")] == case.x.batch_sizes.tolist()
    assert case.x.batch_sizes[0] == case.inp.batch
    assert f"L = {max(case.inp.lengths or [0])}" in note


# Each kind of note (how it begins) and the check of its claims against torch.
CHECKS: dict[str, Callable[[Case, str], None]] = {
    "batch_first is ignored for unbatched input": _batch_first_unbatched,
    "batch_first=True changes input and output only": _batch_first,
    "input is a PackedSequence": _packed,
    "proj_size=": _projection,
    "bidirectional: output": _bidirectional,
    "nonlinearity=": _nonlinearity,
    "dropout=": _dropout,
    "shapes are one time step's": _one_step,
    "each layer runs the equations": _time_steps,
    "layer k+1 reads layer k's h_t": _layer_input,
    "a cell runs one step": _cell_step,
    "σ is the sigmoid": _gate_symbols,
    "packed: L = ": _packed_steps,
}


def _notes(
    mode: str, sizes: tuple[int, ...], layer: dict[str, Any], inp: dict[str, Any]
) -> list[str]:
    spec = make_spec(mode, *sizes, **layer)
    given = make_input(spec, **inp)
    return report_notes(spec, given) + explanation_notes(spec, given)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
def test_every_note_is_true_of_its_module(case: Any) -> None:
    c = Case(*case)
    for note in _notes(*case):
        kinds = [k for k in CHECKS if note.startswith(k)]
        assert kinds, f"a note without a check against torch: {note!r}"
        CHECKS[kinds[0]](c, note)


def test_the_cases_print_every_kind_of_note() -> None:
    printed = {k for case in CASES for note in _notes(*case) for k in CHECKS if note.startswith(k)}
    assert printed == set(CHECKS)


def test_the_rnn_cell_relu_note_does_not_claim_print_hides_it() -> None:
    """Issue 16: ``rnn-cell --nonlinearity relu`` said print(module) hides it; torch shows
    ``RNNCell(4, 6, nonlinearity=relu)``."""
    spec = make_spec("rnn-cell", 4, 6, nonlinearity="relu")
    (note,) = [n for n in report_notes(spec, make_input(spec)) if n.startswith("nonlinearity")]
    assert "does not show" not in note
    assert "nonlinearity=relu" in repr(nn.RNNCell(4, 6, nonlinearity="relu"))
