"""``rnnshape check``: every rule, each file format, labels, lines, JSON, exit codes.

Expected counts are derived by hand from the PyTorch docs (per layer and direction:
RNN H(H_in+H)+2H, GRU 3H(H_in+H)+6H, LSTM 4H(H_in+H)+8H) or taken from torch itself.
"""

from __future__ import annotations

import json
import textwrap
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rnnshape.check import check_files
from rnnshape.cli import main
from rnnshape.family import Mode
from rnnshape.render.check import RENDERERS, render
from rnnshape.render.formats import OutputFormat


def lstm_params(h_in: int, h: int) -> int:
    return 4 * h * (h_in + h) + 8 * h


def gru_params(h_in: int, h: int) -> int:
    return 3 * h * (h_in + h) + 6 * h


def rnn_params(h_in: int, h: int) -> int:
    return h * (h_in + h) + 2 * h


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_check(capsys, *args, "--json")
    document = json.loads(out)
    jsonschema.validate(document, REPORT_SCHEMA)
    return code, document


def errors_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for r in document["results"] for e in r["errors"]]


def rules_of(document: dict[str, Any]) -> list[str]:
    return [e["rule"] for e in errors_of(document)]


REPORT_SCHEMA = json.loads(
    files("rnnshape").joinpath("schemas/check-report-v1.schema.json").read_text()
)
SPEC_SCHEMA = json.loads(files("rnnshape").joinpath("schemas/check-v1.schema.json").read_text())

LSTM_YAML = """
type: lstm
input_size: 10
hidden_size: 20
"""


# --- formats and the ok line -------------------------------------------------------------


def test_single_yaml_spec_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "model.yaml", LSTM_YAML)
    code, out, err = run_check(capsys, path)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"{path}: ok LSTM, {lstm_params(10, 20)} parameters, output [5, 3, 20]"
    assert lines[-1] == "checked 1 spec in 1 file: all ok"
    assert err == ""


def test_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "m.json", '{"type": "GRU", "input_size": 8, "hidden_size": 16}')
    code, document = run_json(capsys, path)
    assert code == 0
    [result] = document["results"]
    assert result["module"] == "GRU"
    assert result["num_parameters"] == gru_params(8, 16)
    assert result["name"] is None and result["file"] == path


def test_toml_file_with_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "m.toml",
        """
        [models.enc]
        type = "rnn"
        input_size = 4
        hidden_size = 6
        nonlinearity = "relu"

        [models.dec]
        type = "rnn_cell"
        input_size = 6
        hidden_size = "6"
        """,
    )
    code, out, _ = run_check(capsys, path)
    assert code == 1
    assert f"{path}::enc: ok RNN, {rnn_params(4, 6)} parameters, output [5, 3, 6]" in out
    assert f"{path}::dec: hidden_size must be an integer, got '6'" in out
    assert out.splitlines()[-1] == "checked 2 specs in 1 file: 1 ok, 1 failed"


def test_yml_suffix_and_list_of_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "m.YML",
        """
        - {type: lstm, input_size: 3, hidden_size: 4}
        - {type: gru-cell, input_size: 3, hidden_size: 4}
        """,
    )
    code, document = run_json(capsys, path)
    assert code == 0
    assert [r["name"] for r in document["results"]] == ["0", "1"]
    assert [r["label"] for r in document["results"]] == [f"{path}::0", f"{path}::1"]
    assert document["results"][1]["num_parameters"] == gru_params(3, 4)


def test_counts_agree_with_torch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    path = write(
        tmp_path,
        "m.yaml",
        """
        models:
          a: {type: lstm, input_size: 7, hidden_size: 9, num_layers: 2, proj_size: 4,
              bidirectional: true}
          b: {type: GRUCell, input_size: 5, hidden_size: 3, bias: false}
        """,
    )
    _, document = run_json(capsys, path)
    built = {
        "a": torch.nn.LSTM(7, 9, num_layers=2, proj_size=4, bidirectional=True),
        "b": torch.nn.GRUCell(5, 3, bias=False),
    }
    for result in document["results"]:
        module = built[result["name"]]
        assert result["num_parameters"] == sum(p.numel() for p in module.parameters())


