"""The ``rnnshape`` command: parse, call one function, hand the result to one renderer."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime,
# including ones built inside the command factory below.

import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from rnnshape._version import __version__
from rnnshape.errors import (
    EXIT_INTERRUPTED,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    RnnShapeError,
    SpecError,
    UsageError,
)
from rnnshape.render.report import OutputFormat
from rnnshape.report import Report
from rnnshape.spec import Mode, modes_with

app = typer.Typer(
    name="rnnshape",
    help="Show exactly what a PyTorch recurrent layer holds and returns, verified against torch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# How the command line spells each spec or input key in messages.
CLI_NAMES = {
    "input_size": "INPUT_SIZE",
    "hidden_size": "HIDDEN_SIZE",
    "num_layers": "NUM_LAYERS",
    "mode": "MODE",
    **{
        key: "--" + key.replace("_", "-")
        for key in (
            *("proj_size", "batch_first", "nonlinearity", "dropout", "bidirectional", "bias"),
            *("seq", "batch", "unbatched", "lengths"),
            *("device", "dtype", "seed", "bench", "backward", "dry_run", "svg"),
        )
    },
}


# True when main() runs as the console script: the process exits after one command.
_SHORT_LIVED = False

# Options shared by several commands, defined once.
JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json", help="print one JSON document and nothing else", rich_help_panel="Output"
    ),
]


def debug_enabled() -> bool:
    return os.environ.get("RNNSHAPE_DEBUG", "") not in ("", "0")


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def run_guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``, turning every expected failure into one line and its exit code."""
    try:
        return action()
    except SpecError as exc:
        fail(exc.render(CLI_NAMES), exc.exit_code)
    except RnnShapeError as exc:
        fail(exc.message, exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if debug_enabled():
            raise
        fail(
            f"unexpected {type(exc).__name__}: {exc} (set RNNSHAPE_DEBUG=1 for the traceback; "
            "please report it)",
            EXIT_PROBLEMS,
        )


def emit_table(report: Report, svg: Path | None) -> None:
    from rich.console import Console

    from rnnshape.render.report import render_tables

    console = Console(soft_wrap=False, record=svg is not None)
    render_tables(report, console)
    if svg is not None:
        save_svg(console, svg, report)


def emit_json(report: Report, svg: Path | None) -> None:
    from rnnshape.render.report import render_json

    sys.stdout.write(render_json(report))
    if svg is not None:  # the picture of the tables, which stdout did not show
        import io

        from rich.console import Console

        from rnnshape.render.report import render_tables

        console = Console(file=io.StringIO(), width=100, record=True, soft_wrap=False)
        render_tables(report, console)
        save_svg(console, svg, report)


def check_svg_path(svg: Path | None) -> None:
    """Refuse, before any work, an --svg path that cannot be written."""
    if svg is None:
        return
    if svg.is_dir():
        raise SpecError("svg", f"{str(svg)!r} is a directory; give a file name such as lstm.svg")
    parent = svg.parent if str(svg.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError("svg", f"{str(svg)!r}: the folder {str(parent)!r} does not exist")


def save_svg(console: Any, svg: Path, report: Report) -> None:
    try:
        console.save_svg(str(svg), title=f"rnnshape: {report.spec.constructor()}")
    except OSError as exc:
        raise SpecError("svg", f"{str(svg)!r} cannot be written: {exc.strerror or exc}") from exc


class BenchProgress:
    """A Rich progress bar on stderr for --bench, shown once a run has passed one second,
    only when both streams are terminals and JSON was not asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stdout.isatty() and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> "BenchProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("bench", total=total)
        self.bar.update(self.task, completed=done)


EMITTERS: dict[OutputFormat, Callable[[Report, Path | None], None]] = {
    OutputFormat.TABLE: emit_table,
    OutputFormat.JSON: emit_json,
}


def parse_lengths(text: str | None) -> list[int] | None:
    """``5,3,2`` → ``[5, 3, 2]``; the spec validates the values themselves."""
    if text is None:
        return None
    if not text.strip():
        return []  # the spec says why an empty list is refused
    values = []
    for part in (p.strip() for p in text.split(",")):
        try:
            values.append(int(part))
        except ValueError:
            what = "an empty item" if not part else f"{part!r} is not an integer"
            raise SpecError(
                "lengths",
                f"{text!r} must be comma-separated integers, e.g. 5,3,2 ({what})",
                kind="wrong_type",
            ) from None
    return values


def parse_int_argument(param: str, text: str | None) -> int | None:
    """Positional sizes arrive as text so that ``-1`` and ``--typo`` get clear messages."""
    if text is None:
        return None
    if text.startswith("--"):
        raise UsageError(f"no such option: {text}")
    try:
        return int(text)
    except ValueError:
        raise SpecError(param, f"{text!r} must be an integer", kind="wrong_type") from None


def _help(param: str, text: str, mode: Mode) -> dict[str, Any]:
    """Option settings: hidden from a mode's --help when that mode does not take it."""
    owners = modes_with(param)
    suffix = "" if len(owners) == len(Mode) else f" [{', '.join(m.value for m in owners)}]"
    return {"help": text + suffix, "hidden": mode not in owners}


def _make_command(mode: Mode) -> Callable[..., None]:
    is_cell = mode.is_cell
    layers_help = (
        "NUM_LAYERS: stacked layers (default 1)" if not is_cell else "cells have one layer"
    )

    def command(
        input_size: Annotated[
            str, typer.Argument(metavar="INPUT_SIZE", help="input_size (H_in)", show_default=False)
        ],
        hidden_size: Annotated[
            str, typer.Argument(metavar="HIDDEN_SIZE", help="hidden_size (H)", show_default=False)
        ],
        num_layers: Annotated[
            str | None,
            typer.Argument(
                metavar="NUM_LAYERS", help=layers_help, hidden=is_cell, show_default=False
            ),
        ] = None,
        nonlinearity: Annotated[
            str | None,
            typer.Option(
                **_help("nonlinearity", "tanh or relu (default tanh)", mode),
                rich_help_panel="Model",
            ),
        ] = None,
        bias: Annotated[
            bool | None,
            typer.Option(
                "--bias/--no-bias",
                **_help("bias", "bias vectors (default on)", mode),
                rich_help_panel="Model",
            ),
        ] = None,
        batch_first: Annotated[
            bool,
            typer.Option(
                "--batch-first",
                **_help("batch_first", "input/output as (N, L, ...)", mode),
                rich_help_panel="Model",
            ),
        ] = False,
        dropout: Annotated[
            float | None,
            typer.Option(
                **_help("dropout", "dropout between layers, 0 to 1", mode), rich_help_panel="Model"
            ),
        ] = None,
        bidirectional: Annotated[
            bool,
            typer.Option(
                "--bidirectional",
                **_help("bidirectional", "both directions (D=2)", mode),
                rich_help_panel="Model",
            ),
        ] = False,
        proj_size: Annotated[
            int | None,
            typer.Option(
                **_help("proj_size", "project h to this width (< hidden_size)", mode),
                rich_help_panel="Model",
            ),
        ] = None,
        seq: Annotated[
            int | None,
            typer.Option(
                metavar="L",
                **_help("seq", "sequence length L (default 5)", mode),
                rich_help_panel="Input",
            ),
        ] = None,
        batch: Annotated[
            int | None,
            typer.Option(
                metavar="N",
                **_help("batch", "batch size N (default 3)", mode),
                rich_help_panel="Input",
            ),
        ] = None,
        unbatched: Annotated[
            bool,
            typer.Option(
                "--unbatched",
                **_help("unbatched", "input without the batch dimension", mode),
                rich_help_panel="Input",
            ),
        ] = False,
        lengths: Annotated[
            str | None,
            typer.Option(
                metavar="5,3,2",
                **_help("lengths", "variable lengths, fed as a PackedSequence", mode),
                rich_help_panel="Input",
            ),
        ] = None,
        device: Annotated[
            str,
            typer.Option(help="cpu, cuda, cuda:N, mps or auto", rich_help_panel="Run"),
        ] = "cpu",
        dtype: Annotated[
            str,
            typer.Option(help="float32, float64, float16 or bfloat16", rich_help_panel="Run"),
        ] = "float32",
        seed: Annotated[int, typer.Option(help="random seed", rich_help_panel="Run")] = 0,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="formulas only: no torch, nothing allocated",
                rich_help_panel="Run",
            ),
        ] = False,
        bench: Annotated[
            int | None,
            typer.Option(metavar="N", help="time N passes after warm-up", rich_help_panel="Run"),
        ] = None,
        backward: Annotated[
            bool,
            typer.Option(
                "--backward", help="with --bench: time forward + backward", rich_help_panel="Run"
            ),
        ] = False,
        json: JsonFlag = False,
        explain: Annotated[
            bool,
            typer.Option(
                "--explain",
                help="add the equations, gate blocks and unrolled network",
                rich_help_panel="Output",
            ),
        ] = False,
        svg: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="also save the tables as an SVG picture",
                rich_help_panel="Output",
            ),
        ] = None,
    ) -> None:
        from rnnshape.pipeline import inspect

        def build() -> Report:
            sizes = [
                parse_int_argument(name, value)
                for name, value in (
                    ("input_size", input_size),
                    ("hidden_size", hidden_size),
                    ("num_layers", num_layers),
                )
            ]
            if is_cell and num_layers is not None:
                raise SpecError(
                    "num_layers",
                    f"{num_layers}: a cell has no num_layers (NUM_LAYERS is for rnn, lstm, gru)",
                    kind="unsupported",
                )
            input_width, hidden_width, layers = sizes
            assert input_width is not None and hidden_width is not None  # required arguments
            return inspect(
                mode,
                input_width,
                hidden_width,
                layers,
                bias=bias,
                batch_first=batch_first or None,
                dropout=dropout,
                bidirectional=bidirectional or None,
                proj_size=proj_size,
                nonlinearity=nonlinearity,
                seq=seq,
                batch=batch,
                unbatched=unbatched or None,
                lengths=parse_lengths(lengths),
                device=device,
                dtype=dtype,
                seed=seed,
                run=not dry_run,
                bench=bench,
                backward=backward,
                progress=progress.update,
                explain=explain,
            )

        run_guarded(lambda: check_svg_path(svg))
        with BenchProgress(enabled=not json and bench is not None) as progress:
            report = run_guarded(build)
        if _SHORT_LIVED:
            # The process ends after printing: keep the garbage collector from rescanning
            # torch's object graph while Rich is imported and lays out the tables, and at
            # exit (~75 ms a full pass).
            gc.freeze()
        for line in report.warnings:
            warn(line)
        emit = EMITTERS[OutputFormat.JSON if json else OutputFormat.TABLE]
        run_guarded(lambda: emit(report, svg))

    command.__doc__ = _DOCS[mode]
    return command


