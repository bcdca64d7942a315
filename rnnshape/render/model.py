"""Turn a ModelReport into Rich tables or JSON text: each call's report, then a summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from rnnshape.render.formats import OutputFormat
from rnnshape.render.report import render_tables as render_report_tables
from rnnshape.render.tables import captured, drawn_apart, section_table
from rnnshape.report import Display
from rnnshape.report_model import ModelCall, ModelReport, register_model_display
from rnnshape.text import short_count

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


def call_title(call: ModelCall) -> str:
    """``encoder.rnn · call 0``; the model itself (named ``""``) reads ``(model)``."""
    return f"{call.name or '(model)'} · call {call.call}"


def render_json(model: ModelReport) -> str:
    """The JSON document, one trailing newline, ASCII only."""
    return json.dumps(model.to_dict(), indent=2) + "\n"


def render_tables(model: ModelReport, console: Console) -> None:
    """A header and the report's tables per call, then the summary of the whole pass."""
    from rich.rule import Rule
    from rich.text import Text

    for call in model.calls:
        # Text, not markup: module names come from the user's model.
        console.print(Rule(Text(call_title(call), style="bold"), align="left"))
        console.print()
        render_report_tables(call.report, console)
        console.print()
    console.print(Rule(Text("Model summary", style="bold"), align="left"))
    console.print()
    summary = section_table("Recurrent calls of one forward pass, in order")
    summary.add_column("module", overflow="fold", style="cyan")
    summary.add_column("call", justify="right", no_wrap=True)
    summary.add_column("constructor", overflow="fold")
    summary.add_column("parameters", justify="right", no_wrap=True)
    summary.add_column("MACs", justify="right", no_wrap=True)
    summary.add_column("FLOPs", justify="right", no_wrap=True)
    for call in model.calls:
        r = call.report
        summary.add_row(
            Text(call.name or "(model)"),
            str(call.call),
            Text(r.spec.constructor()),
            f"{r.num_parameters:,}",
            f"{r.cost.macs:,}",
            f"{r.cost.flops:,}",
        )
    c = model.cost
    summary.add_section()
    summary.add_row(
        "total",
        "",
        "parameters: each module once",
        f"{model.num_parameters:,}",
        f"{c.macs:,}",
        f"{c.flops:,}",
    )
    summary.caption = (
        f"{short_count(model.num_parameters)} parameters · {short_count(c.macs)} MACs · "
        f"{short_count(c.flops)} FLOPs (1 MAC = 2 FLOPs)"
    )
    summary.caption_justify = "left"
    console.print(summary)
    if not model.calls:
        console.print(Text("no recurrent submodule was called"))
    if model.uncalled:
        console.print(Text("never called: " + ", ".join(model.uncalled)))


def emit_tables(model: ModelReport, out: TextIO) -> None:
    """The tables on ``out``, laid out for it: a terminal's width, or, piped, no wrapping
    and no trailing spaces (``COLUMNS`` if set)."""
    from rnnshape.render.tables import output_console

    with output_console(out) as console:
        render_tables(model, console)


def emit_json(model: ModelReport, out: TextIO) -> None:
    out.write(render_json(model))


RENDERERS: dict[OutputFormat, Callable[[ModelReport, TextIO], None]] = {
    OutputFormat.TABLE: emit_tables,
    OutputFormat.JSON: emit_json,
}


def plain_text(model: ModelReport) -> str:
    """The tables as a pipe gets them (``str(model_report)``)."""
    return captured(emit_tables, model)


def rich_lines(model: ModelReport, console: Console, options: ConsoleOptions) -> RenderResult:
    """The tables drawn at the caller's width, as Rich renderables."""
    yield drawn_apart(console, options.max_width, lambda apart: render_tables(model, apart))


register_model_display(
    Display(
        text=plain_text,
        rich=rich_lines,
        mimebundle=lambda model: {"text/plain": plain_text(model)},
        show=emit_tables,
    )
)