# --- labels, --key, documents ---------------------------------------------------------------


def test_key_with_list_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "exp.yaml",
        """
        trainer: {epochs: 3}
        stages:
          - name: pretrain
          - model:
              encoder:
                type: lstm
                input_size: 10
                hidden_size: 20
        """,
    )
    code, out, _ = run_check(capsys, path, "--key", "stages.1.model.encoder")
    assert code == 0, out
    assert out.startswith(f"{path}::encoder: ok LSTM, {lstm_params(10, 20)} parameters")


def test_key_to_models_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "exp.json",
        json.dumps({"net": {"models": {"x": {"type": "rnn", "input_size": 2, "hidden_size": 3}}}}),
    )
    code, document = run_json(capsys, path, "--key", "net")
    assert code == 0
    assert [r["name"] for r in document["results"]] == ["x"]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("model.decoder", "model has no key 'decoder' (its keys: encoder)"),
        ("stages.2", "stages is a list of 1 items: '2' is not an index from 0 to 0"),
        ("stages.x", "'x' is not an index"),
        ("model.encoder.type.x", "model.encoder.type is a string ('lstm'), not a mapping"),
    ],
)
def test_key_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, fragment: str
) -> None:
    path = write(
        tmp_path,
        "exp.yaml",
        """
        model:
          encoder: {type: lstm, input_size: 1, hidden_size: 2}
        stages: [1]
        """,
    )
    code, document = run_json(capsys, path, "--key", key)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "key"
    assert fragment in error["message"]


def test_bad_key_syntax_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML)
    code, out, err = run_check(capsys, path, "--key", "a..b")
    assert code == 2
    assert out == ""
    assert err.startswith("error: --key 'a..b'")


def test_multi_document_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "multi.yaml",
        """
        type: lstm
        input_size: 10
        hidden_size: 20
        ---
        type: gru
        input_size: 10
        hidden_size: 0
        ---
        models:
          head: {type: rnn, input_size: 2, hidden_size: 2}
        """,
    )
    code, out, _ = run_check(capsys, path)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}::#1: ok LSTM")
    assert lines[1] == f"{path}::#2: line 7: hidden_size 0 must be at least 1"
    assert lines[2].startswith(f"{path}::#3.head: ok RNN")
    assert lines[3] == "checked 3 specs in 1 file: 2 ok, 1 failed"


def test_trailing_document_marker_is_not_a_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML + "---\n")
    code, out, _ = run_check(capsys, path)
    assert code == 0, out
    assert out.startswith(f"{path}: ok")


# --- file-level failures -----------------------------------------------------------------


def test_missing_file_and_unsupported_suffix_do_not_hide_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.yaml", LSTM_YAML)
    notes = write(tmp_path, "notes.txt", "type: lstm\n")
    missing = str(tmp_path / "missing.json")
    code, out, _ = run_check(capsys, missing, notes, good)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{missing}: no such file"
    assert lines[1].startswith(f"{notes}: unsupported file type (.txt)")
    assert lines[2].startswith(f"{good}: ok LSTM")
    assert lines[3] == "checked 3 specs in 3 files: 1 ok, 2 failed"


@pytest.mark.parametrize(
    ("name", "text", "line", "column"),
    [
        ("bad.yaml", "type: lstm\ninput_size: [1, 2\nhidden_size: 3\n", 3, 12),
        ("bad.json", '{\n  "type": "lstm",\n  "input_size" 10\n}', 3, 16),
        ("bad.toml", 'type = "lstm"\ninput_size = \n', 2, 14),
    ],
)
def test_parse_errors_carry_line_and_column(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    line: int,
    column: int,
) -> None:
    path = write(tmp_path, name, text)
    code, document = run_json(capsys, path)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "parse"
    assert (error["line"], error["column"]) == (line, column)
    code, out, _ = run_check(capsys, path)
    assert out.startswith(f"{path}: line {line}, column {column}: cannot parse")