_DOCS = {
    Mode.RNN: "nn.RNN INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: an Elman RNN, tanh or relu.",
    Mode.LSTM: "nn.LSTM INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: gates i|f|g|o, optional projection.",
    Mode.GRU: "nn.GRU INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: gates r|z|n.",
    Mode.RNN_CELL: "nn.RNNCell INPUT_SIZE HIDDEN_SIZE: one time step of an Elman RNN.",
    Mode.LSTM_CELL: "nn.LSTMCell INPUT_SIZE HIDDEN_SIZE: one time step of an LSTM.",
    Mode.GRU_CELL: "nn.GRUCell INPUT_SIZE HIDDEN_SIZE: one time step of a GRU.",
}
_EPILOG = {
    Mode.RNN: "Example: rnnshape rnn 10 20 3 --nonlinearity relu --no-bias",
    Mode.LSTM: "Examples: rnnshape lstm 10 20 2 --seq 5 --batch 3 · "
    "rnnshape lstm 10 20 2 --proj-size 8 --bidirectional · rnnshape lstm 10 20 --lengths 5,3,2",
    Mode.GRU: "Example: rnnshape gru 10 20 --bidirectional --batch-first --json",
    Mode.RNN_CELL: "Example: rnnshape rnn-cell 10 20 --nonlinearity relu",
    Mode.LSTM_CELL: "Example: rnnshape lstm-cell 10 20 --batch 3",
    Mode.GRU_CELL: "Example: rnnshape gru-cell 10 20 --unbatched",
}

