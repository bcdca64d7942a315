"""How a document shows itself outside the command line, written once for every document:
``str()`` (the tables as a pipe gets them), ``rich.print``, Jupyter's HTML and text, and
``show()``. A document gives its sections (what a pipe is laid out to fit) and how to print
them; ``document_display`` builds the rest."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from rnnshape.render.tables import (
    PIPED_MIN_WIDTH,
    captured,
    content_width,
    drawn_apart,
    strip_trailing,
)
from rnnshape.render.tables import output_console as output_console
from rnnshape.report import Display

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

D = TypeVar("D")
Sections = Callable[[D], list["RenderableType"]]
Draw = Callable[[D, list["RenderableType"], "Console"], None]

# As Rich's own Jupyter display writes a renderable: a preformatted block that scrolls.
JUPYTER_HTML = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)


def terminal_columns() -> int | None:
    """The terminal's width when stdout is one (IPython at a prompt); ``None`` elsewhere
    (a notebook kernel, a pipe, a test)."""
    import shutil
    import sys

    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return None
    return shutil.get_terminal_size().columns


def emitter(sections: Sections[D], draw: Draw[D]) -> Callable[[D, TextIO], None]:
    """Print a document on a stream, laid out for it (see ``output_console``)."""

    def emit(document: D, out: TextIO) -> None:
        content = sections(document)
        with output_console(out, content) as console:
            draw(document, content, console)

    return emit


def document_display(sections: Sections[D], draw: Draw[D]) -> Display:
    """``str()``, Rich's protocol, Jupyter's bundle and ``show()`` for one kind of document."""
    emit = emitter(sections, draw)

    def text(document: D) -> str:
        return captured(emit, document)

    def rich(document: D, console: Console, options: ConsoleOptions) -> RenderResult:
        # Drawn apart at the caller's width and colours: a document prints line by line.
        yield drawn_apart(
            console, options.max_width, lambda apart: draw(document, sections(document), apart)
        )

    def mimebundle(document: D) -> dict[str, str]:
        """The tables as HTML (Rich's colours), as wide as a pipe gets them, and as text: in
        a terminal (IPython's prompt) laid out for its width, elsewhere as ``str()``."""
        from rich.console import Console

        content = sections(document)
        console = Console(file=io.StringIO(), record=True, force_jupyter=False, soft_wrap=False)
        console.width = max(PIPED_MIN_WIDTH, content_width(console, content))
        draw(document, content, console)
        html = console.export_html(inline_styles=True, code_format=JUPYTER_HTML)
        columns = terminal_columns()
        if columns is None:
            plain = text(document)
        else:
            buffer = io.StringIO()
            laid_out = Console(file=buffer, width=columns, color_system=None, soft_wrap=False)
            draw(document, sections(document), laid_out)
            plain = strip_trailing(buffer.getvalue()).rstrip("\n")
        return {"text/plain": plain, "text/html": html}

    def show(document: Any, out: TextIO) -> None:
        emit(document, out)

    return Display(text=text, rich=rich, mimebundle=mimebundle, show=show)