def test_duplicate_yaml_key_is_a_parse_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML + "hidden_size: 30\n")
    code, document = run_json(capsys, path)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "parse"
    assert error["line"] == 4
    assert "duplicate key 'hidden_size' (first on line 3)" in error["message"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("e.yaml", ""),
        ("e.yaml", "# only a comment\n"),
        ("e.json", "  \n"),
        ("e.toml", "# nothing\n"),
        ("e.yaml", "models: {}\n"),
    ],
)
def test_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    code, document = run_json(capsys, path)
    assert code == 1
    assert rules_of(document) == ["empty"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("- {type: lstm, input_size: 1, hidden_size: 2}\n- 3\n", 2),
        ("just a string\n", None),  # a bare scalar document carries no position
    ],
)
def test_not_a_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int | None
) -> None:
    path = write(tmp_path, "m.yaml", text)
    code, document = run_json(capsys, path)
    assert code == 1
    assert rules_of(document) == ["not_a_mapping"]
    assert errors_of(document)[0]["line"] == line


# --- validation rules --------------------------------------------------------------------


def test_unknown_key_with_line_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "model.yaml",
        """
        models:
          encoder:
            type: lstm
            input_size: 10
            hiden_size: 20
        """,
    )
    code, out, _ = run_check(capsys, path)
    assert code == 1
    assert (
        f"{path}::encoder: line 5: unknown key 'hiden_size' (did you mean 'hidden_size'?)"
        in out.splitlines()
    )
    assert f"{path}::encoder: line 2: missing key 'hidden_size'" in out


def test_kwarg_the_class_lacks_says_who_has_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        """
        type: gru
        input_size: 10
        hidden_size: 20
        proj_size: 5
        nonlinearity: relu
        """,
    )
    code, document = run_json(capsys, path)
    assert code == 1
    errors = errors_of(document)
    assert [(e["rule"], e["line"]) for e in errors] == [("unknown_key", 4), ("unknown_key", 5)]
    assert "only for lstm" in errors[0]["message"]
    assert "only for rnn, rnn-cell" in errors[1]["message"]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("hidden_size: '20'", "wrong_type"),
        ("hidden_size: 20.0", "wrong_type"),
        ("hidden_size: true", "wrong_type"),
        ("num_layers: 2.0", "wrong_type"),
        ("bias: 1", "wrong_type"),
        ("bias: 'yes'", "wrong_type"),
        ("bidirectional: null", "wrong_type"),
        ("dropout: '0.1'", "wrong_type"),
        ("hidden_size: 0", "value"),
        ("num_layers: -1", "value"),
        ("dropout: 1.5", "value"),
        ("proj_size: 20", "value"),
        ("proj_size: 30", "value"),
    ],
)
def test_strict_types_and_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, rule: str
) -> None:
    body = {"type": "lstm", "input_size": "10", "hidden_size": "20"}
    key = line.split(":")[0]
    fields = [f"{k}: {v}" for k, v in body.items() if k != key] + [line]
    path = write(tmp_path, "m.yaml", "\n".join(fields) + "\n")
    code, document = run_json(capsys, path)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == rule
    assert error["message"].startswith(key)
    assert error["line"] == len(fields)


def test_unquoted_yaml_yes_is_what_the_parser_makes_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML + "bias: no\nbatch_first: yes\n")
    code, out, _ = run_check(capsys, path)
    assert code == 0, out
    # bias: no leaves the weights only; batch_first: yes makes the output (N, L, H_out)
    assert f"{lstm_params(10, 20) - 8 * 20} parameters, output [3, 5, 20]" in out


