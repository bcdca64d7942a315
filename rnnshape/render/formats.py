"""The output formats, one enum for every document."""

from __future__ import annotations

from enum import Enum


class OutputFormat(str, Enum):
    """What a command prints on stdout: tables (or lines) for people, JSON for scripts, or
    the YAML specs that ``rnnshape check`` reads (``infer --spec``)."""

    TABLE = "table"
    JSON = "json"
    SPEC = "spec"
