"""Tables on a pipe or in a file: COLUMNS if set, else as wide as the content, no trailing
spaces; in a terminal, Rich's fitting without breaking a word."""

from __future__ import annotations

import io
import os
import re
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
