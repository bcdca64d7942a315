"""``rnnshape infer CHECKPOINT``: find the recurrent layers in a checkpoint."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import sys
from typing import Annotated

import typer

from rnnshape.cli.command import Command
from rnnshape.cli.exits import guard, warn
from rnnshape.cli.options import JsonFlag
from rnnshape.errors import RnnShapeError, UsageError
from rnnshape.text import plural

EPILOG = (
    "Examples: rnnshape infer model.pt · rnnshape infer model.safetensors --json · "
    "rnnshape infer scripted.pt · rnnshape infer model.pt --spec > model.yaml · "
    "rnnshape infer model.onnx --explain"
)


def infer_command(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="CHECKPOINT",
            help="a torch.save'd state dict (or a dict holding one), a TorchScript archive, "
            "a safetensors file, an ONNX model (needs rnnshape[onnx]) or a Keras .keras, "
            ".weights.h5 or .h5 file (needs rnnshape[keras]); recognised by "
            "content, not by suffix",
            show_default=False,
        ),
    ],
    json: JsonFlag = False,
    spec: Annotated[
        bool,
        typer.Option(
            "--spec",
            help="print YAML specs (a models: mapping) that rnnshape check accepts",
            rich_help_panel="Output",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="ONNX models and Keras files: show where each gate block of W, R and B (or "
            "kernel, recurrent kernel and bias) goes in torch's parameters (the JSON always "
            "has it, under explain)",
            rich_help_panel="Output",
        ),
    ] = False,
    trust_torchscript: Annotated[
        bool,
        typer.Option(
            "--trust-torchscript",
            help="if a TorchScript archive cannot be read without running its code, "
            "load it with torch.jit.load (only for archives you trust)",
        ),
    ] = False,
) -> None:
    """Find every recurrent layer in a checkpoint and recover its configuration.

    Reads names and shapes only: no weights are loaded and nothing in the file is run.
    Exit 0 when a complete module was found, 1 when none was (or the file cannot be read).
    """
    with guard(ctx):
        from rnnshape.checkpoint import CheckpointFormat, infer_checkpoint
        from rnnshape.render import Document, OutputFormat, render
        from rnnshape.render.infer import render_onnx_explain
        from rnnshape.render.keras import render_keras_explain

        if json and spec:
            raise UsageError("--json and --spec cannot be combined: choose one output")
        if explain and spec:
            raise UsageError("--explain and --spec cannot be combined: the spec is YAML")
        result = infer_checkpoint(path, trust_torchscript=trust_torchscript)
        mapped = (CheckpointFormat.ONNX, CheckpointFormat.KERAS)
        if explain and result.format not in mapped:
            raise UsageError(
                f"--explain maps an ONNX model's or Keras file's gate blocks to torch's "
                f"parameters; {path} is a {result.format.value} file, whose parameters already "
                "have torch's layout"
            )
        for problem in result.problems:
            warn(problem.describe())
        output = OutputFormat.JSON if json else OutputFormat.SPEC if spec else OutputFormat.TABLE
        if result.modules or output is OutputFormat.JSON:
            render(Document.INFER, result, output, sys.stdout)
        if explain and output is OutputFormat.TABLE:
            render_onnx_explain(result, sys.stdout)
            render_keras_explain(result, sys.stdout)
        if not result.modules and result.problems:
            raise RnnShapeError(
                f"no complete recurrent module found in {path}: "
                f"{plural(len(result.problems), 'problem')} (the warnings above)"
            )
        if not result.modules and result.format is CheckpointFormat.KERAS:
            raise RnnShapeError(f"no LSTM, GRU or SimpleRNN layer found in {path}")
        if not result.modules and result.format is CheckpointFormat.ONNX:
            raise RnnShapeError(f"no LSTM, GRU or RNN node found in {path}")
        if not result.modules:
            raise RnnShapeError(
                f"no recurrent layers found in {path} ({result.num_tensors} tensors, none "
                "named like torch's recurrent parameters)"
            )


def register(app: typer.Typer) -> None:
    app.command("infer", cls=Command, epilog=EPILOG)(infer_command)
