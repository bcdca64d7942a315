"""``rnnshape schema [NAME]``: print a shipped JSON Schema."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import sys
from typing import Annotated

import typer

from rnnshape.cli.command import Command
from rnnshape.cli.exits import guard
from rnnshape.errors import UsageError

SCHEMAS = {
    "report": "report-v1.schema.json",
    "check": "check-v1.schema.json",
    "check-report": "check-report-v1.schema.json",
    "infer": "infer-v1.schema.json",
    "model": "model-v1.schema.json",
}


def schema_command(
    ctx: typer.Context,
    which: Annotated[
        str,
        typer.Argument(
            metavar="[report|check|check-report|infer|model]",
            help="report: `rnnshape <mode> --json`; check: the spec format of config files; "
            "check-report: `rnnshape check --json`; infer: `rnnshape infer --json`; "
            "model: `rnnshape.inspect_model(...).to_dict()`",
        ),
    ] = "report",
) -> None:
    """Print a shipped JSON Schema (schema_version 1); by default that of the --json report."""
    from importlib.resources import files

    with guard(ctx):
        if which not in SCHEMAS:
            raise UsageError(f"SCHEMA {which!r} must be one of {', '.join(SCHEMAS)}")
        sys.stdout.write(files("rnnshape").joinpath("schemas", SCHEMAS[which]).read_text())


def register(app: typer.Typer) -> None:
    app.command(
        "schema", cls=Command, epilog="Example: rnnshape schema check > rnnshape-spec.schema.json"
    )(schema_command)
