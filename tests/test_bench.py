"""--bench, --backward and --svg through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rnnshape
from rnnshape.cli import app, main
from rnnshape.formulas import BACKWARD_FLOPS_FACTOR, cost

runner = CliRunner()


def bench_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize(
    ("args", "sequences", "tokens"),
    [
        (["lstm", "6", "8", "--seq", "4", "--batch", "3"], 3, 12),
        (["gru", "6", "8", "--seq", "4", "--unbatched"], 1, 4),
        (["rnn", "6", "8", "--lengths", "4,1,2"], 3, 7),
        (["lstm-cell", "6", "8", "--batch", "5"], 5, 5),
    ],
)
def test_bench_figures_follow_from_the_median(args: list[str], sequences: int,
                                              tokens: int) -> None:
    doc = bench_json(*args, "--bench", "4")
    bench = doc["bench"]
    assert bench["runs"] == 4 and bench["warmup"] >= 1 and bench["backward"] is False
    assert bench["device"] == doc["device"] == "cpu" and bench["cudnn"] is None
    assert 0 < bench["min_ms"] <= bench["median_ms"]
    seconds = bench["median_ms"] / 1000
    assert bench["sequences_per_s"] == pytest.approx(sequences / seconds)
    assert bench["tokens_per_s"] == pytest.approx(tokens / seconds)
    assert bench["achieved_flops_per_s"] == pytest.approx(doc["cost"]["flops"] / seconds)


def test_backward_counts_three_forward_passes() -> None:
    doc = bench_json("lstm", "6", "8", "2", "--lengths", "3,2", "--bench", "3", "--backward")
    bench = doc["bench"]
    assert bench["backward"] is True
    assert BACKWARD_FLOPS_FACTOR == 3
    assert bench["achieved_flops_per_s"] == pytest.approx(
        3 * doc["cost"]["flops"] / (bench["median_ms"] / 1000))


def test_bench_adds_only_the_bench_key() -> None:
    plain = bench_json("gru", "6", "8")
    timed = bench_json("gru", "6", "8", "--bench", "2")
    assert "bench" not in plain
    timed.pop("bench")
    for doc in (plain, timed):  # how long the run took and its peak: measured each time
        doc.pop("run")
        doc["memory"].pop("measured_peak_bytes")
    assert timed == plain


def test_api_bench_uses_the_same_cost() -> None:
    report = rnnshape.inspect("lstm", 6, 8, bench=2)
    figures = report.bench
    assert figures is not None and figures.runs == 2
    assert report.cost == cost(report.spec, report.input)


def test_bench_table_without_a_terminal_has_no_progress_bar() -> None:
    result = runner.invoke(app, ["lstm", "6", "8", "--bench", "3"])
    assert result.exit_code == 0
    assert "median latency" in result.stdout
    # Nothing but, on a busy machine, the unstable-timings warning: no bar, no spinner.
    lines = [line for line in result.stderr.splitlines() if line]
    busy = ("warning: the timings are unstable", "warning: the passes were timed while more")
    assert all(line.startswith(busy) for line in lines), lines


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["lstm", "6", "8", "--bench", "0"], "error: --bench 0 must be at least 1"),
        (["lstm", "6", "8", "--bench", "-2"], "error: --bench -2 must be at least 1"),
        (["lstm", "6", "8", "--bench", "3", "--dry-run"],
         "error: --bench cannot be combined with --dry-run"),
        (["lstm", "6", "8", "--backward"], "error: --backward needs --bench N"),
        (["lstm", "6", "8", "--svg", "/no/such/folder/x.svg"], "error: --svg '/no/such/folder"),
    ],
)
def test_bench_usage_errors(args: list[str], first_line: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(first_line), err


def test_svg_saves_the_tables(tmp_path: Path) -> None:
    picture = tmp_path / "lstm.svg"
    result = runner.invoke(app, ["lstm", "10", "20", "2", "--svg", str(picture)])
    assert result.exit_code == 0, result.output
    text = picture.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<svg")
    assert "weight_hh_l1" in text and "Cost" in text


def test_svg_with_json_keeps_stdout_pure(tmp_path: Path) -> None:
    picture = tmp_path / "gru.svg"
    result = runner.invoke(app, ["gru", "10", "20", "--json", "--svg", str(picture)])
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert "weight_ih_l0" in picture.read_text(encoding="utf-8")


def test_explain_json_is_in_the_document_and_the_schema() -> None:
    import jsonschema
    import torch

    from tests.test_cli import SCHEMA

    doc = bench_json("lstm", "10", "20", "2", "--explain")
    jsonschema.validate(doc, SCHEMA)
    gates = {(g["name"], g["parameter"]): g for g in doc["explain"]["gates"]}
    w_if = gates[("W_if", "weight_ih_l0")]
    hidden = doc["config"]["hidden_size"]
    assert w_if["rows"] == [hidden, 2 * hidden]  # i|f|g|o: the forget gate is the 2nd block
    assert w_if["shape"] == [hidden, 10]
    # The blocks of one parameter tile it exactly, as torch stores it.
    weight = dict(torch.nn.LSTM(10, 20, 2).named_parameters())["weight_hh_l1"]
    rows = sorted(g["rows"] for g in doc["explain"]["gates"] if g["parameter"] == "weight_hh_l1")
    assert rows[0][0] == 0 and rows[-1][1] == weight.shape[0]
    assert set(doc["explain"]) == {"gates", "equations", "diagram", "kernel"}
    assert "explain" not in bench_json("lstm", "10", "20", "2")


def test_explain_tables_fit_a_narrow_terminal() -> None:
    result = CliRunner().invoke(app, ["gru", "10", "20", "3", "--bidirectional", "--seq", "40",
                                      "--explain", "--dry-run"], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert "Unrolled" in result.stdout and "…" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_progress_bar_waits_one_second_and_needs_terminals(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import rnnshape.cli.progress as cli

    clock = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with cli.RunProgress(json_out=False) as progress:
        progress.update(1, 10)
        assert progress.bar is None  # under a second: nothing shown
        clock[0] += 1.5
        progress.update(2, 10)
        assert progress.bar is not None
        assert progress.bar.tasks[0].completed == 2 and progress.bar.tasks[0].total == 10
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    with cli.RunProgress(json_out=True) as quiet:  # --json on a pipe
        clock[0] += 5
        quiet.update(3, 10)
        quiet.show()
        assert quiet.bar is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with cli.RunProgress(json_out=False) as piped:
        clock[0] += 5
        piped.update(3, 10)
        assert piped.bar is None


def test_bench_reports_its_spread() -> None:
    doc = bench_json("lstm", "6", "8", "--bench", "5")
    bench = doc["bench"]
    assert bench["min_ms"] <= bench["median_ms"] <= bench["max_ms"]
    assert 0 <= bench["iqr_ms"] <= bench["max_ms"] - bench["min_ms"]
    assert bench["unstable"] == (bench["iqr_ms"] > 0.1 * bench["median_ms"])


def test_interquartile_range_and_the_busy_warning() -> None:
    from rnnshape.cli.layer import unstable_bench_message
    from rnnshape.pipeline import interquartile_range

    assert interquartile_range([5.0]) == 0.0
    assert interquartile_range([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)
    figures = rnnshape.inspect("gru", 4, 4, bench=3).bench
    assert figures is not None
    busy = figures._replace(median_ms=1.0, iqr_ms=0.5, max_ms=9.0, min_ms=0.9, unstable=True)
    text = unstable_bench_message(busy)
    assert "50% of the median" in text and "busy" in text and "--bench" in text
