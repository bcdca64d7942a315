"""The six layer commands (``rnnshape lstm 10 20 2 ...``), built from the family table.

Each command's options come from ``OPTIONS``, one entry per flag; which modes a spec or
input flag belongs to comes from ``rnnshape.family``. A new constructor keyword is one entry
here plus its validator in ``spec``.
"""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import gc
import inspect
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from rnnshape.cli.command import Command, Group
from rnnshape.cli.exits import guard, session, warn
from rnnshape.cli.options import JsonFlag
from rnnshape.cli.parsing import (
    integer_text,
    number_text,
    parse_float,
    parse_int,
    parse_int_list,
    quoted,
)
from rnnshape.cli.progress import RunProgress
from rnnshape.errors import SpecError
from rnnshape.family import OPTIONAL_KWARGS, Mode, modes_with
from rnnshape.family.table import KEYWORD_FLAGS
from rnnshape.text import one_line

MODEL, INPUT, RUN, OUTPUT = "Model", "Input", "Run", "Output"


class Opt(NamedTuple):
    """One option of the layer commands."""

    key: str  # the spec, input or run key it sets
    type: Any
    default: Any
    help: str
    panel: str
    decls: tuple[str, ...] = ()  # ("--bias/--no-bias",); default: --key-with-dashes
    metavar: str | None = None
    per_mode: bool = False  # a spec or input key: hidden from the modes that lack it


def _flag(key: str) -> tuple[str, ...]:
    """A constructor keyword's option as the family table spells it."""
    return (KEYWORD_FLAGS[key].flag,)


OPTIONS: tuple[Opt, ...] = (
    Opt(
        "nonlinearity",
        str | None,
        None,
        "tanh or relu (default tanh)",
        MODEL,
        _flag("nonlinearity"),
        per_mode=True,
    ),
    Opt(
        "bias",
        bool | None,
        None,
        "bias vectors (default on)",
        MODEL,
        _flag("bias"),
        per_mode=True,
    ),  # noqa: E501
    Opt(
        "batch_first",
        bool,
        False,
        "input/output as (N, L, ...)",
        MODEL,
        _flag("batch_first"),
        per_mode=True,
    ),  # noqa: E501
    Opt(
        "dropout",
        float | None,
        None,
        "dropout between layers, 0 to 1",
        MODEL,
        _flag("dropout"),
        per_mode=True,
    ),
    Opt(
        "bidirectional",
        bool,
        False,
        "both directions (D=2)",
        MODEL,
        _flag("bidirectional"),
        per_mode=True,
    ),  # noqa: E501
    Opt(
        "proj_size",
        int | None,
        None,
        "project h to this width (< hidden_size)",
        MODEL,
        _flag("proj_size"),
        per_mode=True,
    ),  # noqa: E501
    Opt(
        "seq", int | None, None, "sequence length L (default 5)", INPUT, metavar="L", per_mode=True
    ),  # noqa: E501
    Opt("batch", int | None, None, "batch size N (default 3)", INPUT, metavar="N", per_mode=True),
    Opt(
        "unbatched",
        bool,
        False,
        "input without the batch dimension",
        INPUT,
        ("--unbatched",),
        per_mode=True,
    ),  # noqa: E501
    Opt(
        "lengths",
        str | None,
        None,
        "variable lengths, fed as a PackedSequence",
        INPUT,
        metavar="5,3,2",
        per_mode=True,
    ),  # noqa: E501
    Opt("device", str, "cpu", "cpu, cuda, cuda:N, mps or auto", RUN),
    Opt("dtype", str, "float32", "float32, float64, float16 or bfloat16", RUN),
    Opt("seed", int, 0, "random seed", RUN),
    Opt("dry_run", bool, False, "formulas only: no torch, nothing allocated", RUN, ("--dry-run",)),
    Opt("bench", int | None, None, "time N passes after warm-up", RUN, metavar="N"),
    Opt("backward", bool, False, "with --bench: time forward + backward", RUN, ("--backward",)),
    # 60.0 is spec.options.DEFAULT_MAX_SECONDS, written out so that --help need not import it.
    Opt(
        "max_seconds",
        float,
        60.0,
        "refuse a run estimated to take longer than S seconds",
        RUN,
        metavar="S",
    ),
    Opt(
        "explain",
        bool,
        False,
        "add the equations, gate blocks and unrolled network",
        OUTPUT,
        ("--explain",),
    ),  # noqa: E501
    # Text, made a Path here: Typer's own Path conversion stats the name before any check.
    Opt("svg", str | None, None, "also save the tables as an SVG picture", OUTPUT, metavar="FILE"),
    Opt("force", bool, False, "let --svg replace a read-only file", OUTPUT, ("--force",)),
)
# The constructor keywords the options set (num_layers is the third argument).
_LAYER_KEYS = tuple(k for k in OPTIONAL_KWARGS if k != "num_layers")
assert set(KEYWORD_FLAGS) == set(_LAYER_KEYS), "every constructor keyword has a flag"
# Integer options: given as text and parsed by ``parse_int`` (ASCII digits only).
_INTEGER_KEYS = frozenset(o.key for o in OPTIONS if o.type in (int, int | None))
# Number options: given as text and parsed by ``parse_float`` under the integers' rule.
_NUMBER_KEYS = frozenset(o.key for o in OPTIONS if o.type in (float, float | None))
# Flags without a --no- form: off means not given.
_OFF_MEANS_UNSET = frozenset(o.key for o in OPTIONS if o.default is False)


