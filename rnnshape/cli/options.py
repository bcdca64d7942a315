"""Options shared by several commands, defined once."""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

from typing import Annotated

import typer

JSON_OPTION = typer.Option(
    "--json", help="print one JSON document and nothing else", rich_help_panel="Output"
)
JsonFlag = Annotated[bool, JSON_OPTION]