def test_every_problem_of_a_spec_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.json",
        '{"type": "rnn", "input_size": 3, "hidden_size": "4", "bias": "yes", "dropout": 2}',
    )
    code, document = run_json(capsys, path)
    assert code == 1
    assert sorted(rules_of(document)) == ["value", "wrong_type", "wrong_type"]
    assert all(e["line"] is None for e in errors_of(document))  # JSON gives no key lines


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("input_size: 1\nhidden_size: 2\n", "missing key 'type'"),
        ("type: transformer\ninput_size: 1\nhidden_size: 2\n", "unknown type 'transformer'"),
        ("type: lstmcell\ninput_size: 1\nhidden_size: 2\n", None),
        ("type: LSTM_CEL\ninput_size: 1\nhidden_size: 2\n", "did you mean 'lstm_cell'?"),
        ("type: 3\ninput_size: 1\nhidden_size: 2\n", "got a number (3)"),
    ],
)
def test_type_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str | None
) -> None:
    path = write(tmp_path, "m.yaml", text)
    code, document = run_json(capsys, path)
    if fragment is None:
        assert code == 0
        assert document["results"][0]["module"] == "LSTMCell"
        return
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "type"
    assert fragment in error["message"]


@pytest.mark.parametrize("spelling", ["rnn_cell", "rnn-cell", "RNNCell", "RNN_CELL"])
def test_type_spellings(tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    path = write(tmp_path, "m.yaml", f"type: {spelling}\ninput_size: 2\nhidden_size: 3\n")
    code, document = run_json(capsys, path)
    assert code == 0
    assert document["results"][0]["num_parameters"] == rnn_params(2, 3)
    assert document["results"][0]["output_shape"] == [3, 3]  # h_1: (N, H)


# --- input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "output"),
    [
        ({"type": "gru", "input_size": 4, "hidden_size": 6}, [5, 3, 6]),
        ({"type": "gru", "input_size": 4, "hidden_size": 6, "input": {"seq": 7}}, [7, 3, 6]),
        (
            {"type": "gru", "input_size": 4, "hidden_size": 6, "input": {"unbatched": True}},
            [5, 6],
        ),
        (
            {"type": "gru", "input_size": 4, "hidden_size": 6, "input": {"lengths": [4, 2, 1]}},
            [7, 6],
        ),
        (
            {"type": "gru_cell", "input_size": 4, "hidden_size": 6, "input": {"batch": 2}},
            [2, 6],
        ),
    ],
)
def test_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any], output: list[int]
) -> None:
    path = write(tmp_path, "m.json", json.dumps(spec))
    code, document = run_json(capsys, path)
    assert code == 0, document
    assert document["results"][0]["output_shape"] == output


@pytest.mark.parametrize(
    ("mode", "given", "rule", "fragment"),
    [
        ("gru", {"lengths": "5,3"}, "wrong_type", "input.lengths must be a list of integers"),
        ("gru", {"lengths": [5, 3.0]}, "wrong_type", "input.lengths must hold integers"),
        ("gru", {"lengths": [5, 0]}, "value", "input.lengths must be positive"),
        ("gru", {"seq": 4, "lengths": [5, 3]}, "value", "input.seq 4 disagrees"),
        ("gru", {"unbatched": 1}, "wrong_type", "input.unbatched must be true or false"),
        ("gru", {"batch": 0}, "value", "input.batch 0 must be at least 1"),
        ("gru", {"sequence": 4}, "unknown_key", "unknown key 'input.sequence'"),
        ("gru_cell", {"seq": 4}, "unknown_key", "input.seq is not for cells"),
        ("gru", [5, 3], "wrong_type", "input must be a mapping"),
    ],
)
def test_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    given: object,
    rule: str,
    fragment: str,
) -> None:
    spec = {"type": mode, "input_size": 4, "hidden_size": 6, "input": given}
    path = write(tmp_path, "m.json", json.dumps(spec))
    code, document = run_json(capsys, path)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == rule
    assert fragment in error["message"]


# --- expectations ------------------------------------------------------------------------

ENCODER = """
models:
  encoder:
    type: lstm
    input_size: 10
    hidden_size: 20
    bidirectional: true
    expect:
      {expect}
"""


def check_encoder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str
) -> tuple[int, dict[str, Any]]:
    path = write(tmp_path, "model.yaml", ENCODER.format(expect=expect))
    return run_json(capsys, path)


