"""Help screens: ``-h`` is ``--help`` everywhere, and every help screen shows its own text
literally (Typer reads help as Rich markup, where ``rnnshape[onnx]`` or ``[lstm]`` vanish)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rnnshape.cli import app

runner = CliRunner()
# Box drawing and the panels' borders: not part of any text.
_FRAME = re.compile("[│╭╮╰╯─]")


def _commands() -> dict[str, Any]:
    root = typer.main.get_command(app)
    return {"": root, **root.commands}  # type: ignore[attr-defined]


COMMANDS = sorted(_commands())


def _words(text: str) -> str:
    """Text as a help screen may lay it out: frames removed, any whitespace one space."""
    return " ".join(_FRAME.sub(" ", text).split())


def _help(name: str, flag: str = "--help") -> str:
    args = [name, flag] if name else [flag]
    result = runner.invoke(app, args, env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_dash_h_is_help(name: str) -> None:
    """``rnnshape -h``, ``rnnshape lstm -h`` (no "No such option", no "Missing argument")."""
    assert _help(name, "-h") == _help(name, "--help")


def test_dash_h_after_arguments_is_help() -> None:
    result = runner.invoke(app, ["lstm", "10", "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage: rnnshape lstm" in result.stdout


def _own_texts(command: Any) -> list[str]:
    """What ``command`` says about itself: docstring, epilog, each shown parameter's help and
    metavar, and (for the root) each command's first paragraph."""
    texts = [command.help or "", command.epilog or ""]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        texts += [getattr(param, "help", None) or "", param.metavar or ""]
    for sub in getattr(command, "commands", {}).values():
        texts.append((sub.short_help or sub.help or "").split("\n\n")[0])
    return [t for t in texts if t.strip()]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_screen_shows_its_own_text_literally(name: str) -> None:
    """``rnnshape infer --help`` says "needs rnnshape[onnx]", ``lstm --help`` says
    "[rnn, lstm, gru]" after --dropout: nothing read as markup."""
    command = typer.main.get_command(app)
    if name:
        command = command.commands[name]  # type: ignore[attr-defined]
    screen = _words(_help(name))
    texts = _own_texts(command)
    assert texts
    for text in texts:
        for paragraph in text.split("\n\n"):
            assert _words(paragraph) in screen, paragraph


def test_the_bracketed_texts_of_the_issue_show() -> None:
    assert "(needs rnnshape[onnx])" in _words(_help("infer"))
    assert "dropout between layers, 0 to 1 [rnn, lstm, gru]" in _words(_help("lstm"))
    assert "[lstm]" in _words(_help("lstm"))