def _option(opt: Opt, mode: Mode) -> Any:
    """The option's annotation for ``mode``: hidden where the mode lacks it."""
    owners = modes_with(opt.key) if opt.per_mode else tuple(Mode)
    return _annotation(opt, hidden=mode not in owners)


@cache  # one annotation per option and visibility, shared by the six commands
def _annotation(opt: Opt, hidden: bool) -> Any:
    settings: dict[str, Any] = {"rich_help_panel": opt.panel, "hidden": hidden}
    text = opt.help
    if opt.per_mode:
        owners = modes_with(opt.key)
        if len(owners) != len(Mode):
            text += f" [{', '.join(m.value for m in owners)}]"
    if opt.metavar is not None:
        settings["metavar"] = opt.metavar
    kind = opt.type
    if opt.key in _INTEGER_KEYS:
        kind, settings["parser"] = str | None, integer_text
    elif opt.key in _NUMBER_KEYS:
        kind, settings["parser"] = str | None, number_text
    return Annotated[kind, typer.Option(*opt.decls, help=text, **settings)]


def _signature(mode: Mode) -> inspect.Signature:
    """``(ctx, INPUT_SIZE, HIDDEN_SIZE, [NUM_LAYERS], --options...)`` as Typer reads it."""
    cell = mode.is_cell
    layers_help = "NUM_LAYERS: stacked layers (default 1)" if not cell else "cells have one layer"
    keyword = inspect.Parameter.KEYWORD_ONLY
    arguments: list[tuple[str, str, str, Any, bool]] = [
        ("input_size", "INPUT_SIZE", "input_size (H_in)", str, False),
        ("hidden_size", "HIDDEN_SIZE", "hidden_size (H)", str, False),
        ("num_layers", "NUM_LAYERS", layers_help, str | None, cell),
    ]
    params = [inspect.Parameter("ctx", keyword, annotation=typer.Context)]
    for name, metavar, text, kind, hidden in arguments:
        default = None if name == "num_layers" else inspect.Parameter.empty
        annotation = _argument(kind, metavar, text, hidden)
        params.append(inspect.Parameter(name, keyword, annotation=annotation, default=default))
    for opt in OPTIONS:
        params.append(
            inspect.Parameter(opt.key, keyword, annotation=_option(opt, mode), default=opt.default)
        )
        if opt.key == "backward":  # --json sits between the run and the output options
            params.append(inspect.Parameter("json", keyword, annotation=JsonFlag, default=False))
    return inspect.Signature(params)


