"""Turn a ModelReport into Rich tables or JSON text: each call's report, then a summary.

A module called many times alike (an ``LSTMCell`` stepped through a decoder loop) shows its
report once, titled with how many calls share it; the summary lists every call shown
(elided past 1,000, with exact totals), then the calls that raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from rnnshape.render.display import document_display, emitter
from rnnshape.render.formats import OutputFormat, json_text
from rnnshape.render.report import sections as report_sections
from rnnshape.render.tables import Prose, fitted, section_table
from rnnshape.report import LISTING_EDGE, Report
from rnnshape.report_model import ModelCall, ModelReport, register_model_display
from rnnshape.text import omitted_text, plural, short_count

# Calls that raised, shown one a line up to this many (the JSON lists them all).
FAILED_SHOWN = 20

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.table import Table
    from rich.text import Text


def call_title(call: ModelCall) -> str:
    """``encoder.rnn · call 0``; the model itself (named ``""``) reads ``(model)``."""
    return f"{call.name or '(model)'} · call {call.call}"


def render_json(model: ModelReport) -> str:
    """The JSON document, one trailing newline, ASCII only."""
    return json_text(model.to_dict())


def sections(model: ModelReport) -> list[RenderableType]:
    """A header rule and the report's sections per call, then the summary of the whole pass:
    what ``render_tables`` prints, built first so that a pipe is laid out as wide as the
    tables (the rules span that width)."""
    from rich.rule import Rule
    from rich.text import Text

    class Heading(Rule):
        """A rule with its title in it where the title fits the width; else the title,
        wrapped (Rich's rule would cut it, numbers included), over a plain rule. A Rule to
        the layout: it spans whatever width the tables set."""

        def __init__(self, title: Text) -> None:
            super().__init__(title, align="left")
            self.heading = title

        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            if self.heading.cell_len + 6 <= options.max_width:
                yield from super().__rich_console__(console, options)
            else:
                yield self.heading
                yield Rule()

    content: list[RenderableType] = []
    for first, alike in _alike(model.calls):
        title = call_title(first)
        if alike > 1:
            title += f" (the same report: {alike:,} of the calls shown, see the summary)"
        # Text, not markup: module names come from the user's model.
        content += [Heading(Text(title, style="bold")), ""]
        content += [*report_sections(first.report), ""]
    content += [Heading(Text("Model summary", style="bold")), ""]
    content.append(fitted(_summary(model)))
    if not model.calls:
        content.append(Prose("no recurrent submodule returned from a call"))
    if model.failed:
        content.append(
            Prose(
                f"{plural(len(model.failed), 'call')} raised, caught by the model's own "
                "forward (not counted above):"
            )
        )
        content += [
            Prose(f"  {f.name or '(model)'} · call {f.call}: {f.error}")
            for f in model.failed[:FAILED_SHOWN]
        ]
        if len(model.failed) > FAILED_SHOWN:
            more = len(model.failed) - FAILED_SHOWN
            content.append(Prose(f"  … {more:,} more (to_dict()['failed_calls'] lists all)"))
    if model.uncalled:
        content.append(Prose("never called: " + ", ".join(model.uncalled)))
    return content


def _alike(calls: tuple[ModelCall, ...]) -> list[tuple[ModelCall, int]]:
    """The first call of each module with each distinct report, and how many shown calls
    of that module have that same report."""
    groups: dict[tuple[str, object], list[ModelCall]] = {}
    for call in calls:
        groups.setdefault((call.name, _key(call.report)), []).append(call)
    return [(members[0], len(members)) for members in groups.values()]


def _key(report: Report) -> object:
    """The report itself, equal for equal reports; where some part cannot be hashed, a key
    of its own (the call is then shown apart)."""
    try:
        hash(report)
    except TypeError:
        return id(report)
    return report


def _summary(model: ModelReport) -> Table:
    from rich.text import Text

    summary = section_table("Recurrent calls of one forward pass, in order")
    summary.add_column("module", overflow="fold", style="cyan")
    summary.add_column("call", justify="right", no_wrap=True)
    summary.add_column("constructor", overflow="fold")
    summary.add_column("parameters", justify="right", no_wrap=True)
    summary.add_column("MACs", justify="right", no_wrap=True)
    summary.add_column("FLOPs", justify="right", no_wrap=True)
    for i, call in enumerate(model.calls):
        if model.calls_omitted and i == LISTING_EDGE:
            summary.add_row(omitted_text(model.calls_omitted, "calls"), "", "", "", "", "")
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
        f"{model.num_calls:,} calls · {short_count(model.num_parameters)} parameters · "
        f"{short_count(c.macs)} MACs · {short_count(c.flops)} FLOPs (1 MAC = 2 FLOPs)"
    )
    summary.caption_justify = "left"
    return summary


def draw(model: ModelReport, content: list[RenderableType], console: Console) -> None:
    """Print ``content`` (the model's sections)."""
    for section in content:
        console.print(section)


def render_tables(model: ModelReport, console: Console) -> None:
    """Each call's tables, then the summary, on ``console``."""
    draw(model, sections(model), console)


# The tables on a stream, laid out for it: a terminal's width, or, piped, as wide as the
# tables (COLUMNS if set), no trailing spaces.
emit_tables = emitter(sections, draw)


def emit_json(model: ModelReport, out: TextIO) -> None:
    out.write(render_json(model))


RENDERERS: dict[OutputFormat, Callable[[ModelReport, TextIO], None]] = {
    OutputFormat.TABLE: emit_tables,
    OutputFormat.JSON: emit_json,
}


register_model_display(document_display(sections, draw))
