"""``rnnshape convert SRC OUT``: write torch weights for every equivalent recurrent module."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import sys
from typing import Annotated

import typer

from rnnshape.cli.command import Command
from rnnshape.cli.exits import guard, warn
from rnnshape.errors import RnnShapeError
from rnnshape.text import plural

EPILOG = (
    "Examples: rnnshape convert model.keras model.safetensors · "
    "rnnshape convert weights.h5 model.pt --spec · rnnshape convert model.onnx model.pt --force"
)


def convert_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="SRC",
            help="anything rnnshape infer reads: a Keras .keras, .weights.h5 or legacy .h5 "
            "file (rnnshape[keras]), an ONNX model (rnnshape[onnx]), a torch checkpoint or "
            "a safetensors file",
            show_default=False,
        ),
    ],
    out: Annotated[
        str,
        typer.Argument(
            metavar="OUT",
            help="the torch weights to write: .safetensors or .pt (one state dict, keyed "
            "<module>.weight_ih_l0 and so on)",
            show_default=False,
        ),
    ],
    spec: Annotated[
        bool,
        typer.Option(
            "--spec",
            help="print YAML specs of the modules written (a models: mapping) that rnnshape "
            "check accepts, instead of the constructor lines",
            rich_help_panel="Output",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="replace OUT if it exists")] = False,
) -> None:
    """Write torch weights for every recurrent module of SRC that torch computes exactly.

    Keras kernels are transposed and their gate blocks reordered, ONNX's W, R and B are
    split, as rnnshape infer --explain shows. A module torch cannot compute is refused and
    named, the others are written. Exit 0 when all were written, 1 when any was refused.
    """
    with guard(ctx):
        from rnnshape.convert import convert
        from rnnshape.render.convert import render_constructors, render_convert_spec

        result = convert(source, out, force=force)
        for problem in result.refused:
            warn(f"refused: {problem.describe()}")
        if spec:
            render_convert_spec(result, sys.stdout)
        else:
            render_constructors(result, sys.stdout)
        if not result.converted:
            raise RnnShapeError(
                f"nothing written: no recurrent module of {source} converts to torch"
                + (f" ({plural(len(result.refused), 'refusal')} above)" if result.refused else "")
            )
        if result.refused:
            raise RnnShapeError(
                f"wrote {plural(len(result.converted), 'module')} to {out}; "
                f"{plural(len(result.refused), 'problem')} refused (the warnings above)"
            )


def register(app: typer.Typer) -> None:
    app.command("convert", cls=Command, epilog=EPILOG)(convert_command)
