"""What a file (or a flag) says is shown as text, never obeyed: no Rich markup, no control
character reaching the terminal raw, no lone surrogate crashing an output; JSON keeps the
exact text. Hostile files are built here, small, without torch."""

from __future__ import annotations

import io
import json
import struct
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnshape.cli import main
from rnnshape.cli.exits import error, warn
from rnnshape.text import one_line

# Each one a way for text to act on a terminal, and how it must be shown instead.
CONTROLS = {
    "\x1b[2J": "\\x1b[2J",  # ESC: clear the screen
    "\x1b]8;;https://evil.example\x07": "\\x1b]8;;https://evil.example\\x07",  # OSC 8, BEL
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\x7f": "\\x7f",  # DEL
    "\x9b": "\\x9b",  # C1 CSI
    "\x85": "\\x85",  # C1 NEL: a line break to some terminals
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
    "\u202e": "\\u202e",  # right-to-left override
    "\u2066": "\\u2066",  # left-to-right isolate
    "\ufeff": "\\ufeff",
    "\ud800": "\\ud800",  # a lone surrogate: cannot be encoded
    "\U000e0041": "\\U000e0041",  # a tag character (Cf)
}
MARKUP = ("[/bold]", "[link=https://evil.example]click[/link]", "[red]x[/]", ":smile:")
# Characters that must never reach the terminal raw.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def assert_terminal_safe(text: str) -> None:
    """Only the newlines the tool itself writes; no other control, format or separator."""
    for line in text.split("\n"):
        bad = [c for c in line if unicodedata.category(c) in UNSAFE_CATEGORIES]
        assert not bad, f"raw {bad!r} in {line!r}"
    text.encode("utf-8")  # strict: a lone surrogate would raise here


# --- the helper ------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), CONTROLS.items())
def test_one_line_escapes_each_control(raw: str, shown: str) -> None:
    assert one_line(f"a{raw}b") == f"a{shown}b"


def test_one_line_keeps_printable_text() -> None:
    text = "encoder.rnn. é 中文 😀 \u00a0 C:\\models\\x1b [bold] 'quoted'"
    assert one_line(text) == text


@given(st.text())
def test_one_line_is_terminal_safe_and_idempotent(text: str) -> None:
    shown = one_line(text)
    assert "\n" not in shown
    assert_terminal_safe(shown)
    assert one_line(shown) == shown


def test_warning_and_error_lines_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    warn("a\nwarning: forged\x1b[2J")
    error("b\rerror: forged\ud800")
    err = capsys.readouterr().err
    assert err == "warning: a\\nwarning: forged\\x1b[2J\nerror: b\\rerror: forged\\ud800\n"


# --- infer: tables, warnings, errors, JSON ---------------------------------------------------

LSTM_2_3 = {
    "weight_ih_l0": (12, 2),
    "weight_hh_l0": (12, 3),
    "bias_ih_l0": (12,),
    "bias_hh_l0": (12,),
}


