"""Tables on a pipe or in a file: COLUMNS if set, else as wide as the content, no trailing
spaces; in a terminal, Rich's fitting without breaking a word."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import rnnshape
from rnnshape.render.report import emit_tables, render_tables
from rnnshape.render.tables import strip_trailing

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], env_update: dict[str, str | None]) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for key, value in env_update.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


ARGS = ["lstm", "10", "20", "2", "--proj-size", "8", "--bidirectional"]


def test_redirected_output_never_splits_a_cell_nor_pads_lines(tmp_path: Path) -> None:
    """rnnshape lstm 10 20 2 --proj-size 8 --bidirectional > f (a real run, a real pipe)."""
    out = _run(ARGS, {"COLUMNS": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None})
    assert "(4·H, D·H_out) = (4·20, 2·8)" in out
    assert "(4·20,\n" not in out
    assert all(line == line.rstrip() for line in out.splitlines())
    assert "\x1b[" not in out  # no colour codes in a file


def test_redirected_output_respects_columns() -> None:
    out = _run([*ARGS, "--dry-run"], {"COLUMNS": "60", "FORCE_COLOR": None})
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert all(line == line.rstrip() for line in lines)
    assert "projection" in out  # whole at 60 columns: not project/ion


@pytest.mark.parametrize("width", [60, 70, 80])
def test_terminal_fitting_never_breaks_the_gates(width: int) -> None:
    report = rnnshape.inspect("lstm", 10, 20, 2, proj_size=8, bidirectional=True, run=False)
    out = io.StringIO()
    render_tables(report, Console(width=width, file=out, color_system=None, soft_wrap=False))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    # weight_hr_l0, _l0_reverse, _l1, _l1_reverse: the gates cell whole, then the numel
    assert len(re.findall(r"projection +160$", text, re.MULTILINE)) == 4
    for token in ("(4·20,", "(H_out,", "H_out)", "i|f|g|o"):
        assert token in text


def test_emit_tables_on_a_stream_is_as_wide_as_its_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    report = rnnshape.inspect("lstm", 123456, 654321, 12, proj_size=4321, run=False)
    out = io.StringIO()
    emit_tables(report, out)
    text = out.getvalue()
    assert "(4·H, H_in) = (4·654321, 123456)" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_strip_trailing() -> None:
    assert strip_trailing("a  \nb \n\n") == "a\nb\n\n"


def _closed_stdout(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rnnshape ARGS`` with its stdout a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)  # before the child starts: its first write meets a closed pipe
    try:
        return subprocess.run(
            [sys.executable, "-m", "rnnshape", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["lstm", "10", "20", "2", "--json", "--dry-run"],
        ["lstm", "10", "20", "2", "--dry-run"],
        ["gru", "10", "20", "--dry-run", "--explain"],
        ["schema"],
        ["--help"],
        ["lstm", "--help"],
        ["--version"],
    ],
)
def test_a_closed_pipe_ends_quietly_with_exit_141(args: list[str]) -> None:
    """``rnnshape lstm 10 20 2 --json | true``: no "unexpected BrokenPipeError", no
    "Exception ignored" at exit; 141 = 128 + SIGPIPE, as a shell reports for ``yes | true``."""
    done = _closed_stdout(args)
    assert done.stderr == ""
    assert done.returncode == 141


def _bash(pipeline: str) -> subprocess.CompletedProcess[str]:
    rnnshape = f"{sys.executable} -m rnnshape"
    return subprocess.run(
        ["bash", "-c", pipeline.replace("rnnshape", rnnshape) + '; echo "${PIPESTATUS[*]}" >&2'],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
        check=False,
    )


def test_head_c_10_takes_ten_bytes_quietly() -> None:
    done = _bash("rnnshape lstm 10 20 2 --json --dry-run | head -c 10")
    assert done.stdout == '{\n  "schem'
    status = done.stderr.split()
    # Exit 0 when the whole document fitted in the pipe before head left, else 141.
    assert status[0] in ("0", "141") and status[1] == "0", done.stderr
    assert len(status) == 2, done.stderr  # nothing but the statuses on stderr


def test_a_failing_jq_leaves_only_its_own_error() -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    done = _bash("rnnshape lstm 10 20 2 --json --dry-run | jq '.[' ")
    lines = done.stderr.splitlines()
    assert lines[-1].split()[0] in ("0", "141"), done.stderr
    assert not any("rnnshape" in line or "BrokenPipe" in line for line in lines), done.stderr


def test_long_notes_wrap_on_a_pipe_at_the_tables_width() -> None:
    """The README: on a pipe notes wrap at the tables' width (at least 80 columns); they set
    the width themselves no more (a note of 150 characters made a 150-column page)."""
    args = ["lstm", "10", "20", "2", "--bidirectional", "--proj-size", "8", "--dry-run"]
    out = _run(args, {"COLUMNS": None})
    doc = json.loads(_run([*args, "--json"], {"COLUMNS": None}))
    lines = out.splitlines()
    note_start = next(i for i, line in enumerate(lines) if line.startswith("note: "))
    laid_out = max(len(line) for line in lines[:note_start])  # tables and the header
    assert max(len(line) for line in lines[note_start:]) <= max(laid_out, 80)
    assert any(len(f"note: {n}") > max(laid_out, 80) for n in doc["notes"])  # one must wrap
    joined = " ".join(" ".join(lines[note_start:]).split())
    for note in doc["notes"]:
        assert f"note: {' '.join(note.split())}" in joined
