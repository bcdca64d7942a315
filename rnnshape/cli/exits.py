"""The one exit path: every failure becomes one ``error:`` line on stderr and its exit code.

0 ok; 1 problems found, or an unexpected failure; 2 the request cannot be honoured as given;
130 interrupted. Commands run inside ``guard(ctx)``; ``main`` (the console script) maps what
Typer raises while parsing, before any command runs.
"""

# No ``from __future__ import annotations``: Typer reads the annotations at runtime.

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from rnnshape.errors import EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_USAGE, RnnShapeError, SpecError
from rnnshape.text import one_line


class Session:
    """One invocation's settings, carried as the Typer context's ``obj``."""

    def __init__(self, short_lived: bool = False) -> None:
        self.short_lived = short_lived  # the console script: the process ends after one command
        self.debug = False  # --debug (or RNNSHAPE_DEBUG=1): show unexpected tracebacks


# How the command line spells each spec or input key in messages.
CLI_NAMES = {
    "input_size": "INPUT_SIZE",
    "hidden_size": "HIDDEN_SIZE",
    "num_layers": "NUM_LAYERS",
    "mode": "MODE",
}


def option_name(key: str) -> str:
    """``proj_size`` → ``--proj-size``: the flag of a spec, input or run key."""
    return CLI_NAMES.get(key) or "--" + key.replace("_", "-")


def session(ctx: typer.Context) -> Session:
    found = ctx.find_object(Session)
    return found if found is not None else Session()


def warn(message: str) -> None:
    """One ``warning:`` line on stderr; what a file or flag put in it is shown escaped."""
    sys.stderr.write(f"warning: {one_line(message)}\n")


def error(message: str) -> None:
    """One ``error:`` line on stderr; what a file or flag put in it is shown escaped."""
    sys.stderr.write(f"error: {one_line(message)}\n")


def _debug_env() -> bool:
    return os.environ.get("RNNSHAPE_DEBUG", "") not in ("", "0")


def describe(exc: BaseException) -> tuple[str, int]:
    """The ``error:`` message and exit code of an exception a command let through."""
    if isinstance(exc, SpecError):
        return exc.render(option_name), exc.exit_code
    if isinstance(exc, RnnShapeError):
        return exc.message, exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    return (
        f"unexpected {type(exc).__name__}: {exc} (set RNNSHAPE_DEBUG=1 for the traceback; "
        "please report it)",
        EXIT_PROBLEMS,
    )


def _fail(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` as one ``error:`` line and give its exit code; an unexpected exception
    (a bug) propagates instead when the traceback was asked for."""
    if debug and not isinstance(exc, (RnnShapeError, KeyboardInterrupt)):
        raise exc
    message, code = describe(exc)
    error(message)
    return code


@contextmanager
def guard(ctx: typer.Context) -> Iterator[None]:
    """Run a command's body; turn every failure into one line and its documented exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except (Exception, KeyboardInterrupt) as exc:
        raise typer.Exit(_fail(exc, session(ctx).debug or _debug_env())) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: Typer's parse errors become one ``error:`` line, exit 2."""
    from rnnshape.cli.app import app

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(
            args=args,
            prog_name="rnnshape",
            standalone_mode=False,
            obj=Session(short_lived=argv is None),
        )
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # Typer's usage errors (bad option, missing argument)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        error(message)
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            sys.stderr.write(f"Try '{one_line(ctx.command_path)} --help' for help.\n")
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except Exception as exc:  # raised while Typer converts a value, before any command runs
        return _fail(exc, _debug_env() or "--debug" in args)
    return int(result) if isinstance(result, int) else 0
