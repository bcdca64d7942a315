"""The one Rich table style every document uses, and the console each document is laid out
on: a terminal's width, or for a pipe or a file, ``COLUMNS`` if set, else as wide as the
content (a cell never wraps), and never a trailing space."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
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


def content_width(console: Console, content: Sequence[RenderableType]) -> int:
    """The width ``content`` takes when nothing wraps."""
    from rich.measure import Measurement

    options = console.options.update_width(PIPED_UNLIMITED)
    return max((Measurement.get(console, options, r).maximum for r in content), default=0)


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
