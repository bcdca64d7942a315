"""Parse YAML, JSON and TOML text into plain values; YAML's remember their line numbers.

A file that does not parse raises :class:`ConfigParseError` with the line and column where
the parser tells. Nothing here knows what a spec is.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

# No stubs in the dev extras; unused-ignore keeps it quiet where types-PyYAML is installed.
import yaml  # type: ignore[import-untyped,unused-ignore]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers where it starts and the line of each of its keys."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class LineList(list[Any]):
    """A YAML sequence that remembers where it starts and the line of each item."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def key_line(mapping: object, key: object) -> int | None:
    """The line of ``key`` in a YAML mapping, else where the mapping starts, else None."""
    if isinstance(mapping, LineDict):
        return mapping.key_lines.get(key, mapping.line)
    return None


def start_line(value: object) -> int | None:
    return value.line if isinstance(value, (LineDict, LineList)) else None


def item_line(items: object, index: int) -> int | None:
    if isinstance(items, LineList) and index < len(items.item_lines):
        return items.item_lines[index]
    return None


class ConfigParseError(Exception):
    """The file is not valid YAML/JSON/TOML; line and column are 1-based where known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


# The C parser where PyYAML was built with libyaml: parsing 50 files stays well under 0.1 s.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML loading into LineDict/LineList; a key given twice is a parse error."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict(node.start_mark.line + 1)
    yield data  # yielded first so that anchors referring back to this mapping work
    merge_line = data.line
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _MERGE_TAG:
            merge_line = line
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = data.key_lines.get(key)
        except TypeError:  # an unhashable key: construct_mapping explains it below
            continue
        if first is not None:
            raise ConfigParseError(
                f"duplicate key {key!r} (first on line {first})",
                line,
                key_node.start_mark.column + 1,
            )
        data.key_lines[key] = line
    data.update(loader.construct_mapping(node, deep=True))
    for key in data:  # keys merged in with ``<<``: the line of the merge
        data.key_lines.setdefault(key, merge_line or 0)
    yield data


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList(node.start_mark.line + 1)
    yield data
    data.extend(loader.construct_sequence(node, deep=True))
    data.item_lines = [item.start_mark.line + 1 for item in node.value]


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _parse_yaml(text: str) -> list[object]:
    try:
        return list(yaml.load_all(text, Loader=_LineLoader))  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = ", ".join(p for p in (exc.problem, exc.context) if p) or "invalid YAML"
        if mark is None:
            raise ConfigParseError(message) from None
        raise ConfigParseError(message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise ConfigParseError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_json(text: str) -> list[object]:
    try:
        return [json.loads(text, object_pairs_hook=_no_duplicates)]
    except json.JSONDecodeError as exc:
        raise ConfigParseError(exc.msg, exc.lineno, exc.colno) from None
    except ValueError as exc:  # a duplicate key: json gives no position for it
        raise ConfigParseError(str(exc)) from None


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _parse_toml(text: str) -> list[object]:
    try:
        return [tomllib.loads(text)]
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        found = _TOML_AT.search(message)
        if found:
            message = message[: found.start()]
            line, column = int(found.group(1)), int(found.group(2))
        raise ConfigParseError(getattr(exc, "msg", None) or message, line, column) from None


PARSERS: dict[str, Callable[[str], list[object]]] = {
    "yaml": _parse_yaml,
    "json": _parse_json,
    "toml": _parse_toml,
}