@cache
def _argument(kind: Any, metavar: str, text: str, hidden: bool) -> Any:
    # Sizes arrive as text (shown as <int>) so that -1 and x get the spec's clear messages.
    info = typer.Argument(
        metavar=metavar, help=text, show_default=False, hidden=hidden, parser=integer_text
    )
    return Annotated[kind, info]


def check_svg_path(svg: Path | None, force: bool = False) -> None:
    """Refuse, before any work, an --svg path that is not an .svg file that can be written;
    a file whose owner may not write it (mode bits, as ``ls -l`` shows them: root would
    ignore them) is replaced only with ``--force``."""
    if svg is None:
        return
    import os
    import stat

    shown = one_line(quoted(str(svg)))
    try:
        os.fsencode(svg)
    except UnicodeEncodeError:
        raise SpecError("svg", f"{shown} cannot be a file name here") from None
    target = Path(os.path.realpath(svg))  # a symlink's file is what gets replaced
    if svg.suffix.lower() != ".svg" or target.suffix.lower() != ".svg":
        named = f" (a link to {str(target)!r})" if target.name != svg.name else ""
        raise SpecError(
            "svg", f"{shown}{named} does not end in .svg; give a file name such as lstm.svg"
        )
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a name too long, a loop of links, a folder not searchable
        raise SpecError("svg", f"{shown} cannot be a file name here: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise SpecError("svg", f"{shown} is a directory; give a file name such as lstm.svg")
    if mode is not None and not stat.S_ISREG(mode):
        raise SpecError("svg", f"{shown} exists and is not a regular file")
    if mode is not None and not mode & stat.S_IWUSR and not force:
        raise SpecError(
            "svg",
            f"{shown} is read-only (mode {stat.S_IMODE(mode):04o}); give --force to replace it",
        )
    folder = one_line(quoted(str(target.parent)))
    if not target.parent.is_dir():
        raise SpecError("svg", f"{shown}: the folder {folder} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise SpecError("svg", f"{shown}: the folder {folder} is not writable")


def run_layer_command(mode: Mode, ctx: typer.Context, values: dict[str, Any]) -> None:
    """Parse, build the report with one call, hand it to one renderer."""
    from rnnshape.family import RunOptions, make_input, make_spec
    from rnnshape.pipeline import run_report
    from rnnshape.render import Document, OutputFormat, render

    json_out = bool(values["json"])
    svg = Path(values["svg"]) if values["svg"] is not None else None
    with guard(ctx):
        check_svg_path(svg, values["force"])
        sizes = [
            parse_int(name, values[name]) for name in ("input_size", "hidden_size", "num_layers")
        ]
        integers = {key: parse_int(key, values[key]) for key in _INTEGER_KEYS}
        numbers = {key: parse_float(key, values[key]) for key in _NUMBER_KEYS}
        if mode.is_cell and values["num_layers"] is not None:
            raise SpecError(
                "num_layers",
                f"{values['num_layers']}: a cell has no num_layers "
                "(NUM_LAYERS is for rnn, lstm, gru)",
                kind="unsupported",
            )
        input_size, hidden_size, num_layers = sizes
        assert input_size is not None and hidden_size is not None  # required arguments
        # An unset --flag is "not given", so that the spec can say which modes take it.
        given = values | integers | numbers
        layer_options = {
            key: None if key in _OFF_MEANS_UNSET and not given[key] else given[key]
            for key in _LAYER_KEYS
        }
        spec = make_spec(mode, input_size, hidden_size, num_layers, **layer_options)
        inp = make_input(
            spec,
            seq=integers["seq"],
            batch=integers["batch"],
            unbatched=values["unbatched"] or None,  # see _OFF_MEANS_UNSET
            lengths=parse_int_list("lengths", values["lengths"], "5,3,2"),
        )
        options = RunOptions(
            device=values["device"],
            dtype=values["dtype"],
            seed=integers["seed"] or 0,  # --seed has a default
            bench=integers["bench"],
            backward=values["backward"],
            max_seconds=numbers["max_seconds"],
            dry_run=values["dry_run"],
        )
        short_lived = session(ctx).short_lived
        if short_lived and not options.dry_run:
            # Importing torch and building the module allocate hundreds of thousands of
            # objects, none of them garbage: the collector would rescan them again and
            # again (~50 ms). One verified pass allocates a bounded amount; a bench's many
            # passes run with the collector back on (``started``).
            gc.disable()

        def started(estimate: float) -> None:
            if options.bench is not None:
                gc.enable()
            progress.started(estimate)

        try:
            with RunProgress(json_out) as progress:
                report = run_report(
                    spec,
                    inp,
                    options,
                    explain=values["explain"],
                    progress=progress.update,
                    started=started,
                )
        finally:
            gc.enable()
        if short_lived:
            # The process ends after printing: keep the garbage collector from rescanning
            # torch's object graph while Rich is imported and lays out the tables, and at
            # exit (~75 ms a full pass).
            gc.freeze()
        for line in report.warnings:
            warn(line)
        if report.bench is not None and report.bench.unstable:
            warn(unstable_bench_message(report.bench))
        if report.bench is not None and report.bench.oversubscribed:
            warn(oversubscribed_message(report.bench))
        if svg is not None:
            from rnnshape.render.report import save_svg

            # Before stdout: a picture that cannot be written is an error with nothing printed.
            # The tables' picture: as the terminal shows them, or at 100 columns after JSON.
            save_svg(report, svg, width=100 if json_out else None)
        fmt = OutputFormat.JSON if json_out else OutputFormat.TABLE
        render(Document.REPORT, report, fmt, sys.stdout)


def unstable_bench_message(bench: Any) -> str:
    """The busy-machine warning for a bench whose spread is over 10% of its median."""
    share = 100 * bench.iqr_ms / bench.median_ms if bench.median_ms > 0 else float("inf")
    return (
        f"the timings are unstable: the interquartile range {bench.iqr_ms:.3f} ms is "
        f"{share:.0f}% of the median {bench.median_ms:.3f} ms (max {bench.max_ms:.3f} ms, "
        f"min {bench.min_ms:.3f} ms); the machine looks busy: close other programs or time "
        "more passes with a larger --bench"
    )


def oversubscribed_message(bench: Any) -> str:
    """The warning for passes timed while more threads wanted a core than there are cores."""
    hint = (
        "; with OMP_NUM_THREADS=1 torch's passes stop waiting for each other's threads"
        if bench.threads is not None and bench.threads > 1
        else ""
    )
    return (
        "the passes were timed while more threads were runnable than this machine has cores: "
        f"the times include waiting for a core (torch used {bench.threads} thread"
        f"{'s' if bench.threads != 1 else ''}); close other programs for a clean reading"
        + hint
    )


def make_command(mode: Mode) -> Callable[..., None]:
    def command(ctx: typer.Context, **values: Any) -> None:
        run_layer_command(mode, ctx, values)

    signature = _signature(mode)
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {name: p.annotation for name, p in signature.parameters.items()} | {
        "return": None
    }
    command.__doc__ = mode.family.summary
    return command


def register(app: typer.Typer) -> None:
    for mode in Mode:
        # The torch class names resolve to the mode: LSTM, LSTMCell, lstm_cell, lstmcell.
        Group.aliases[mode.torch_class.lower()] = mode.value
        app.command(
            mode.value,
            cls=Command,
            epilog=mode.family.example,
            # A negative size reaches the spec check (a clear message) instead of option parsing.
            context_settings={"ignore_unknown_options": True},
        )(make_command(mode))
