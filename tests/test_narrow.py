"""Tables at narrow widths: drawn whole when they fit, narrowed without cutting a word when
their longest words fit, else stacked one field a line. A number is never cut (``1,2…``) and
a word never folds (a column one character a line). Checked for every table the report and
whole-model documents draw, on a Console of each width and through ``COLUMNS`` on a pipe."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from rich.table import Table
from rich.text import Text
from torch import nn

import rnnshape
from rnnshape.render.model import render_tables as render_model_tables
from rnnshape.render.model import sections as model_sections
from rnnshape.render.report import render_tables, sections
from rnnshape.render.tables import Fitted, fitted

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = [30, 40, 50, 60, 80, 120]
REPORTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "lstm_10_20_2": (("lstm", 10, 20, 2), {}),
    "proj_bidirectional_packed": (
        ("lstm", 10, 20, 2),
        {"proj_size": 8, "bidirectional": True, "lengths": [5, 3, 2]},
    ),
    "gru_cell_unbatched": (("gru-cell", 10, 20), {"unbatched": True}),
    "rnn_relu": (("rnn", 7, 9, 3), {"nonlinearity": "relu", "batch_first": True}),
    "huge_dry_run": (("lstm", 123456, 654321, 12), {"proj_size": 4321, "run": False}),
    "bench": (("gru", 4, 5), {"bench": 2}),
}


def _tables(content: list[Any]) -> list[Table]:
    return [c.table for c in content if isinstance(c, Fitted)]


def _cell_words(tables: list[Table]) -> set[str]:
    """Every word of every cell, header, title and caption of ``tables`` (but the first
    column's header, which a stacked table does not repeat: its rows' headings are that
    column)."""
    words: set[str] = set()
    for table in tables:
        texts = [table.title, table.caption]
        for i, column in enumerate(table.columns):
            texts += [column.header if i else "", *column.cells]
        for cell in texts:
            if cell:
                words.update((cell.plain if isinstance(cell, Text) else str(cell)).split())
    return words


def _numbers(doc: dict[str, Any]) -> set[str]:
    """The counts a report shows, written as its tables write them (``1,280``)."""
    values = [doc["num_parameters"], *(p["numel"] for p in doc["parameters"])]
    cost, memory = doc["cost"], doc["memory"]
    values += [cost["macs"], cost["flops"]]
    values += [v for term in cost["terms"].values() for v in term.values()]
    memory_rows = ("parameter", "input", "state", "output", "training_activation")
    values += [memory[f"{row}_bytes"] for row in memory_rows]
    return {f"{v:,}" for v in values}


def _folded(lines: list[str]) -> list[str]:
    """Runs of three lines or more whose text is one character: a column folded to one."""
    short = [len(line.strip()) == 1 for line in lines]
    return [lines[i] for i in range(len(lines) - 2) if all(short[i : i + 3])]


def _draw(draw: Any, value: Any, width: int) -> str:
    out = io.StringIO()
    draw(value, Console(width=width, file=out, color_system=None, soft_wrap=False))
    return out.getvalue()


def _check_layout(text: str, width: int, words: set[str], numbers: set[str]) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    tokens = set(text.split())
    cut = sorted(w for w in words if w not in tokens)
    assert not cut, f"words cut or folded at {width} columns: {cut[:10]}"
    for number in numbers:
        assert re.search(rf"(?<![\d,]){re.escape(number)}(?![\d,])", text), number
    assert "…" not in text.replace("left out …", "").replace("… ", "")  # no ellipsis cut


@pytest.fixture(scope="module")
def reports() -> dict[str, rnnshape.Report]:
    return {name: rnnshape.inspect(*args, **kwargs) for name, (args, kwargs) in REPORTS.items()}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_tables_never_cut_a_word_or_number(
    name: str, width: int, reports: dict[str, rnnshape.Report]
) -> None:
    report = reports[name]
    text = _draw(render_tables, report, width)
    words = _cell_words(_tables(sections(report)))
    _check_layout(text, width, words, _numbers(report.to_dict()))


def test_the_issue_example_at_40_columns_is_short(reports: dict[str, rnnshape.Report]) -> None:
    """``rnnshape lstm 10 20 2`` at 40 columns took 338 lines, a column one character a
    line; stacked it takes about as many lines as at 80 columns plus one per field."""
    report = reports["lstm_10_20_2"]
    narrow = _draw(render_tables, report, 40).splitlines()
    wide = _draw(render_tables, report, 80).splitlines()
    fields = sum(len(t.columns) * t.row_count for t in _tables(sections(report)))
    assert len(narrow) <= len(wide) + fields
    assert not _folded(narrow)


def test_tables_that_fit_are_drawn_as_they_are(reports: dict[str, rnnshape.Report]) -> None:
    for table in _tables(sections(reports["lstm_10_20_2"])):
        plain = _draw(lambda t, c: c.print(t), table, 120)
        assert _draw(lambda t, c: c.print(fitted(t)), table, 120) == plain


def test_a_narrowed_table_keeps_its_columns_and_a_stacked_one_its_fields() -> None:
    table = Table(title="T")
    table.add_column("name", no_wrap=True)
    table.add_column("text")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_row("alpha", "several short words here", "1,234,567")
    narrowed = _draw(lambda t, c: c.print(fitted(t)), table, 32)
    assert "1,234,567" in narrowed and "count" in narrowed.splitlines()[2]  # still a table
    stacked = _draw(lambda t, c: c.print(fitted(t)), table, 16)
    assert stacked.splitlines()[:2] == ["T", "alpha"]
    aligned = _draw(lambda t, c: c.print(fitted(t)), table, 20)
    lines = [line.rstrip() for line in aligned.splitlines()]
    assert lines[:3] == ["T", "alpha", "  text   several"]
    assert "  count  1,234,567" in lines
    assert "1,234,567" in stacked.split()  # not beside its label: on a line of its own


class Model(nn.Module):
    """An encoder LSTM, a decoder GRU called twice, and a never-called RNN."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.LSTM(6, 10, num_layers=2, bidirectional=True)
        self.decoder_with_a_long_name = nn.GRU(20, 12)
        self.unused = nn.RNN(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.encoder(x)
        first, h = self.decoder_with_a_long_name(out)
        second, _ = self.decoder_with_a_long_name(out, h)
        return second


@pytest.fixture(scope="module")
def model_report() -> rnnshape.ModelReport:
    return rnnshape.inspect_model(Model(), torch.zeros(4, 3, 6))


@pytest.mark.parametrize("width", WIDTHS)
def test_model_tables_never_cut_a_word_or_number(
    width: int, model_report: rnnshape.ModelReport
) -> None:
    text = _draw(render_model_tables, model_report, width)
    words = _cell_words(_tables(model_sections(model_report)))
    numbers = {f"{model_report.num_parameters:,}", f"{model_report.cost.flops:,}"}
    _check_layout(text, width, words, numbers)


def test_print_of_a_model_report_is_as_wide_as_its_tables(
    model_report: rnnshape.ModelReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``print(rnnshape.inspect_model(m, x))`` drew rules of 10,000 ``─``."""
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = str(model_report).splitlines()
    widest_table = max(len(line) for line in lines if line.strip() and not set(line) <= set("─ "))
    rules = [line for line in lines if "────" in line]
    assert rules and max(len(line) for line in lines) <= max(widest_table, 80)
    assert all(len(rule) <= max(widest_table, 80) for rule in rules)


def test_a_model_report_has_html_for_jupyter(model_report: rnnshape.ModelReport) -> None:
    bundle = model_report._repr_mimebundle_()
    assert bundle["text/plain"] == str(model_report)
    assert (
        bundle["text/html"].startswith("<pre") and "decoder_with_a_long_name" in bundle["text/html"]
    )
    assert max(len(line) for line in bundle["text/plain"].splitlines()) < 200


def _piped(args: list[str], columns: str) -> tuple[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS=columns)
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["lstm", "10", "20", "2"],
        ["lstm", "10", "20", "2", "--bidirectional", "--proj-size", "8", "--lengths", "5,3,2"],
        ["gru-cell", "10", "20", "--dry-run"],
        ["rnn", "10", "20", "2", "--bench", "2"],
    ],
)
def test_columns_40_on_a_pipe(args: list[str]) -> None:
    """``COLUMNS=40 rnnshape lstm 10 20 2 | cat``: every line within 40, numbers whole."""
    text, _ = _piped(args, "40")
    doc = json.loads(_piped([*args, "--json"], "40")[0])
    numbers = _numbers(doc)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 40
    for number in numbers:
        assert re.search(rf"(?<![\d,]){re.escape(number)}(?![\d,])", text), number
    assert not _folded(lines)


def test_infer_tables_at_40_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``COLUMNS=40 rnnshape infer model.pt``: the module table within 40 columns."""
    from rnnshape.render import Document, OutputFormat, render

    path = tmp_path / "model.pt"
    torch.save(nn.LSTM(3, 4, bidirectional=True, proj_size=2).state_dict(), path)
    result = rnnshape.infer_checkpoint(str(path))
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    render(Document.INFER, result, OutputFormat.TABLE, out)
    lines = out.getvalue().splitlines()[1:]  # the first line is the path, kept whole
    assert max(len(line) for line in lines) <= 40
    words = set(out.getvalue().split())
    for word in ("nn.LSTM(3,", "bidirectional=True,", "proj_size=2)", "--proj-size"):
        assert word in words
    assert not _folded(lines)


def test_explain_gate_table_at_40_columns() -> None:
    report = rnnshape.inspect("lstm", 3, 4, 2, run=False, explain=True)
    text = _draw(render_tables, report, 40)
    gates = text[text.index("Gate blocks") : text.index("Unrolled")].splitlines()
    assert max(len(line) for line in gates) <= 40
    for k in range(2):
        assert f"weight_ih_l{k}[0:4," in text.split() and f"bias_hh_l{k}[12:16]" in text.split()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ipython_at_a_terminal_shows_the_tables_fitted_to_it(
    model_report: rnnshape.ModelReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IPython shows the bundle's text/plain: at a 50-column prompt, laid out for 50."""
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.setenv("COLUMNS", "50")
    for shown in (model_report, rnnshape.inspect("lstm", 10, 20, 2, run=False)):
        plain = shown._repr_mimebundle_()["text/plain"]
        assert max(len(line) for line in plain.splitlines()) <= 50
        assert "Parameters (named_parameters() order)" in plain
