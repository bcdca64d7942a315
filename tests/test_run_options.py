"""One validated run-options value: ``RunOptions``, taken by the CLI, the API, ``check --run``
and the torch package through one entry point, ``pipeline.run_report``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import rnnshape
from rnnshape.cli import main
from rnnshape.errors import SpecError
from rnnshape.family import Dtype, Mode, RunOptions, make_input, make_spec
from rnnshape.family.layer import input_problems, spec_problems


def test_defaults_and_normalised_fields() -> None:
    options = RunOptions(dtype="float64", max_seconds=5)  # type: ignore[arg-type]
    assert options.dtype is Dtype.FLOAT64
    assert isinstance(options.max_seconds, float) and options.max_seconds == 5.0
    assert options.bench_request is None and not options.training
    bench = RunOptions(bench=4, backward=True)
    assert bench.bench_request is not None
    assert (bench.bench_request.runs, bench.bench_request.backward) == (4, True)
    assert bench.training
    with pytest.raises(dataclasses.FrozenInstanceError):
        bench.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"device": "gpu"}, "device"),
        ({"dtype": "float8"}, "dtype"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"bench": 0}, "bench"),
        ({"bench": 2.5}, "bench"),
        ({"backward": True}, "backward"),
        ({"bench": 3, "dry_run": True}, "bench"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": float("nan")}, "max_seconds"),
        ({"max_seconds": "60"}, "max_seconds"),
        ({"dry_run": "yes"}, "dry_run"),
    ],
)
def test_each_broken_option_is_refused_by_name(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(SpecError) as caught:
        RunOptions(**kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_problems_lists_every_broken_option_in_one_pass() -> None:
    found = RunOptions.problems(device="gpu", dtype="float8", seed=-1, bench=0, max_seconds=-1)
    assert [e.param for e in found] == ["device", "dtype", "seed", "bench", "max_seconds"]
    assert RunOptions.problems() == []


def test_spec_problems_collects_every_rule_without_stand_ins() -> None:
    spec, found = spec_problems(
        "lstm", -1, "x", 0, proj_size=-2, dropout=2, nonlinearity="relu", bias="no"
    )
    assert spec is None
    assert sorted(e.param for e in found) == sorted(
        ["nonlinearity", "input_size", "hidden_size", "num_layers", "proj_size", "dropout", "bias"]
    )
    # make_spec raises the first of the same problems.
    with pytest.raises(SpecError) as caught:
        make_spec("lstm", -1, "x", 0, proj_size=-2, dropout=2, nonlinearity="relu", bias="no")
    assert str(caught.value) == str(found[0])


def test_input_problems_collects_every_rule() -> None:
    inp, found = input_problems(Mode.LSTM_CELL, seq=3, batch=0, unbatched=True, lengths=[1])
    assert inp is None
    assert [e.param for e in found] == ["seq", "lengths", "batch", "unbatched"]
    inp, found = input_problems(Mode.GRU, seq=4, batch=2, lengths=[3, 2, 1])
    assert inp is None and [e.param for e in found] == ["batch", "seq"]
    assert make_input(make_spec("gru", 1, 2), lengths=[3, 1]).batch == 2


def test_the_api_takes_options_or_their_fields_alike() -> None:
    by_fields = rnnshape.inspect("gru", 3, 4, run=False, dtype="float16", seed=7)
    by_value = rnnshape.inspect(
        "gru", 3, 4, options=RunOptions(dtype=Dtype.FLOAT16, seed=7, dry_run=True)
    )
    assert by_fields.to_dict() == by_value.to_dict()
    with pytest.raises(SpecError) as caught:
        rnnshape.inspect("gru", 3, 4, options={"dry_run": True})  # type: ignore[arg-type]
    assert caught.value.param == "options"


def test_run_report_is_the_one_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI and the API reach run_report with a RunOptions (check --run: its tests)."""
    import rnnshape.pipeline

    seen: list[RunOptions] = []
    real = rnnshape.pipeline.run_report

    def spy(spec: object, inp: object, options: RunOptions, **kwargs: object) -> object:
        seen.append(options)
        return real(spec, inp, options, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rnnshape.pipeline, "run_report", spy)
    assert main(["lstm", "3", "4", "--dry-run", "--seed", "9", "--json"]) == 0
    assert seen[-1] == RunOptions(seed=9, dry_run=True)
    rnnshape.inspect("rnn", 2, 2, run=False, device="auto")
    assert seen[-1] == RunOptions(device="auto", dry_run=True)


@pytest.mark.parametrize(
    ("flag", "text", "needle"),
    [
        ("--max-seconds", "1_000", "must be a number"),
        ("--max-seconds", " 5", "must be a number"),
        ("--max-seconds", "\u0665", "must be a number"),
        ("--max-seconds", "1e-400", "1e-400 is too small to tell from 0"),
        ("--max-seconds", "0", "must be a positive number"),
        ("--dropout", "1_0", "must be a number"),
        ("--dropout", "1e999", "too large"),
    ],
)
def test_number_flags_follow_the_integers_rule(
    flag: str, text: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lstm", "3", "4", "2", "--dry-run", f"{flag}={text}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and needle in err, err
    assert err.count("\n") == 1


def test_check_run_refusal_is_that_specs_problem_and_the_rest_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A guard refusal no longer stops check --run: the other files are still checked."""
    pytest.importorskip("torch")
    huge = tmp_path / "a_huge.yaml"
    # Fits in memory, but 5,000,000 steps take far over 5 s on any CPU (the probe says).
    huge.write_text("type: rnn\ninput_size: 1\nhidden_size: 1\ninput: {seq: 5000000}\n")
    broken = tmp_path / "b_broken.yaml"
    broken.write_text("type: lstm\ninput_size: 0\nhidden_size: 4\n")
    good = tmp_path / "c_good.yaml"
    good.write_text("type: gru\ninput_size: 2\nhidden_size: 3\n")
    code = main(["check", str(tmp_path), "--run", "--max-seconds", "5", "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured
    results = json.loads(captured.out)["results"]
    by_file = {Path(r["file"]).name: r for r in results}
    assert set(by_file) == {"a_huge.yaml", "b_broken.yaml", "c_good.yaml"}
    assert [e["rule"] for e in by_file["a_huge.yaml"]["errors"]] == ["run"]
    message = by_file["a_huge.yaml"]["errors"][0]["message"]
    assert "--max-seconds" in message and "max_seconds" not in message.replace("--max-", "")
    assert "dry_run" not in message
    assert by_file["b_broken.yaml"]["errors"][0]["rule"] == "value"
    assert by_file["c_good.yaml"]["ok"] is True


def test_check_run_with_its_budget_spent_says_which_specs_were_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    import rnnshape.check.report as check_run

    clock = iter(range(0, 1000, 7))  # every reading 7 s after the one before
    monkeypatch.setattr(check_run, "_now", lambda: float(next(clock)))
    specs = "".join(f"  m{i}: {{type: gru, input_size: 2, hidden_size: 3}}\n" for i in range(4))
    path = tmp_path / "m.yaml"
    path.write_text("models:\n" + specs)
    code = main(["check", str(path), "--run", "--max-seconds", "20", "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured
    results = json.loads(captured.out)["results"]
    ran = [r["name"] for r in results if r["ok"]]
    not_run = [r["name"] for r in results if not r["ok"]]
    assert ran == ["m0", "m1"] and not_run == ["m2", "m3"]
    for r in results[2:]:
        assert r["errors"][0]["rule"] == "run"
        assert "not run" in r["errors"][0]["message"]