ENCODER_PARAMS = 2 * lstm_params(10, 20)


def test_num_parameters_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = check_encoder(tmp_path, capsys, f"num_parameters: {ENCODER_PARAMS}")
    assert code == 0
    code, document = check_encoder(tmp_path, capsys, f"num_parameters: {ENCODER_PARAMS // 2}")
    assert code == 1
    [error] = errors_of(document)
    assert error == {
        "rule": "expect.num_parameters",
        "message": f"expect.num_parameters is {ENCODER_PARAMS // 2}, "
        f"the module has {ENCODER_PARAMS}",
        "line": 8,
        "column": None,
    }
    assert document["results"][0]["num_parameters"] == ENCODER_PARAMS


def test_max_parameters_equal_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = check_encoder(tmp_path, capsys, f"max_parameters: {ENCODER_PARAMS}")
    assert code == 0
    code, document = check_encoder(tmp_path, capsys, f"max_parameters: {ENCODER_PARAMS - 1}")
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "expect.max_parameters"
    assert "(1 over budget)" in error["message"]


@pytest.mark.parametrize(
    ("expect", "ok"),
    [
        ("output: [5, 3, 40]", True),
        ("output: [null, null, 40]", True),
        ("h_n: [2, null, 20]", True),
        ("c_n: [2, 3, 20]", True),
        ("output: [5, 3, 20]", False),
        ("output: [5, 40]", False),  # rank 2 against rank 3
        ("output: [null, null, null, 40]", False),
        ("input: [5, 3, 10]", True),
    ],
)
def test_expected_shapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str, ok: bool
) -> None:
    code, document = check_encoder(tmp_path, capsys, expect)
    assert code == (0 if ok else 1), document
    if not ok:
        [error] = errors_of(document)
        name = expect.split(":")[0]
        assert error["rule"] == f"expect.{name}"
        assert error["line"] == 8


def test_rank_mismatch_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, document = check_encoder(tmp_path, capsys, "output: [5, 40]")
    [error] = errors_of(document)
    assert (
        error["message"]
        == "expect.output is [5, 40] (rank 2), output has shape [5, 3, 40] (rank 3)"
    )


@pytest.mark.parametrize(
    ("spec", "features"),
    [
        ("type: lstm\ninput_size: 10\nhidden_size: 20\nbidirectional: true\n", 40),
        ("type: lstm\ninput_size: 10\nhidden_size: 20\nproj_size: 8\nbidirectional: true\n", 16),
        ("type: gru\ninput_size: 10\nhidden_size: 20\nnum_layers: 3\n", 20),
        ("type: lstm_cell\ninput_size: 10\nhidden_size: 20\n", 20),
        ("type: rnn_cell\ninput_size: 10\nhidden_size: 7\ninput: {unbatched: true}\n", 7),
    ],
)
def test_output_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, features: int
) -> None:
    path = write(tmp_path, "m.yaml", spec + f"expect: {{output_features: {features}}}\n")
    code, document = run_json(capsys, path)
    assert code == 0, document
    path = write(tmp_path, "m.yaml", spec + f"expect: {{output_features: {features + 1}}}\n")
    code, document = run_json(capsys, path)
    assert code == 1
    [error] = errors_of(document)
    assert error["rule"] == "expect.output_features"
    assert f"the module gives {features}" in error["message"]


@pytest.mark.parametrize(
    ("expect", "rule", "fragment"),
    [
        ("num_parameters: '5920'", "wrong_type", "must be an integer"),
        ("max_parameters: -1", "value", "must be at least 0"),
        ("output_features: 0", "value", "must be at least 1"),
        ("output: 40", "wrong_type", "must be a list of sizes"),
        ("output: [5, '3', 40]", "wrong_type", "got [5, '3', 40]"),
        ("h_1: [3, 20]", "unknown_key", "nn.LSTM has no tensor h_1"),
        ("num_parameter: 3", "unknown_key", "did you mean 'num_parameters'?"),
    ],
)
def test_malformed_expectations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str, rule: str, fragment: str
) -> None:
    code, document = check_encoder(tmp_path, capsys, expect)
    assert code == 1
    [error] = errors_of(document)
    assert (error["rule"], error["line"]) == (rule, 8)
    assert fragment in error["message"]