for _mode in Mode:
    app.command(
        _mode.value,
        epilog=_EPILOG[_mode],
        # A negative size reaches the spec check (a clear message) instead of option parsing.
        context_settings={"ignore_unknown_options": True},
    )(_make_command(_mode))


@app.command(
    "check",
    epilog="Examples: rnnshape check configs/model.yaml configs/*.json · "
    "rnnshape check experiment.yaml --key model.encoder · "
    "rnnshape check configs/*.yaml --json · rnnshape check configs/*.yaml --run --device cpu",
)
def check_command(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE...", help=".yaml/.yml, .json or .toml config files", show_default=False
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
    json: JsonFlag = False,
) -> None:
    """Check RNN/LSTM/GRU specs in config files: valid for torch, and as expected (exit 1 if not).

    Without --run, torch is not imported: counts and shapes come from the --dry-run formulas.
    """
    from rnnshape.check import RunOptions, check_files, split_key
    from rnnshape.render.check import RENDERERS, warning_lines
    from rnnshape.render.formats import OutputFormat  # render.report's is another enum (for now)

    if not files:
        fail("no files to check: give one or more .yaml, .yml, .json or .toml files", EXIT_USAGE)

    def check() -> Any:
        if key is not None:
            try:
                split_key(key)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        options = None
        if run:
            from rnnshape.pipeline import parse_dtype
            from rnnshape.torchrun.run import (
                check_device_name,
            )  # imports torch only when a run starts

            options = RunOptions(
                check_device_name(device or "cpu"), parse_dtype(dtype or "float32")
            )
        elif device is not None or dtype is not None:
            warn("--device and --dtype have no effect without --run")
        return check_files(files, key=key, run=options)

    outcome = run_guarded(check)
    for line in warning_lines(outcome):
        warn(line)
    RENDERERS[OutputFormat.JSON if json else OutputFormat.TABLE](outcome, sys.stdout)
    raise typer.Exit(0 if outcome.ok else EXIT_PROBLEMS)


