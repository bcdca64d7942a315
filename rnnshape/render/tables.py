"""The one Rich table style every document uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table


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
