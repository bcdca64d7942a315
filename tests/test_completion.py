"""Shell completion through Typer's own mechanism: --show-completion and a real completion
round trip (the script calls rnnshape back with _RNNSHAPE_COMPLETE set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o default -F"), ("zsh", "compdef"), ("fish", "complete --command")],
)
def test_show_completion_prints_the_shells_script(shell: str, marker: str) -> None:
    # Typer reads the shell from the argument when detection is off (as its own tests do).
    done = _run(
        ["--show-completion", shell], _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
    )
    assert done.returncode == 0, done.stderr
    assert "_RNNSHAPE_COMPLETE" in done.stdout
    assert marker in done.stdout
    assert done.stderr == ""


def test_completion_install_options_are_in_help() -> None:
    done = _run(["--help"], COLUMNS="120")
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout


def test_bash_completion_lists_the_commands_and_options() -> None:
    done = _run([], _RNNSHAPE_COMPLETE="complete_bash", COMP_WORDS="rnnshape ls", COMP_CWORD="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["lstm", "lstm-cell"]
    done = _run(
        [], _RNNSHAPE_COMPLETE="complete_bash", COMP_WORDS="rnnshape lstm --bid", COMP_CWORD="2"
    )
    assert done.stdout.split() == ["--bidirectional"]


def test_completion_does_not_import_torch() -> None:
    code = (
        "import os, sys; os.environ.update(_RNNSHAPE_COMPLETE='complete_bash', "
        "COMP_WORDS='rnnshape lstm 10 20 --', COMP_CWORD='4')\n"
        "from rnnshape.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--dry-run" in done.stdout
