"""The Typer application: the root options and every command group, registered once."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import sys
from typing import Annotated

import typer

from rnnshape._version import __version__
from rnnshape.cli import check, convert, infer, layer, schema
from rnnshape.cli.command import HELP_OPTIONS, Group
from rnnshape.cli.exits import Session

app = typer.Typer(
    name="rnnshape",
    help="Show exactly what a PyTorch recurrent layer holds and returns, verified against torch.",
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},  # the commands inherit them
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rnnshape {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="show the traceback of an unexpected failure (also RNNSHAPE_DEBUG=1)"
        ),
    ] = False,
) -> None:
    """Show exactly what a PyTorch recurrent layer holds and returns, verified against torch.

    Exit codes: 0 ok, 1 problems found (or an unexpected failure), 2 usage error.
    """
    if not isinstance(ctx.obj, Session):
        ctx.obj = Session()
    ctx.obj.debug = debug


for group in (layer, check, infer, convert, schema):
    group.register(app)