def safetensors(path: Path, tensors: dict[str, tuple[int, ...]], dtype: str = "F32") -> Path:
    """A safetensors file of zeros with these names and shapes, written by hand."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in tensors.items():
        size = 4
        for n in shape:
            size *= n
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header).encode()  # \ud800 travels as a JSON escape, as in a real file
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


def module_named(prefix: str) -> dict[str, tuple[int, ...]]:
    return {prefix + name: shape for name, shape in LSTM_2_3.items()}


HOSTILE_PREFIXES = [f"enc{raw}." for raw in CONTROLS if raw != "\n"] + [f"{m}." for m in MARKUP]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
def test_infer_table_shows_a_hostile_prefix_as_text(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = safetensors(tmp_path / "m.safetensors", module_named(prefix))
    code, out, err = run(capsys, "infer", str(path))
    assert code == 0, err
    assert_terminal_safe(out)
    shown = one_line(prefix)
    assert f"{shown.removesuffix('.')} · LSTM" in out  # the title, literally
    assert one_line(repr(prefix)) in out  # the prefix row
    if prefix in {f"{m}." for m in MARKUP}:
        assert prefix.removesuffix(".") in out  # markup printed, not obeyed


def test_infer_table_never_emits_a_hyperlink_or_escape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tensors = module_named("[link=https://evil.example]click[/link].")
    tensors |= module_named("\x1b[2J\x1b]8;;https://evil.example\x07.")
    path = safetensors(tmp_path / "m.safetensors", tensors)
    code, out, _ = run(capsys, "infer", str(path))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "[link=https://evil.example]click[/link] · LSTM" in out


def test_infer_shows_a_hostile_dtype_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = safetensors(tmp_path / "m.safetensors", module_named("rnn."), dtype="X\x1b[2J[/b]")
    code, out, err = run(capsys, "infer", str(path))
    if code == 0:  # an unknown dtype may also be refused (exit 1): either way, shown safely
        assert "x\\x1b[2j[/b]" in out  # torch-style lower case
    assert_terminal_safe(out + err)


def test_infer_warnings_escape_the_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An incomplete group (no weight_hh) is a warning naming its prefix.
    path = safetensors(
        tmp_path / "m.safetensors",
        module_named("good.") | {"bad\x1b[2J\u2028[/bold].weight_ih_l0": (12, 2)},
    )
    code, out, err = run(capsys, "infer", str(path))
    assert code == 0
    assert err.startswith("warning: ") and "bad\\x1b[2J\\u2028[/bold]" in err
    assert err.count("\n") == len(err.splitlines())  # one line per warning
    assert_terminal_safe(out + err)


def test_infer_error_escapes_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "x\nerror: forged\x1b[2J.pt"
    code, out, err = run(capsys, "infer", str(tmp_path / name))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "x\\nerror: forged\\x1b[2J.pt" in err


def test_infer_error_from_a_corrupt_entry_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.safetensors"
    header = {"a\n\x1b[2J\ud800": {"dtype": "F32", "shape": "[/bold]\r", "data_offsets": [0, 0]}}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    code, out, err = run(capsys, "infer", str(path))
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert_terminal_safe(err)


def test_infer_json_keeps_the_exact_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefixes = ["[/bold].", "\x1b[2J\r\u2028.", "\ud800\x9b."]
    tensors: dict[str, tuple[int, ...]] = {}
    for prefix in prefixes:
        tensors |= module_named(prefix)
    path = safetensors(tmp_path / "m.safetensors", tensors)
    code, out, _ = run(capsys, "infer", str(path), "--json")
    assert code == 0
    assert out.isascii()  # every control and surrogate as a JSON escape
    assert sorted(m["prefix"] for m in json.loads(out)["modules"]) == sorted(prefixes)


def test_a_strict_utf8_stdout_survives_a_lone_surrogate(tmp_path: Path) -> None:
    """As on a real terminal: an encoder that refuses surrogates, for tables and JSON."""
    import contextlib

    path = safetensors(tmp_path / "m.safetensors", module_named("\udcff."))
    for extra in ([], ["--json"]):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
        with contextlib.redirect_stdout(out):
            assert main(["infer", str(path), *extra]) == 0
        out.flush()
        assert b"\\udcff" in raw.getvalue()


# --- check: result lines, warnings, JSON -----------------------------------------------------


def check_config(tmp_path: Path) -> Path:
    models = {
        # A name that tries to forge the summary line.
        "x\nchecked 9 specs in 9 files: all ok": {
            "type": "lstm",
            "input_size": 2,
            "hidden_size": 3,
        },
        # A failing spec whose name and unknown key carry escapes and a lone surrogate.
        "\ud800\x1b[2J[/bold]": {
            "type": "lstm",
            "input_size": 2,
            "hidden_size": -3,
            "\x1b]8;;https://evil.example\x07click": 1,
        },
        # A passing spec with a warning (dropout with one layer), its name a line separator.
        "\u2028\r": {"type": "gru", "input_size": 2, "hidden_size": 3, "dropout": 0.5},
    }
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": models}), encoding="ascii")
    return path


def test_check_lines_cannot_forge_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", str(check_config(tmp_path)))
    assert code == 1
    assert_terminal_safe(out + err)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("checked ")] == [lines[-1]]
    assert lines[-1] == "checked 3 specs in 1 file: 2 ok, 1 failed"
    assert any("x\\nchecked 9 specs in 9 files: all ok: ok LSTM" in line for line in lines)
    assert any("\\ud800\\x1b[2J[/bold]: unknown key" in line for line in lines)
    assert "\\u2028\\r: dropout 0.5" in err and err.startswith("warning: ")


def test_check_json_keeps_the_exact_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", str(check_config(tmp_path)), "--json")
    assert code == 1 and out.isascii()
    names = [r["name"] for r in json.loads(out)["results"]]
    assert names == ["x\nchecked 9 specs in 9 files: all ok", "\ud800\x1b[2J[/bold]", "\u2028\r"]


def test_check_of_a_file_whose_name_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name of raw bytes arrives as lone surrogates (surrogateescape): shown escaped."""
    import os

    folder = os.fsencode(tmp_path)
    path = folder + b"/m\xff\x1b.yaml"
    with open(path, "w", encoding="utf-8") as f:
        f.write("type: lstm\ninput_size: 2\nhidden_size: 3\n")
    code, out, err = run(capsys, "check", os.fsdecode(path))
    assert code == 0, err
    assert "m\\udcff\\x1b.yaml: ok LSTM" in out
    assert_terminal_safe(out)
    code, out, _ = run(capsys, "check", os.fsdecode(path), "--json")
    assert code == 0 and json.loads(out)["results"][0]["file"] == os.fsdecode(path)
