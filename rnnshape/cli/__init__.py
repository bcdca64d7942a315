"""The command line: parse, call one function, hand the result to one renderer.

``app`` is the Typer application, ``main`` the console script (the one exit path).
"""

from rnnshape.cli.app import app
from rnnshape.cli.exits import main

__all__ = ["app", "main"]
