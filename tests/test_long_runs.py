"""Long runs: estimated before allocating, refused above --max-seconds, shown with a spinner."""

from __future__ import annotations

import os
import re
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
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    return result.stderr, time.monotonic() - began


def test_the_ten_minute_run_is_refused_before_allocating() -> None:
    message, _ = refuse("lstm", "4096", "4096", "4", "--seq", "512", "--batch", "64")
    # The memory guard (no torch needed) may speak first on a small machine.
    assert "this run would take" in message or "GiB free" in message
    assert "measured on cpu" in message or "15.0 GiB" in message
    assert "--dry-run" in message


def test_a_long_run_that_fits_in_memory_is_refused_for_its_time() -> None:
    message, _ = refuse(
        "lstm", "1024", "1024", "2", "--seq", "1024", "--batch", "32", "--max-seconds", "2"
    )  # 1.1 TFLOPs: tens of seconds on a CPU, well over 2
    assert message.startswith("error: --max-seconds 2: this run would take about"), message
    assert re.search(r"steps? of forward took", message) and "≈" in message  # what was measured
    assert "--dry-run" in message and "--seq" in message and "--batch" in message


@pytest.mark.parametrize(
    "args",
    [
        ["lstm", "8", "8", "--bench", "1000000"],  # ran 85-90 s on a CPU before (issue 14)
        # Ran 65 s: estimated 60-68 s here, at the default limit itself; 30 s tests the
        # same probe without riding that edge.
        ["gru", "1", "1", "--seq", "6000000", "--max-seconds", "30"],
    ],
    ids=["bench-a-million", "six-million-steps"],
)
def test_the_issues_long_runs_are_refused_from_a_probe(args: list[str]) -> None:
    message, _ = refuse(*args)
    assert message.startswith("error: --max-seconds "), message
    assert "this run would take about" in message
    assert "measured on cpu" in message


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
    result = runner.invoke(
        app, ["lstm", "4096", "4096", "4", "--seq", "512", "--batch", "64", "--dry-run", "--json"]
    )
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
    from rnnshape.family.options import DEFAULT_MAX_SECONDS

    assert next(o.default for o in OPTIONS if o.key == "max_seconds") == DEFAULT_MAX_SECONDS


# Runs of a few tenths of a second on a CPU, long enough to be probed.
HELD_OUT = [
    ("lstm", 128, {"seq": 400, "batch": 8}),
    ("gru", 64, {"seq": 3000, "batch": 2, "bidirectional": True}),
    ("rnn", 32, {"seq": 20000, "batch": 1}),
    ("lstm", 32, {"seq": 50, "batch": 4, "bench": 200}),
]


@pytest.mark.parametrize(("mode", "size", "keywords"), HELD_OUT)
def test_the_estimate_tracks_the_run_it_precedes(
    mode: str, size: int, keywords: dict[str, object]
) -> None:
    """The probe's estimate against the run measured right after it, in one process (both
    see the same load; benchmarks/estimate.py prints the ratios). Asserted: a factor of 4,
    looser than the 2x aimed at, because other processes may start or stop between them."""
    report = rnnshape.inspect(mode, size, size, 2, max_seconds=None, **keywords)  # type: ignore[arg-type]
    run = report.run
    assert run is not None and run.probe is not None and run.estimated_seconds is not None
    ratio = run.estimated_seconds / run.measured_seconds
    assert 0.25 < ratio < 4, (run.estimated_seconds, run.measured_seconds, run.probe)


@pytest.mark.parametrize(("mode", "size", "keywords"), HELD_OUT[:2])
def test_limits_around_the_measured_time(mode: str, size: int, keywords: dict[str, object]) -> None:
    """A run that takes a quarter of the limit is run; one that takes ten limits is refused
    (each limit set from a run measured in the same test, not an absolute time)."""
    first = rnnshape.inspect(mode, size, size, 2, max_seconds=None, **keywords)  # type: ignore[arg-type]
    assert first.run is not None and first.run.estimated_seconds is not None
    took = first.run.measured_seconds
    try:
        again = rnnshape.inspect(mode, size, size, 2, max_seconds=4 * took, **keywords)  # type: ignore[arg-type]
    except SpecError:
        # Refused: fine only if the machine got busier since (a fresh reading says so).
        third = rnnshape.inspect(mode, size, size, 2, max_seconds=None, **keywords)  # type: ignore[arg-type]
        assert third.run is not None
        if third.run.measured_seconds > 2 * took:
            pytest.skip(
                f"the machine slowed down {third.run.measured_seconds / took:.1f}x "
                "between two runs: no steady reading to hold the limit against"
            )
        raise
    assert again.ran_forward
    with pytest.raises(SpecError) as info:
        rnnshape.inspect(mode, size, size, 2, max_seconds=took / 10, **keywords)  # type: ignore[arg-type]
    assert info.value.param == "max_seconds" and "measured on cpu" in str(info.value)


def test_a_probed_run_draws_the_same_tensors_as_an_unprobed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe's inputs come from outside the run's seeded stream."""
    import torch

    import rnnshape.torchrun.run as torchrun
    from rnnshape.family import RunOptions, make_input, make_spec
    from rnnshape.torchrun.run import run

    spec = make_spec("gru", 4, 4)
    inp = make_input(spec, seq=3000, batch=1)  # over a second at the slowest pace: probed
    outputs = []
    real = torch.nn.GRU.forward
    seen: list[object] = []

    def keep(self: object, *args: object, **kwargs: object) -> object:
        result = real(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(result[0].clone())  # type: ignore[index]
        return result

    for probed in (True, False):
        # Unprobed: as if every run this size were under a second on the slowest device.
        monkeypatch.setattr(torchrun, "SLOWEST_SECONDS", 1.0 if probed else 1e12)
        torch.nn.GRU.forward = keep  # type: ignore[method-assign]
        try:
            observation = run(spec, inp, RunOptions(max_seconds=None, seed=3))
        finally:
            torch.nn.GRU.forward = real  # type: ignore[method-assign]
        assert observation.run is not None
        assert (observation.run.probe is not None) is probed
        outputs.append(seen[-1])  # the verified pass is the last call
    assert torch.equal(outputs[0], outputs[1])


def test_the_spinner_needs_a_terminal_and_not_json_on_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
