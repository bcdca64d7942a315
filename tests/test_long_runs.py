"""Long runs: estimated before allocating, refused above --max-seconds, shown with a spinner."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

import rnnshape
from rnnshape.cli import app
from rnnshape.errors import SpecError

runner = CliRunner()


def refuse(*args: str) -> tuple[str, float]:
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    return result.stderr, time.monotonic() - began


def test_the_ten_minute_run_is_refused_before_allocating() -> None:
    message, elapsed = refuse("lstm", "4096", "4096", "4", "--seq", "512", "--batch", "64")
    # The memory guard (no torch needed) may speak first on a small machine.
    assert "this run would take about" in message or "GiB free" in message
    assert "35.2 TFLOPs" in message or "15.0 GiB" in message
    assert "--dry-run" in message
    assert elapsed < 30  # a generous resource bound: import torch plus the calibration


def test_a_long_run_that_fits_in_memory_is_refused_for_its_time() -> None:
    message, elapsed = refuse(
        "lstm", "1024", "1024", "2", "--seq", "1024", "--batch", "32", "--max-seconds", "2"
    )  # 1.1 TFLOPs: tens of seconds on a CPU, well over 2
    assert message.startswith("error: --max-seconds 2: this run would take about"), message
    assert "--dry-run" in message and "--seq" in message and "--batch" in message
    assert elapsed < 30


def test_max_seconds_sets_the_limit() -> None:
    args = ["lstm", "256", "256", "--seq", "50", "--batch", "8"]
    refused = runner.invoke(app, [*args, "--max-seconds", "0.000001"])
    assert refused.exit_code == 2, refused.output
    assert "--max-seconds" in refused.stderr and "--dry-run" in refused.stderr
    allowed = runner.invoke(app, [*args, "--max-seconds", "600"])
    assert allowed.exit_code == 0, allowed.output + allowed.stderr
    assert "verified against torch" in allowed.stdout


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_max_seconds_must_be_positive(value: str) -> None:
    result = runner.invoke(app, ["gru", "4", "4", "--max-seconds", value])
    assert result.exit_code == 2
    assert "--max-seconds" in result.stderr


def test_dry_run_is_never_refused() -> None:
    result = runner.invoke(app, ["lstm", "4096", "4096", "4", "--seq", "512", "--batch", "64",
                                 "--dry-run", "--json"])
    assert result.exit_code == 0, result.output


def test_api_limit_and_started_callback() -> None:
    with pytest.raises(SpecError) as info:
        rnnshape.inspect("lstm", 64, 64, seq=20, max_seconds=1e-9)
    assert info.value.param == "max_seconds"
    seen: list[float] = []
    report = rnnshape.inspect("lstm", 64, 64, seq=20, max_seconds=None, started=seen.append)
    assert report.ran_forward and len(seen) == 1 and seen[0] > 0


def test_cli_default_matches_the_api_default() -> None:
    from rnnshape.cli.layer import OPTIONS
    from rnnshape.spec.options import DEFAULT_MAX_SECONDS

    assert next(o.default for o in OPTIONS if o.key == "max_seconds") == DEFAULT_MAX_SECONDS


@pytest.mark.parametrize(
    ("mode", "size", "keywords"),
    [
        ("lstm", 512, {"seq": 100, "batch": 64}),
        ("gru", 256, {"seq": 200, "batch": 16, "bidirectional": True}),
        ("rnn", 256, {"seq": 400, "batch": 8}),
    ],
)
def test_the_estimate_is_within_a_sane_factor_of_the_measured_time(
        mode: str, size: int, keywords: dict[str, object]) -> None:
    """A guard is a promise: the estimate against measurement (figures:
    benchmarks/estimate.py); only a generous factor is asserted."""
    import torch

    from rnnshape.spec import Dtype, make_input, make_spec
    from rnnshape.torchrun.estimate import calibrate, estimate_run

    spec = make_spec(mode, size, size, 2)
    inp = make_input(spec, seq=keywords["seq"], batch=keywords["batch"])  # type: ignore[arg-type]
    pace = calibrate(torch, "cpu", Dtype.FLOAT32)
    runs = []
    for _ in range(3):  # the fastest of three: a busy machine only ever slows a run down
        began = time.perf_counter()
        rnnshape.inspect(mode, size, size, 2, max_seconds=None, **keywords)  # type: ignore[arg-type]
        runs.append(time.perf_counter() - began)
    measured = min(runs)
    spec = make_spec(mode, size, size, 2, bidirectional=keywords.get("bidirectional"))
    estimate = estimate_run(spec, inp, Dtype.FLOAT32, pace).seconds
    # Generous on purpose (a calibration on a loaded machine can be off several times);
    # benchmarks/estimate.py prints the real ratios.
    assert measured / 30 < estimate < measured * 30, (estimate, measured, pace)


def test_the_spinner_needs_a_terminal_and_not_json_on_a_pipe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnshape.cli.progress as progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    with progress.RunProgress(json_out=False) as shown:
        shown.started(12.0)
        assert shown.bar is None  # the timer waits one second
        shown.show()
        assert shown.bar is not None and shown.bar.tasks[0].description == "forward pass"
    assert progress.RunProgress(json_out=True).enabled is False  # --json on a pipe
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert progress.RunProgress(json_out=True).enabled is True  # --json on a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    quiet = progress.RunProgress(json_out=False)
    quiet.started(5.0)
    quiet.show()
    assert quiet.bar is None
