"""Any size is answered fast or refused clearly (issue 11, section 3).

Closed forms equal the sums they replaced; listings above LISTING_LIMIT are elided with exact
totals; every extreme command runs in a child process under 1 GiB of address space and 20 s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from itertools import product
from pathlib import Path

import jsonschema
import pytest

from rnnshape.explain.build import gate_blocks, gate_count
from rnnshape.family import make_input, make_spec
from rnnshape.formulas import (
    LISTING_EDGE,
    LISTING_LIMIT,
    batch_sizes,
    cost,
    elide,
    listed_batch_sizes,
    listed_parameters,
    num_parameters,
    parameter_count,
    parameter_shapes,
)

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "rnnshape/schemas/report-v1.schema.json").read_text()
)
GIB = 2**30


def _specs():  # type: ignore[no-untyped-def]
    for mode, layers, bidi, bias, proj in product(
        ("rnn", "gru", "lstm"), (1, 2, 3, 7), (False, True), (False, True), (0, 3)
    ):
        if proj and mode != "lstm":
            continue
        yield make_spec(mode, 5, 6, layers, bidirectional=bidi, bias=bias, proj_size=proj or None)
    for cell in ("rnn_cell", "gru_cell", "lstm_cell"):
        yield make_spec(cell, 5, 6, bias=False)
        yield make_spec(cell, 5, 6)


@pytest.mark.parametrize("spec", list(_specs()), ids=lambda s: s.constructor())
def test_closed_forms_equal_the_sums(spec) -> None:  # type: ignore[no-untyped-def]
    params = parameter_shapes(spec)
    assert num_parameters(spec) == sum(p.numel for p in params)
    assert parameter_count(spec) == len(params)
    assert gate_count(spec) == len(gate_blocks(spec, params))
    if not spec.mode.is_cell:
        inp = make_input(spec, seq=4, batch=2)
        d = spec.num_directions
        old_sum = sum([spec.input_size] + [d * spec.h_out] * (spec.num_layers - 1))
        assert cost(spec, inp).input_projection_macs == 8 * d * spec.gate_rows * old_sum


@pytest.mark.parametrize(
    "lengths", [(5,), (3, 3), (5, 3, 2), (1, 7, 7, 2), (1200, 3), (2500, 2500, 1), (1001,)]
)
def test_batch_sizes_match_the_step_by_step_count(lengths: tuple[int, ...]) -> None:
    naive = tuple(sum(1 for n in lengths if n > t) for t in range(max(lengths)))
    assert batch_sizes(lengths) == naive
    assert listed_batch_sizes(lengths) == elide(naive)


def test_listed_parameters_are_the_elided_full_list() -> None:
    spec = make_spec("lstm", 3, 4, 300, bidirectional=True, proj_size=2)
    full = parameter_shapes(spec)
    assert len(full) > LISTING_LIMIT
    shown, omitted = listed_parameters(spec)
    assert (tuple(shown), omitted) == elide(full)
    assert shown[LISTING_EDGE - 1] == full[LISTING_EDGE - 1]
    assert shown[LISTING_EDGE] == full[omitted + LISTING_EDGE]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process limited to 1 GiB of address space and 20 s."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=_limits,
        env=env,
        cwd=cwd,
    )


def test_trillion_layers_dry_run_json_is_elided_with_exact_totals() -> None:
    done = _run(["lstm", "10", "20", "1000000000000", "--dry-run", "--json", "--explain"])
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    spec = make_spec("lstm", 10, 20, 10**12)
    assert doc["num_parameters"] == num_parameters(spec)
    assert len(doc["parameters"]) == LISTING_LIMIT
    assert doc["parameters_elided"] == {
        "at": LISTING_EDGE,
        "omitted": 4 * 10**12 - LISTING_LIMIT,
        "total": 4 * 10**12,
    }
    assert doc["parameters"][-1]["name"] == "bias_hh_l999999999999"
    assert doc["explain"]["gates_elided"]["total"] == 16 * 10**12
    assert doc["explain"]["diagram"]["layers_elided"]["omitted"] == 10**12 - LISTING_LIMIT


def test_trillion_layers_table_marks_the_gap() -> None:
    done = _run(["lstm", "10", "20", "1000000000000", "--dry-run", "--explain"])
    assert done.returncode == 0, done.stderr
    assert "… 3,999,999,999,000 parameters left out …" in done.stdout
    assert len(done.stdout) < 1_000_000


def test_trillion_step_lengths_dry_run() -> None:
    done = _run(["rnn", "10", "20", "--lengths", "1000000000000,3", "--dry-run", "--json"])
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    data = doc["tensors"]["input"]
    assert data["shape"] == [10**12 + 3, 10]
    assert data["batch_sizes"][:4] == [2, 2, 2, 1]
    assert data["batch_sizes_elided"] == {
        "at": LISTING_EDGE,
        "omitted": 10**12 - LISTING_LIMIT,
        "total": 10**12,
    }


def test_small_json_keeps_every_item_and_no_marker() -> None:
    done = _run(["lstm", "10", "20", "2", "--lengths", "5,3", "--dry-run", "--json"])
    doc = json.loads(done.stdout)
    assert len(doc["parameters"]) == 8
    assert "parameters_elided" not in doc
    assert "batch_sizes_elided" not in doc["tensors"]["input"]


@pytest.mark.parametrize(
    "args",
    [
        ["rnn", "10", "20", "--lengths", "1000000000000"],  # refused by the memory guard
        ["lstm", "1", "1", "--seq", "1000000000000", "--batch", "1"],
        ["lstm", "10", "20", "100000"],  # more parameter tensors than a run verifies
    ],
)
def test_real_runs_of_huge_sizes_are_refused_before_torch(args: list[str]) -> None:
    done = _run(args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")


def test_layers_hundred_thousand_dry_run() -> None:
    done = _run(["lstm", "10", "20", "100000", "--dry-run", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_parameters"] == num_parameters(
        make_spec("lstm", 10, 20, 100_000)
    )


@pytest.mark.parametrize("run", [False, True])
def test_check_a_billion_layers(tmp_path: Path, run: bool) -> None:
    config = tmp_path / "huge.yaml"
    config.write_text(
        "type: lstm\ninput_size: 10\nhidden_size: 20\nnum_layers: 1000000000\n"
        "input: {lengths: [1000000000000, 2]}\n"
    )
    done = _run(["check", str(config), *(["--run"] if run else [])])
    if run:  # a refused run is that spec's problem (rule run): exit 1, reported on stdout
        assert done.returncode == 1, done.stderr
        assert "up to 1,000" in done.stdout and done.stderr == ""
    else:
        assert done.returncode == 0, done.stderr + done.stdout
        assert "ok LSTM" in done.stdout
