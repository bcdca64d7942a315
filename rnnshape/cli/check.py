"""``rnnshape check FILE...``: validate the specs in config files."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import sys
from typing import Annotated

import typer

from rnnshape.cli.command import Command
from rnnshape.cli.exits import guard, warn
from rnnshape.cli.options import JsonFlag
from rnnshape.cli.parsing import number_text, parse_float
from rnnshape.errors import EXIT_PROBLEMS, UsageError

EPILOG = (
    "Examples: rnnshape check configs/model.yaml configs/*.json · rnnshape check configs/ · "
    "rnnshape check experiment.yaml --key model.encoder · "
    "rnnshape check configs/*.yaml --json · rnnshape check configs/*.yaml --run --device cpu"
)


def check_command(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE...",
            help=".yaml/.yml, .json or .toml config files, or folders (every such file under "
            "them, recursively, hidden ones skipped); - reads standard input",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            metavar="A.B.C",
            help="dotted path to the spec, list or models mapping inside a larger config "
            "(an integer part indexes a list)",
        ),
    ] = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run",
            help="also build each module in torch and run a forward pass",
            rich_help_panel="Run",
        ),
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(
            help="with --run: cpu, cuda, cuda:N, mps or auto (default cpu)", rich_help_panel="Run"
        ),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            help="with --run: float32, float64, float16 or bfloat16 (default float32)",
            rich_help_panel="Run",
        ),
    ] = None,
    max_seconds: Annotated[
        str | None,
        typer.Option(
            metavar="S",
            parser=number_text,
            help="with --run: the whole check's time limit; specs left when it is spent are "
            "reported as not run (default 60)",
            rich_help_panel="Run",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Check RNN/LSTM/GRU specs in config files: valid for torch, and as expected (exit 1 if not).

    Without --run, torch is not imported: counts and shapes come from the --dry-run formulas.
    """
    with guard(ctx):
        from rnnshape.check import (
            CheckReport,
            CheckStream,
            SpecResult,
            check_files,
            iter_checked,
            split_key,
        )
        from rnnshape.render import Document, OutputFormat, render
        from rnnshape.render.check import result_warning_lines, warning_lines

        if not files:
            raise UsageError(
                "no files to check: give one or more .yaml, .yml, .json or .toml files or folders"
            )
        if key is not None:
            try:
                split_key(key)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        options = None
        if run:
            from rnnshape.family import RunOptions
            from rnnshape.family.options import DEFAULT_MAX_SECONDS

            limit = parse_float("max_seconds", max_seconds)
            options = RunOptions(
                device=device or "cpu",
                dtype=dtype or "float32",  # type: ignore[arg-type]  # parsed by RunOptions
                max_seconds=DEFAULT_MAX_SECONDS if limit is None else limit,
            )
        elif device is not None or dtype is not None or max_seconds is not None:
            warn("--device, --dtype and --max-seconds have no effect without --run")
        fmt = OutputFormat.JSON if json else OutputFormat.TABLE
        if options is None:  # printed as checked: 100,000 files hold one result at a time

            def warn_each(result: SpecResult) -> None:
                for line in result_warning_lines(result):
                    warn(line)

            outcome: CheckReport | CheckStream = CheckStream(
                iter_checked(files, key), observer=warn_each
            )
        else:  # a run may end in a usage error: nothing is printed before all are run
            outcome = check_files(files, key=key, run=options)
            for line in warning_lines(outcome):
                warn(line)
        render(Document.CHECK, outcome, fmt, sys.stdout)
    raise typer.Exit(0 if outcome.ok else EXIT_PROBLEMS)


def register(app: typer.Typer) -> None:
    app.command("check", cls=Command, epilog=EPILOG)(check_command)
