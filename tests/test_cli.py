"""The command line: through Typer's runner, through main(), and as real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from rnnshape.cli import app, main
from rnnshape.render import DOCUMENTS, Document, OutputFormat, renderers
from tests.measured import computed

runner = CliRunner()
SCHEMA = json.loads(files("rnnshape").joinpath("schemas/report-v1.schema.json").read_text())


def invoke_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def torch_shapes(module: nn.Module) -> list[tuple[str, list[int]]]:
    return [(n, list(p.shape)) for n, p in module.named_parameters()]


def test_lstm_example_matches_torch() -> None:
    doc = invoke_json("lstm", "10", "20", "2", "--seq", "5", "--batch", "3")
    module = nn.LSTM(10, 20, num_layers=2)
    out, (h_n, c_n) = module(torch.randn(5, 3, 10))
    assert doc["schema_version"] == 1
    assert doc["module"] == "LSTM"
    assert doc["config"] == {
        "input_size": 10, "hidden_size": 20, "num_layers": 2, "bias": True,
        "batch_first": False, "dropout": 0.0, "bidirectional": False, "proj_size": 0,
    }
    assert [(p["name"], p["shape"]) for p in doc["parameters"]] == torch_shapes(module)
    assert doc["num_parameters"] == sum(p.numel() for p in module.parameters())
    assert doc["parameter_bytes"] == 4 * doc["num_parameters"]
    tensors = doc["tensors"]
    assert list(tensors) == ["input", "h_0", "c_0", "output", "h_n", "c_n"]
    assert tensors["input"]["shape"] == [5, 3, 10]
    assert tensors["output"]["shape"] == list(out.shape)
    assert tensors["h_n"]["shape"] == list(h_n.shape)
    assert tensors["c_n"]["shape"] == list(c_n.shape)
    assert tensors["h_0"]["shape"] == list(h_n.shape)
    assert all(t["dtype"] == "float32" and t["device"] == "cpu" for t in tensors.values())
    assert doc["device"] == "cpu" and doc["dtype"] == "float32" and doc["ran_forward"] is True
    weight = doc["parameters"][0]
    assert weight["gates"] == ["i", "f", "g", "o"]
    assert weight["symbols"] == ["4·H", "H_in"]


def test_gru_bidirectional_batch_first() -> None:
    doc = invoke_json("gru", "10", "20", "--bidirectional", "--batch-first")
    module = nn.GRU(10, 20, bidirectional=True, batch_first=True)
    out, h_n = module(torch.randn(3, 5, 10))
    assert doc["config"] == {
        "input_size": 10, "hidden_size": 20, "num_layers": 1, "bias": True,
        "batch_first": True, "dropout": 0.0, "bidirectional": True,
    }
    assert doc["tensors"]["input"]["shape"] == [3, 5, 10]
    assert doc["tensors"]["output"]["shape"] == list(out.shape)
    assert doc["tensors"]["h_n"]["shape"] == list(h_n.shape)
    assert "c_n" not in doc["tensors"]
    assert doc["parameters"][0]["gates"] == ["r", "z", "n"]


def test_lstm_projection_bidirectional() -> None:
    doc = invoke_json("lstm", "10", "20", "2", "--proj-size", "8", "--bidirectional")
    module = nn.LSTM(10, 20, 2, proj_size=8, bidirectional=True)
    out, (h_n, c_n) = module(torch.randn(5, 3, 10))
    assert [(p["name"], p["shape"]) for p in doc["parameters"]] == torch_shapes(module)
    assert doc["tensors"]["output"]["shape"] == list(out.shape)
    assert doc["tensors"]["h_n"]["shape"] == list(h_n.shape)
    assert doc["tensors"]["c_n"]["shape"] == list(c_n.shape)
    hr = next(p for p in doc["parameters"] if p["name"] == "weight_hr_l0")
    assert hr["role"] == "weight_hr" and hr["gates"] == []


def test_rnn_relu_no_bias_config() -> None:
    doc = invoke_json("rnn", "10", "20", "3", "--nonlinearity", "relu", "--no-bias")
    assert doc["config"] == {
        "input_size": 10, "hidden_size": 20, "num_layers": 3, "nonlinearity": "relu",
        "bias": False, "batch_first": False, "dropout": 0.0, "bidirectional": False,
    }
    assert not any(p["name"].startswith("bias") for p in doc["parameters"])


@pytest.mark.parametrize(
    ("mode", "cls", "config"),
    [
        ("rnn-cell", nn.RNNCell,
         {"input_size": 10, "hidden_size": 20, "bias": True, "nonlinearity": "tanh"}),
        ("lstm-cell", nn.LSTMCell, {"input_size": 10, "hidden_size": 20, "bias": True}),
        ("gru-cell", nn.GRUCell, {"input_size": 10, "hidden_size": 20, "bias": True}),
    ],
)
def test_cells(mode: str, cls: type[nn.Module], config: dict[str, object]) -> None:
    doc = invoke_json(mode, "10", "20", "--batch", "3")
    module = cls(10, 20)
    assert doc["module"] == cls.__name__
    assert doc["config"] == config
    assert [(p["name"], p["shape"]) for p in doc["parameters"]] == torch_shapes(module)
    result = module(torch.randn(3, 10))
    h_1 = result[0] if isinstance(result, tuple) else result
    assert doc["tensors"]["h_1"]["shape"] == list(h_1.shape)
    expected = ["input", "h_0", "c_0", "h_1", "c_1"] if mode == "lstm-cell" else [
        "input", "h_0", "h_1"]
    assert list(doc["tensors"]) == expected


def test_unbatched() -> None:
    doc = invoke_json("lstm", "10", "20", "--unbatched")
    out, (h_n, _) = nn.LSTM(10, 20)(torch.randn(5, 10))
    assert doc["tensors"]["input"]["shape"] == [5, 10]
    assert doc["tensors"]["output"]["shape"] == list(out.shape)
    assert doc["tensors"]["h_n"]["shape"] == list(h_n.shape)
    assert doc["input"]["batch"] is None


def test_unbatched_batch_first_is_accepted_and_explained() -> None:
    result = runner.invoke(app, ["lstm", "10", "20", "--unbatched", "--batch-first"])
    assert result.exit_code == 0, result.output
    assert "batch_first is ignored for unbatched input" in result.stdout


def test_packed_lengths_unsorted() -> None:
    doc = invoke_json("gru", "10", "20", "--lengths", "3,5,2")
    packed = nn.utils.rnn.pack_padded_sequence(
        torch.randn(5, 3, 10), torch.tensor([3, 5, 2]), enforce_sorted=False)
    out, h_n = nn.GRU(10, 20)(packed)
    x = doc["tensors"]["input"]
    assert x["packed"] is True
    assert x["shape"] == list(packed.data.shape)
    assert x["batch_sizes"] == packed.batch_sizes.tolist()
    assert doc["tensors"]["output"]["shape"] == list(out.data.shape)
    assert doc["tensors"]["output"]["batch_sizes"] == out.batch_sizes.tolist()
    assert doc["tensors"]["h_n"]["shape"] == list(h_n.shape)
    assert doc["tensors"]["h_0"]["packed"] is False


def test_dry_run_answers_for_sizes_too_large_to_allocate() -> None:
    doc = invoke_json("lstm", "100000", "100000", "10", "--dry-run")
    h = 100000
    per_layer_0 = 4 * h * h + 4 * h * h + 8 * h
    assert doc["num_parameters"] == 10 * per_layer_0
    assert doc["ran_forward"] is False
    assert doc["device"] == "cpu"


def test_dry_run_reports_requested_device() -> None:
    doc = invoke_json("lstm", "10", "20", "--dry-run", "--device", "cuda")
    assert doc["device"] == "cuda"


def test_auto_device_resolves_to_what_ran() -> None:
    doc = invoke_json("lstm", "4", "5", "--device", "auto")
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert doc["device"] == expected


def test_every_output_format_has_a_renderer() -> None:
    """The one registry: every document prints as tables and JSON, every format is used."""
    assert set(DOCUMENTS) == set(Document)
    used: set[OutputFormat] = set()
    for document in Document:
        table = renderers(document)
        assert {OutputFormat.TABLE, OutputFormat.JSON} <= set(table), document
        assert all(isinstance(fmt, OutputFormat) and callable(fn) for fmt, fn in table.items())
        used |= set(table)
    assert used == set(OutputFormat)


def test_schema_command_prints_the_shipped_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == SCHEMA
    assert SCHEMA["$schema"].startswith("https://json-schema.org/")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_table_output_names_every_parameter_and_tensor() -> None:
    result = runner.invoke(app, ["lstm", "10", "20", "2", "--bidirectional"])
    assert result.exit_code == 0, result.output
    for name, _ in nn.LSTM(10, 20, 2, bidirectional=True).named_parameters():
        assert name in result.stdout
    for tensor in ("input", "h_0", "c_0", "output", "h_n", "c_n"):
        assert tensor in result.stdout
    assert "nn.LSTM(10, 20, num_layers=2, bidirectional=True)" in result.stdout


def test_dropout_with_one_layer_is_one_clean_warning() -> None:
    result = runner.invoke(app, ["lstm", "10", "20", "--dropout", "0.5", "--json"])
    assert result.exit_code == 0
    json.loads(result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: dropout 0.5 has no effect")
    assert "UserWarning" not in result.stderr


def test_projection_run_leaks_no_torch_warning() -> None:
    result = runner.invoke(app, ["lstm", "10", "20", "--proj-size", "5", "--json"])
    assert result.exit_code == 0
    assert result.stderr == ""


# Every value torch would reject or the tool cannot honour: exit 2, stdout empty, and a
# first stderr line that names the flag and the rule.
BAD = [
    (["lstm", "0", "20"], "error: INPUT_SIZE 0 must be at least 1"),
    (["lstm", "10", "-5"], "error: HIDDEN_SIZE -5 must be at least 1"),
    (["lstm", "10", "20", "0"], "error: NUM_LAYERS 0 must be at least 1"),
    (["lstm", "10", "x"], "error: HIDDEN_SIZE 'x' must be an integer"),
    (["lstm", "10", "20", "--proj-size", "20"],
     "error: --proj-size 20 must be smaller than hidden_size 20"),
    (["gru", "10", "20", "--proj-size", "5"], "error: --proj-size is only for lstm"),
    (["rnn-cell", "10", "20", "--proj-size", "5"], "error: --proj-size is only for lstm"),
    (["lstm", "10", "20", "--nonlinearity", "relu"],
     "error: --nonlinearity is only for rnn, rnn-cell"),
    (["rnn", "10", "20", "--nonlinearity", "sigmoid"],
     "error: --nonlinearity 'sigmoid' must be 'tanh' or 'relu'"),
    (["lstm", "10", "20", "2", "--dropout", "1.5"], "error: --dropout 1.5 must be between 0 and 1"),
    (["lstm", "10", "20", "2", "--dropout", "-0.1"], "error: --dropout -0.1 must be between 0"),
    (["lstm", "10", "20", "--lengths", ""], "error: --lengths must not be empty"),
    (["lstm", "10", "20", "--lengths", "5,0,2"], "error: --lengths must be positive"),
    (["lstm", "10", "20", "--lengths", "5,-1"], "error: --lengths must be positive"),
    (["lstm", "10", "20", "--lengths", "5,a"], "error: --lengths '5,a' must be comma-separated"),
    (["lstm", "10", "20", "--lengths", "5,2.5"], "error: --lengths '5,2.5' must be comma"),
    (["lstm", "10", "20", "--lengths", "5,,3"], "error: --lengths '5,,3' must be comma-separated"),
    (["lstm", "10", "20", "--lengths", "5,3,"], "error: --lengths '5,3,' must be comma-separated"),
    (["lstm", "10", "20", "--lengths", "5,3", "--unbatched"],
     "error: --unbatched cannot be combined with --lengths"),
    (["lstm", "10", "20", "--device", "cuda:99"], "error: --device cuda:99"),
    (["lstm", "10", "20", "--device", "tpu"], "error: --device 'tpu' must be cpu, cuda"),
    (["lstm", "10", "20", "--dtype", "int8"], "error: --dtype 'int8' must be one of float32"),
    (["lstm", "10", "20", "--seq", "0"], "error: --seq 0 must be at least 1"),
    (["lstm", "10", "20", "--batch", "0"], "error: --batch 0 must be at least 1"),
    (["lstm-cell", "10", "20", "--seq", "4"], "error: --seq is not for cells"),
    (["gru-cell", "10", "20", "--lengths", "4,2"], "error: --lengths is not for cells"),
    (["lstm", "10", "20", "--unbatched", "--batch", "4"],
     "error: --unbatched cannot be combined with --batch"),
    (["lstm", "10", "20", "--lengths", "5,3,2", "--batch", "4"],
     "error: --batch 4 disagrees with --lengths"),
    (["lstm", "10", "20", "--lengths", "5,3,2", "--seq", "7"],
     "error: --seq 7 disagrees with --lengths"),
    (["lstm-cell", "10", "20", "--bidirectional"], "error: --bidirectional is only for rnn"),
    (["gru-cell", "10", "20", "--batch-first"], "error: --batch-first is only for rnn"),
    (["rnn-cell", "10", "20", "--dropout", "0.1"], "error: --dropout is only for rnn"),
    (["lstm-cell", "10", "20", "2"], "error: NUM_LAYERS 2: a cell has no num_layers"),
    (["lstm", "100000", "100000", "10"], "error: this run needs about"),
    (["lstm", "10", "20", "--seed", "-1"], "error: --seed -1 must be an integer from 0"),
    (
        ["lstm", "10", "20", "--seed", str(2**70)],
        "error: --seed 1180591620717411303424 (22 digits) is beyond the 64-bit integers",
    ),
    (["lstm", "10", "20", "--typo"], "error: no such option: --typo"),
    (["lstm", "10", "20", "--seq", "abc"], "error: --seq 'abc' must be an integer"),
    (["lstm", "10"], "error: Missing argument 'HIDDEN_SIZE'"),
]


@pytest.mark.parametrize(("args", "first_line"), BAD, ids=[" ".join(a) for a, _ in BAD])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_bad_input_exits_2_with_a_clear_first_line(
    args: list[str], first_line: str, as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    if args[-1] == "cuda:99" and torch.cuda.device_count() > 99:  # pragma: no cover
        pytest.skip("this machine really has 100 GPUs")
    code = main([*args, *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.splitlines()[0].startswith(first_line), err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so_and_suggests_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lstm", "10", "20", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu" in err


def test_unsupported_dtype_on_device_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel missing for a dtype (as on some devices) becomes exit 2 naming --dtype."""
    original = nn.LSTM.forward

    def missing_kernel(self: nn.LSTM, *args: Any, **kwargs: Any) -> Any:
        if self.weight_ih_l0.dtype == torch.float16:
            raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nn.LSTM, "forward", missing_kernel)
    assert main(["lstm", "10", "20", "--dtype", "float16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dtype float16 cannot run LSTM on cpu")


def test_formula_disagreement_is_a_loud_bug_report(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import rnnshape.pipeline as inspector
    from rnnshape.formulas import tensor_shapes as real

    def wrong(spec: Any, inp: Any) -> Any:
        shapes = real(spec, inp)
        bad = shapes[-1]
        return [*shapes[:-1], type(bad)(bad.name, (*bad.shape[:-1], bad.shape[-1] + 1),
                                        bad.dims, bad.direction)]

    monkeypatch.setattr(inspector, "tensor_shapes", wrong)
    assert main(["lstm", "10", "20", "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "torch and rnnshape's formulas disagree" in err
    assert "c_n" in err and "please report" in err


def test_unexpected_failure_is_one_line_unless_debug(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import rnnshape.pipeline as inspector

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(inspector, "build_report", boom)
    monkeypatch.delenv("RNNSHAPE_DEBUG", raising=False)
    assert main(["lstm", "3", "4", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected ZeroDivisionError: boom")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "lstm", "3", "4", "--dry-run"])
    monkeypatch.delenv("RNNSHAPE_DEBUG", raising=False)
    monkeypatch.setenv("RNNSHAPE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["lstm", "3", "4", "--dry-run"])


@pytest.mark.parametrize("which", ["report", "check", "check-report", "infer"])
def test_every_shipped_schema_is_printed_and_valid(which: str) -> None:
    from rnnshape.cli.schema import SCHEMAS

    result = runner.invoke(app, ["schema", which])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = files("rnnshape").joinpath("schemas", SCHEMAS[which]).read_text()
    assert schema == json.loads(shipped)


def test_unknown_schema_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: SCHEMA 'nope' must be one of report, check")


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for mode in ("rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell", "schema"):
        assert mode in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rnnshape ")


def test_cell_help_hides_layer_only_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lstm-cell", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--proj-size" not in out and "--seq" not in out and "--batch " in out


# Real processes: the installed console script and python -m.

def _script() -> list[str]:
    found = shutil.which("rnnshape")
    assert found, "the rnnshape console script is not installed"
    return [found]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_console_script_and_module_give_byte_identical_json() -> None:
    args = ["lstm", "10", "20", "2", "--lengths", "5,3,2", "--seed", "7", "--json"]
    first = _run([*_script(), *args])
    second = _run([*_script(), *args])
    module = _run([sys.executable, "-m", "rnnshape", *args])
    assert first.returncode == second.returncode == module.returncode == 0, first.stderr
    docs = [json.loads(done.stdout) for done in (first, second, module)]
    assert computed(docs[0]) == computed(docs[1]) == computed(docs[2])
    assert first.stdout.splitlines()[:20] == module.stdout.splitlines()[:20]  # same order
    jsonschema.validate(docs[0], SCHEMA)
    assert first.stderr == ""


def test_console_script_usage_error_in_a_real_process() -> None:
    done = _run([*_script(), "lstm", "10", "20", "--proj-size", "30", "--json"])
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == (
        "error: --proj-size 30 must be smaller than hidden_size 20")
