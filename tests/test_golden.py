"""Snapshot tests of the rendered tables at a fixed width (regenerate: --update-golden)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

import rnnshape
from rnnshape.render.report import render_tables
from tests.measured import fixed_measurements

CASES: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "lstm_10_20_2": (("lstm", 10, 20, 2), {}),
    "lstm_proj_bidirectional_packed": (
        ("lstm", 10, 20, 2), {"proj_size": 8, "bidirectional": True, "lengths": [5, 3, 2]}),
    "gru_bidirectional_batch_first": (("gru", 10, 20), {"bidirectional": True,
                                                        "batch_first": True}),
    "rnn_relu_no_bias_3_layers": (("rnn", 10, 20, 3), {"nonlinearity": "relu", "bias": False}),
    "lstm_unbatched_batch_first": (("lstm", 10, 20), {"unbatched": True, "batch_first": True}),
    "lstm_cell": (("lstm-cell", 10, 20), {"batch": 3}),
    "gru_cell_unbatched": (("gru-cell", 10, 20), {"unbatched": True}),
    "lstm_huge_dry_run": (("lstm", 100000, 100000, 10), {"run": False, "dtype": "bfloat16"}),
}


def render(report: rnnshape.Report, width: int) -> str:
    report = fixed_measurements(report)  # times and peaks are measured afresh each run
    out = io.StringIO()
    render_tables(report, Console(width=width, file=out, color_system=None, soft_wrap=False))
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_match_golden(name: str, golden: Callable[[str, str], None]) -> None:
    args, kwargs = CASES[name]
    golden(f"{name}.txt", render(rnnshape.inspect(*args, **kwargs), 80))


@pytest.mark.parametrize("width", [60, 80, 120])
def test_tables_fit_and_never_cut_a_parameter_name(width: int) -> None:
    report = rnnshape.inspect("lstm", 123456, 654321, 12, proj_size=4321, bidirectional=True,
                              lengths=[9, 8, 7, 6, 5, 4, 3, 2, 1, 9, 9], run=False)
    text = render(report, width)
    assert max(len(line) for line in text.splitlines()) <= width
    for p in report.parameters:
        assert p.name in text, p.name
