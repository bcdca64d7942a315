"""The one Rich table style every document uses, how a table fits the width it gets, and the
console each document is laid out on.

A table is drawn as it is when it fits; narrower, its columns shrink but never below their
longest word (a number is never cut); narrower still, it is stacked, one field a line
(``fitted``). The console is a terminal's width, or for a pipe or a file, ``COLUMNS`` if set,
else as wide as the tables (prose wraps at that width, at least 80 columns), and never a
trailing space."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

T = TypeVar("T")
# Prose (notes, the explanation) still wraps at 80 columns when the tables are narrower.
PIPED_MIN_WIDTH = 80
# Without a content to measure, wide enough that no cell wraps (tables never expand).
PIPED_UNLIMITED = 10_000


def section_table(title: str, show_header: bool = True) -> Table:
    """The one table style of every section: a title on the left, a rule under the header."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        show_header=show_header,
    )


def strip_trailing(text: str) -> str:
    """Every line without its trailing spaces (Rich pads lines to the table's width)."""
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))


class Prose:
    """A sentence to read (a note, a list of names): on a pipe it wraps at the width the
    tables and headers set, instead of setting it. Text, never markup."""

    def __init__(self, text: str, style: str = "") -> None:
        self.text = text
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        yield Text(self.text, style=self.style)


def content_width(console: Console, content: Sequence[RenderableType]) -> int:
    """The width ``content`` takes when nothing wraps, prose and rules left out: they wrap
    at (or span) whatever width the rest sets."""
    from rich.measure import Measurement
    from rich.rule import Rule

    def laid_out(r: RenderableType) -> bool:
        return not isinstance(r, (str, Rule, Prose))

    options = console.options.update_width(PIPED_UNLIMITED)
    return max(
        (Measurement.get(console, options, r).maximum for r in content if laid_out(r)),
        default=0,
    )


def fitted(table: Table) -> Fitted:
    """``table``, laid out for the width it is given (see ``Fitted``)."""
    return Fitted(table)


class Fitted:
    """A table drawn as it is when it fits the width; else with its columns narrowed, none
    below its longest word (a no-wrap column, such as a number, whole); else stacked: each row
    a heading line (its first cell and the cells of header-less columns after it), then one
    ``label value`` line per field, where a value wraps between words."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.table)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        unlimited = options.update_width(PIPED_UNLIMITED)
        ranges = _column_ranges(console, unlimited, table)
        budget = options.max_width - _separators(table)
        if sum(high for _, high in ranges) <= budget:
            yield table
        elif sum(low for low, _ in ranges) <= budget:
            yield _narrowed(table, ranges, budget)
        else:
            yield from _stacked(console, table, options.max_width)


def _paddings(table: Table) -> list[int]:
    """The padding each column adds to its content, as Rich lays it out."""
    _, right, _, left = table.padding
    last = len(table.columns) - 1
    return [
        (0 if i == 0 and not table.pad_edge else left)
        + (0 if i == last and not table.pad_edge else right)
        for i in range(len(table.columns))
    ]


def _separators(table: Table) -> int:
    """The columns' separators and the table's edges."""
    if not table.box:
        return 0
    return len(table.columns) - 1 + (2 if table.show_edge else 0)


def _column_ranges(
    console: Console, options: ConsoleOptions, table: Table
) -> list[tuple[int, int]]:
    """Each column's narrowest width with every word whole (a no-wrap column: its widest
    cell) and its natural width, padding included."""
    from rich.measure import Measurement

    ranges = []
    for column, padding in zip(table.columns, _paddings(table), strict=True):
        low = high = 0
        cells = [column.header] if table.show_header else []
        for cell in [*cells, *column.cells]:
            measured = Measurement.get(console, options, cell)
            low, high = max(low, measured.minimum), max(high, measured.maximum)
        if column.no_wrap:
            low = high
        if column.width is not None:
            low = high = column.width
        ranges.append((low + padding, high + padding))
    return ranges


def _narrowed(table: Table, ranges: list[tuple[int, int]], budget: int) -> Table:
    """A copy of ``table`` whose columns share ``budget``: the widest ones shrink first, as
    Rich's own collapse does, but none below its narrowest width."""
    import copy
    import dataclasses

    def widths_at(cap: int) -> list[int]:
        return [max(low, min(high, cap)) for low, high in ranges]

    low_cap, high_cap = 0, max(high for _, high in ranges)
    while low_cap < high_cap:  # the largest cap whose widths fit the budget
        middle = (low_cap + high_cap + 1) // 2
        if sum(widths_at(middle)) <= budget:
            low_cap = middle
        else:
            high_cap = middle - 1
    widths = widths_at(low_cap)
    for i, (_, high) in enumerate(ranges):  # what is left: one more to the capped columns
        if sum(widths) < budget and widths[i] == low_cap < high:
            widths[i] += 1
    narrowed = copy.copy(table)
    narrowed.columns = [
        dataclasses.replace(column, width=width - padding)
        for column, width, padding in zip(table.columns, widths, _paddings(table), strict=True)
    ]
    return narrowed


