"""Errors name what the user typed; torch class names are command aliases; integers are
ASCII digits only; --help shows integer types and a plain usage line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rnnshape.cli import app, main

runner = CliRunner()


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    return err.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lstm", "10", "20", "--num-layers", "2"],
         "error: no such option: --num-layers; NUM_LAYERS is the third argument"),
        (["gru", "10", "--hidden-size=20"],
         "error: no such option: --hidden-size; HIDDEN_SIZE is the second argument"),
        (["lstm", "10", "20", "--bidirektional"],
         "error: no such option: --bidirektional; did you mean --bidirectional?"),
        (["lstm", "10", "20", "--typo"], "error: no such option: --typo"),
        (["check", "--jsn", "a.yaml"], "error: no such option: --jsn; did you mean --json"),
        (["infer", "m.pt", "--num-layers", "2"], "error: no such option: --num-layers"),
    ],
)
def test_unknown_option_is_named(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _error(args, capsys).startswith(expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lstm", "10", "20", "--bias", "false"],
         "error: --bias/--no-bias is a switch and takes no value ('--bias false'): "
         "write --bias or --no-bias"),
        (["lstm", "10", "20", "--no-bias", "True"], "error: --bias/--no-bias is a switch"),
        (["lstm", "10", "20", "--bias=0"], "error: --bias/--no-bias is a switch"),
        (["gru", "10", "20", "--bidirectional", "yes"],
         "error: --bidirectional is a switch and takes no value"),
        (["lstm", "10", "20", "--dry-run", "off"], "error: --dry-run is a switch"),
        (["check", "a.yaml", "--json", "true"], "error: --json is a switch"),
    ],
)
def test_switch_given_a_value_is_named(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _error(args, capsys).startswith(expected)


def test_a_number_after_a_switch_is_still_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lstm", "10", "20", "--bidirectional", "2", "--dry-run", "--json"]) == 0
    assert '"num_layers": 2' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "module"),
    [("LSTM", "LSTM"), ("lstm", "LSTM"), ("Gru", "GRU"), ("RNNCell", "RNNCell"),
     ("LSTMCell", "LSTMCell"), ("lstm_cell", "LSTMCell"), ("lstmcell", "LSTMCell"),
     ("GRU_CELL", "GRUCell")],
)
def test_torch_class_names_are_aliases(name: str, module: str) -> None:
    result = runner.invoke(app, [name, "10", "20", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert f'"module": "{module}"' in result.stdout


def test_aliases_stay_out_of_help() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "LSTMCell" in result.stdout  # in the summaries (nn.LSTMCell ...) ...
    assert "lstm_cell" not in result.stdout and " LSTM " not in result.stdout  # ... not as commands


def test_unknown_command_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "No such command 'lstmm'" in _error(["lstmm", "10", "20"], capsys)


BAD_INTEGERS = ["١٠", "1_000", " 10 ", "10 ", "+10", "1e3", "0x10", "²"]


@pytest.mark.parametrize("text", BAD_INTEGERS)
@pytest.mark.parametrize(
    ("where", "flag"),
    [
        (["lstm", "{}", "20"], "INPUT_SIZE"),
        (["lstm", "10", "{}"], "HIDDEN_SIZE"),
        (["lstm", "10", "20", "{}"], "NUM_LAYERS"),
        (["lstm", "10", "20", "--seq", "{}"], "--seq"),
        (["lstm", "10", "20", "--batch", "{}"], "--batch"),
        (["lstm", "10", "20", "--proj-size", "{}"], "--proj-size"),
        (["lstm", "10", "20", "--bench", "{}"], "--bench"),
        (["lstm", "10", "20", "--seed", "{}"], "--seed"),
    ],
)
def test_integers_take_ascii_digits_only(
    text: str, where: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [text if a == "{}" else a for a in where]
    line = _error([*args, "--dry-run"], capsys)
    assert line == f"error: {flag} {text!r} must be an integer (digits 0-9)"


@pytest.mark.parametrize("item", ["٣", "1_0", " 3"])
def test_lengths_items_take_ascii_digits_only(
    item: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _error(["lstm", "10", "20", "--lengths", f"5,{item}", "--dry-run"], capsys)
    assert line.startswith("error: --lengths") and "must be comma-separated integers" in line


def test_plain_integers_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["lstm", "10", "20", "2", "--seq", "7", "--batch", "4", "--proj-size", "5"]
    assert main([*args, "--seed", "3", "--dry-run", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"seq": 7' in out and '"batch": 4' in out and '"proj_size": 5' in out


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("lstm", "Usage: rnnshape lstm [OPTIONS] INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]"),
        ("lstm-cell", "Usage: rnnshape lstm-cell [OPTIONS] INPUT_SIZE HIDDEN_SIZE"),
        ("infer", "Usage: rnnshape infer [OPTIONS] CHECKPOINT"),
        ("check", "Usage: rnnshape check [OPTIONS] [FILE...]"),
    ],
)
def test_help_shows_integer_types_and_a_plain_usage_line(command: str, usage: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert usage in result.stdout
    assert "{" not in next(line for line in result.stdout.splitlines() if "Usage:" in line)
    if command.startswith("lstm"):
        for name in ("INPUT_SIZE", "HIDDEN_SIZE"):
            row = next(line for line in result.stdout.splitlines() if f"*    {name}" in line)
            assert "<int>" in row and "<str>" not in row, row
        for flag in ("--seed", "--proj-size"):
            row = next((line for line in result.stdout.splitlines() if f"{flag} " in line), "")
            assert "<str>" not in row, row


@pytest.mark.parametrize(
    ("args", "digits"),
    [
        (["lstm", "10", "9" * 5000], 5000),  # beyond Python's 4,300-digit conversion limit
        (["lstm", "10", "9" * 4300, "--dry-run"], 4300),
        (["gru", "1" + "0" * 199, "20", "--dry-run"], 200),  # too large for a float
        (["lstm", "10", "20", "--seq", "9" * 4301], 4301),
        (["lstm", "10", "20", "--seed", "-" + "9" * 20], 20),
        (["lstm", "10", "20", "--lengths", "3," + "9" * 5000], 5000),
        (["rnn", "10", "20", "9223372036854775808", "--dry-run"], 19),
    ],
)
def test_integers_beyond_64_bits_are_usage_errors(
    args: list[str], digits: int, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _error(args, capsys)
    assert f"({digits:,} digits) is beyond the 64-bit integers torch uses" in line, line
    assert len(line) < 200


def test_the_largest_64_bit_size_is_answered(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lstm", "10", str(2**63 - 1), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"hidden_size": 9223372036854775807' in out


def test_a_long_value_is_quoted_shortened(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["lstm", "10", "20", "--batch", "x" * 100_000], capsys)
    assert line.startswith("error: --batch 'xxxx") and "(100,000 characters)" in line
    assert len(line) < 200