def test_gru_has_no_c_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "m.yaml", "type: gru\ninput_size: 1\nhidden_size: 2\nexpect:\n  c_n: [1]\n"
    )
    code, document = run_json(capsys, path)
    assert code == 1
    assert errors_of(document)[0]["message"].startswith("unknown key 'expect.c_n': nn.GRU")


# --- output, exit codes --------------------------------------------------------------------


def test_json_on_failure_matches_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.yaml", LSTM_YAML)
    bad = write(tmp_path, "bad.json", '{"type": "lstm"}')
    code, document = run_json(capsys, good, bad)
    assert code == 1
    assert document["schema_version"] == 1
    assert document["status"] == "fail"
    assert document["summary"] == {"files": 2, "specs": 2, "ok": 1, "failed": 1}
    ok, failed = document["results"]
    assert ok["ok"] and ok["errors"] == [] and ok["output_shape"] == [5, 3, 20]
    assert not failed["ok"] and failed["module"] == "LSTM" and failed["num_parameters"] is None
    assert {e["rule"] for e in failed["errors"]} == {"value"}


@pytest.mark.parametrize("args", [[], ["--no-such-option", "x.yaml"]])
def test_usage_error_leaves_stdout_empty(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run_check(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")


def test_warnings_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML + "dropout: 0.5\n")
    code, out, err = run_check(capsys, path)
    assert code == 0
    assert "dropout" not in out
    assert err.startswith(f"warning: {path}: dropout 0.5 has no effect")


def test_device_without_run_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML)
    code, _, err = run_check(capsys, path, "--device", "cuda")
    assert code == 0
    assert "no effect without --run" in err


def test_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML + "hiden: 1\n")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}
    run_check(capsys, path, "--json")
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}
    assert before == after


def test_every_format_has_a_renderer(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", LSTM_YAML)
    outcome = check_files([path])
    assert set(RENDERERS) == {OutputFormat.TABLE, OutputFormat.JSON}
    for fmt in RENDERERS:
        assert path in render(outcome, fmt)


# --- the spec JSON Schema ------------------------------------------------------------------


def test_spec_schema_accepts_and_rejects() -> None:
    jsonschema.Draft202012Validator.check_schema(SPEC_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    good = [
        {
            "type": "lstm",
            "input_size": 10,
            "hidden_size": 20,
            "proj_size": 5,
            "input": {"lengths": [3, 2]},
            "expect": {"output": [None, 5], "max_parameters": 9},
        },
        [{"type": "GRUCell", "input_size": 1, "hidden_size": 2, "expect": {"h_1": [3, 2]}}],
        {"models": {"a": {"type": "rnn-cell", "input_size": 1, "hidden_size": 2}}, "lr": 0.1},
    ]
    for doc in good:
        jsonschema.validate(doc, SPEC_SCHEMA)
    bad = [
        {"type": "lstm", "input_size": 10, "hiden_size": 20},
        {"type": "lstm", "input_size": 10, "hidden_size": "20"},
        {"type": "gru", "input_size": 10, "hidden_size": 20, "proj_size": 5},
        {"type": "gru_cell", "input_size": 10, "hidden_size": 20, "num_layers": 2},
        {"type": "gru", "input_size": 10, "hidden_size": 20, "expect": {"c_n": [1]}},
        {"type": "lstm", "input_size": 10, "hidden_size": 20, "bias": 1},
    ]
    for doc in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SPEC_SCHEMA)


def test_spec_schema_type_names_are_the_accepted_spellings() -> None:
    listed = set(SPEC_SCHEMA["$defs"]["spec"]["properties"]["type"]["enum"])
    for name in listed:
        Mode.parse(name)
    for mode in Mode:
        assert {mode.value, mode.value.replace("-", "_"), mode.torch_class} <= listed