@app.command(
    "infer",
    epilog="Examples: rnnshape infer model.pt · rnnshape infer model.safetensors --json · "
    "rnnshape infer scripted.pt · rnnshape infer model.pt --spec > model.yaml",
)
def infer_command(
    path: Annotated[
        str,
        typer.Argument(
            metavar="CHECKPOINT",
            help="a torch.save'd state dict (or a dict holding one), a TorchScript archive "
            "or a safetensors file; recognised by content, not by suffix",
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
    from rnnshape.infer import infer_checkpoint
    from rnnshape.render_infer import EMITTERS, InferFormat

    if json and spec:
        fail("--json and --spec cannot be combined: choose one output", EXIT_USAGE)
    result = run_guarded(lambda: infer_checkpoint(path, trust_torchscript=trust_torchscript))
    for problem in result.problems:
        warn(problem.describe())
    output = InferFormat.JSON if json else InferFormat.SPEC if spec else InferFormat.TABLE
    if result.modules or output is InferFormat.JSON:
        EMITTERS[output](result, sys.stdout)
    if not result.modules:
        if result.problems:
            count = len(result.problems)
            fail(
                f"no complete recurrent module found in {path}: "
                f"{count} problem{'s' if count != 1 else ''} (the warnings above)",
                EXIT_PROBLEMS,
            )
        fail(
            f"no recurrent layers found in {path} ({result.num_tensors} tensors, none named "
            "like torch's recurrent parameters)",
            EXIT_PROBLEMS,
        )
    raise typer.Exit(0)


SCHEMAS = {
    "report": "report-v1.schema.json",
    "check": "check-v1.schema.json",
    "check-report": "check-report-v1.schema.json",
    "infer": "infer-v1.schema.json",
}


@app.command("schema", epilog="Example: rnnshape schema check > rnnshape-spec.schema.json")
def schema_command(
    which: Annotated[
        str,
        typer.Argument(
            metavar="[report|check|check-report|infer]",
            help="report: `rnnshape <mode> --json`; check: the spec format of config files; "
            "check-report: `rnnshape check --json`; infer: `rnnshape infer --json`",
        ),
    ] = "report",
) -> None:
    """Print a shipped JSON Schema (schema_version 1); by default that of the --json report."""
    from importlib.resources import files

    if which not in SCHEMAS:
        fail(f"SCHEMA {which!r} must be one of {', '.join(SCHEMAS)}", EXIT_USAGE)
    sys.stdout.write(files("rnnshape").joinpath("schemas", SCHEMAS[which]).read_text())


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rnnshape {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
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
    if debug:
        os.environ["RNNSHAPE_DEBUG"] = "1"


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: Typer parse errors become one ``error:`` line, exit 2."""
    global _SHORT_LIVED
    args = list(sys.argv[1:] if argv is None else argv)
    _SHORT_LIVED = argv is None
    try:
        result = app(args=args, prog_name="rnnshape", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("error: interrupted\n")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # Typer's usage errors (bad option, missing argument)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        sys.stderr.write(f"error: {message}\n")
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            sys.stderr.write(f"Try '{ctx.command_path} --help' for help.\n")
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    return int(result) if isinstance(result, int) else 0
