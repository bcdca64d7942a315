"""The output formats, one enum for every document."""

from __future__ import annotations

import json
from enum import Enum

# Past this size a JSON document is written compact: Python's indenting encoder is pure
# Python (about ten times slower than the compact one, in C), and a document this large is
# read by a program, not by eye (20,000 ONNX modules: 12 s indented).
COMPACT_JSON_CHARS = 4 << 20


class OutputFormat(str, Enum):
    """What a command prints on stdout: tables (or lines) for people, JSON for scripts, or
    the YAML specs that ``rnnshape check`` reads (``infer --spec``)."""

    TABLE = "table"
    JSON = "json"
    SPEC = "spec"


def json_text(document: object) -> str:
    """A JSON document with a trailing newline, ASCII only: indented by two spaces, or on
    one line past ``COMPACT_JSON_CHARS`` characters."""
    compact = json.dumps(document, separators=(",", ":"))
    if len(compact) > COMPACT_JSON_CHARS:
        return compact + "\n"
    return json.dumps(document, indent=2) + "\n"
