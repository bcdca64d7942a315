"""The render layer: documents to text. It formats and never computes.

One registry, ``RENDERERS``: each document kind names the module holding its renderers, one
per output format it supports (``RENDERERS`` in that module). Modules load on first use, so
``--help`` and a check run never import the report's tables, nor the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from importlib import import_module
from typing import Any, TextIO

from rnnshape.render.formats import OutputFormat

__all__ = ["DOCUMENTS", "Document", "OutputFormat", "render", "renderers"]


class Document(str, Enum):
    """What is printed: a layer's report, a check run, an infer result, a model's report."""

    REPORT = "report"
    CHECK = "check"
    INFER = "infer"
    MODEL = "model"


# The module of each document's renderers.
DOCUMENTS: dict[Document, str] = {
    Document.REPORT: "rnnshape.render.report",
    Document.CHECK: "rnnshape.render.check",
    Document.INFER: "rnnshape.render.infer",
    Document.MODEL: "rnnshape.render.model",
}


def renderers(document: Document) -> dict[OutputFormat, Callable[[Any, TextIO], None]]:
    """The formats ``document`` can be printed in, each with its renderer."""
    table: dict[OutputFormat, Callable[[Any, TextIO], None]]
    table = import_module(DOCUMENTS[document]).RENDERERS
    return table


def render(document: Document, value: Any, fmt: OutputFormat, out: TextIO) -> None:
    """Write ``value`` (a Report, CheckReport, InferResult or ModelReport) to ``out`` as ``fmt``."""
    renderers(document)[fmt](value, out)