def _stacked(console: Console, table: Table, width: int) -> Iterator[RenderableType]:
    """``table`` one field a line: for a width where even its longest words do not fit.
    Values are aligned after their labels while their longest word fits there; else each
    field is one line of text that wraps between words."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    def text(cell: Any, style: str = "") -> Text:
        if isinstance(cell, Text):
            return cell.copy()
        shown = console.render_str(cell, highlight=False) if isinstance(cell, str) else None
        return shown if shown is not None else Text(str(cell), style=style)

    # Each field: its label and its columns; a column without a header joins the one before.
    fields: list[tuple[Text, list[int]]] = []
    for i, column in enumerate(table.columns):
        label = text(column.header) if table.show_header else Text()
        if fields and not label.plain.strip():
            fields[-1][1].append(i)
        else:
            fields.append((label, [i]))
    cells = [list(column.cells) for column in table.columns]
    label_width = max((len(label.plain) for label, _ in fields[1:]), default=0)
    if table.title:
        yield text(table.title, "table.title")

    def joined(row: int, columns: list[int]) -> Text:
        parts = [text(cells[i][row]) for i in columns]
        for part, i in zip(parts, columns, strict=True):
            part.stylize(table.columns[i].style, 0)
        return Text("  ").join(p for p in parts if p.plain.strip())

    indent, gap = 2, 2
    values = [[joined(row, columns) for _, columns in fields] for row in range(table.row_count)]
    longest = max((len(w) for row in values for v in row[1:] for w in v.plain.split()), default=0)
    aligned = indent + label_width + gap + longest <= width
    for row, (heading, *shown) in enumerate(values):
        heading.stylize(table.rows[row].style or "", 0)
        yield heading
        grid = Table.grid(padding=(0, gap, 0, 0))
        grid.add_column(no_wrap=True, min_width=label_width, style=table.header_style or "")
        grid.add_column(overflow="fold")
        for (label, _), value in zip(fields[1:], shown, strict=True):
            if not value.plain.strip():
                continue
            if aligned:
                grid.add_row(label, value)
            else:
                label.stylize(table.header_style or "")
                yield Padding(Text.assemble(label, " " * gap, value), (0, 0, 0, indent))
        if grid.row_count:
            yield Padding(grid, (0, 0, 0, indent))
    if table.caption:
        yield text(table.caption, "table.caption")


@contextmanager
def output_console(out: TextIO, content: Sequence[RenderableType] = ()) -> Iterator[Console]:
    """A console laid out for ``out``.

    A terminal keeps Rich's fitting to its width. Anything else (a pipe, a file) gets
    ``COLUMNS`` if it is set, otherwise the width of ``content`` (at least 80 columns; with
    no content, no limit), so that a cell never wraps; its lines lose their trailing spaces.
    """
    from rich.console import Console

    console = Console(file=out, soft_wrap=False)
    if console.is_terminal:
        yield console
        return
    buffer = io.StringIO()
    piped = Console(file=buffer, soft_wrap=False, width=console.width)
    if not os.environ.get("COLUMNS", "").isdigit():  # as Rich reads it
        widest = content_width(piped, content) if content else PIPED_UNLIMITED
        piped.width = max(PIPED_MIN_WIDTH, widest)
    yield piped
    out.write(strip_trailing(buffer.getvalue()))


def captured(emit: Callable[[T, TextIO], None], value: T) -> str:
    """What ``emit`` writes for ``value`` on a pipe: the plain text a ``str()`` shows."""
    out = io.StringIO()
    emit(value, out)
    return out.getvalue().rstrip("\n")


def drawn_apart(console: Console, width: int, draw: Callable[[Console], None]) -> Text:
    """What ``draw`` prints, drawn on a console of its own at ``width`` with ``console``'s
    colours, as one renderable: for output printed line by line inside Rich's protocol."""
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    apart = Console(
        file=buffer,
        width=width,
        color_system="truecolor" if console.color_system else None,  # re-rendered as Text
        force_terminal=console.is_terminal,
        soft_wrap=False,
    )
    draw(apart)
    return Text.from_ansi(buffer.getvalue().rstrip("\n"))


def block_table(title: str, source: str, rows: Sequence[tuple[str, str, str, str]]) -> Fitted:
    """Where each gate block of a file's tensors lands in torch's parameters (``infer
    --explain`` for ONNX and Keras): a row per (direction, gate, ``source`` slice, torch
    slice)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(title, style="bold cyan"),
        box=box.SIMPLE_HEAD,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("direction", no_wrap=True, style="dim")
    table.add_column("gate", no_wrap=True)
    table.add_column(source, no_wrap=True)
    table.add_column("torch", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return fitted(table)
