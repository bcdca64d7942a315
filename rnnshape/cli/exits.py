"""The one exit path: every failure becomes one ``error:`` line on stderr and its exit code.

0 ok; 1 problems found, or an unexpected failure; 2 the request cannot be honoured as given;
130 interrupted; 141 stdout was closed (``rnnshape lstm 10 20 --json | head -c 10``): the
program ends quietly, as a Unix tool killed by SIGPIPE does (128 + 13, what a shell reports for
``yes | head -1``'s ``yes``). Commands run inside ``guard(ctx)``; ``main`` (the console
script) maps what Typer raises while parsing, before any command runs.
"""

# No ``from __future__ import annotations``: Typer reads the annotations at runtime.

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from rnnshape.errors import EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_USAGE, RnnShapeError, SpecError
from rnnshape.text import one_line

# The reader of stdout went away (``| head``, ``| true``, a failing ``jq``): 128 + SIGPIPE.
EXIT_CLOSED_PIPE = 141


class ClosedPipe(Exception):
    """stdout's reader went away. Raised in place of ``BrokenPipeError``, which Typer would
    turn into a bare exit 1 before ``main`` could see it."""


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
    except BrokenPipeError:  # see ``main``
        raise ClosedPipe from None
    except (Exception, KeyboardInterrupt) as exc:
        try:
            code = _fail(exc, session(ctx).debug or _debug_env())
        except BrokenPipeError:  # stderr's reader went away too
            raise ClosedPipe from None
        raise typer.Exit(code) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: Typer's parse errors become one ``error:`` line, exit 2;
    a closed stdout ends it quietly with exit 141."""
    short_lived = argv is None
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv), short_lived)
        sys.stdout.flush()  # a closed pipe shows here at the latest, not at the exit's flush
    except (BrokenPipeError, ClosedPipe):
        return closed_pipe(short_lived)
    return code


def closed_pipe(short_lived: bool) -> int:
    """Nothing more can reach the reader: say nothing and give exit 141.

    The console script points the closed stream at ``os.devnull``, so that Python's own flush
    at exit finds nowhere to fail ("Exception ignored ... BrokenPipeError"); a caller's
    in-process streams are left alone."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            if short_lived:
                _to_devnull(stream)
        except OSError:
            pass
    return EXIT_CLOSED_PIPE


def _to_devnull(stream: object) -> None:
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # not a real file: nothing flushes it at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _main(args: list[str], short_lived: bool) -> int:
    from rnnshape.cli.app import app

    try:
        result = app(
            args=args,
            prog_name="rnnshape",
            standalone_mode=False,
            obj=Session(short_lived=short_lived),
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
    except (BrokenPipeError, ClosedPipe):
        raise
    except Exception as exc:  # raised while Typer converts a value, before any command runs
        return _fail(exc, _debug_env() or "--debug" in args)
    return int(result) if isinstance(result, int) else 0
