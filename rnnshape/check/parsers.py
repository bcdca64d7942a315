"""Parse YAML, JSON and TOML text into plain values; YAML's remember their line numbers.

A file that does not parse, or goes beyond a reading limit (nesting deeper than
:data:`MAX_DEPTH`, aliases that expand a YAML document by more than :data:`MAX_ALIAS_NODES`
nodes, an integer longer than Python reads), raises :class:`ConfigParseError` with the line and
column where the parser tells. A YAML number that YAML 1.1 and 1.2 read differently (``020``,
``1:30``) is kept as an :class:`AmbiguousNumber`, for the rules to refuse where a spec uses it.
Nothing here knows what a spec is.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

# No stubs in the dev extras; unused-ignore keeps it quiet where types-PyYAML is installed.
import yaml  # type: ignore[import-untyped,unused-ignore]

from .problems import value_text
from .yaml_values import (
    DECIMAL_FLOAT,
    DECIMAL_INT,
    LONGEST_READ,
    OldBoolean,
    file_int,
    shorten_number,
    yaml11_reading,
    yaml12_reading,
)
from .yaml_values import (
    AmbiguousNumber as AmbiguousNumber,  # rules reads it from here: what parsing keeps
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}

# Lists and mappings inside one another, at most: real configs nest a few levels; the YAML
# composer and the parsers recurse once per level (libyaml's composer overflows the C stack,
# a segmentation fault, near 100,000), and every later walk stays far from Python's limit.
MAX_DEPTH = 100
# Nodes that aliases may add to a YAML document. A normal anchor repeats a value a few times;
# nine nested lists of ten aliases (a "billion laughs") would add 10**9.
MAX_ALIAS_NODES = 100_000
# Python's own limit on reading a decimal integer (sys.get_int_max_str_digits()).
MAX_INT_DIGITS = 4300


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers where it starts and the line of each of its keys."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.old_booleans: dict[Any, OldBoolean] = {}  # by key, where the value is one


class LineList(list[Any]):
    """A YAML sequence that remembers where it starts and the line of each item."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []
        self.old_booleans: dict[int, OldBoolean] = {}  # by index, where the item is one


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


# YAML 1.2 (core schema) numbers that YAML 1.1 reads as strings: 0o17, 09, -.5, 1e5.
_YAML12_ONLY = re.compile(
    r"^(?:0o[0-7]+|[-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$"
)
_YAML12_TAG = "tag:rnnshape:yaml-1.2-number"


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

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A value no constructor can build (a 13th month, ``!!int abc``) is a parse error at
        # its node, not an unexpected ValueError.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, _exception_text(exc), node.start_mark
            ) from None


def _exception_text(exc: BaseException) -> str:
    text = str(exc).split(";")[0]
    return text if len(text) <= 200 else text[:199] + "…"


_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
# The booleans YAML 1.2's core schema reads; PyYAML (YAML 1.1) also reads yes/no/on/off.
_YAML12_BOOLEANS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})


def _old_boolean(node: Any) -> OldBoolean | None:
    """An OldBoolean when ``node`` is a plain scalar only YAML 1.1 reads as a boolean."""
    if (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _BOOL_TAG
        and not node.style  # plain (None in PyYAML, "" in libyaml), not quoted
        and node.value not in _YAML12_BOOLEANS
    ):
        return OldBoolean(node.value, node.start_mark.line + 1, node.start_mark.column + 1)
    return None


def _construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict(node.start_mark.line + 1)
    yield data  # yielded first so that anchors referring back to this mapping work
    merge_line = data.line
    for key_node, value_node in node.value:
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
                f"duplicate key {value_text(key)} (first on line {first})",
                line,
                key_node.start_mark.column + 1,
            )
        data.key_lines[key] = line
        old = _old_boolean(value_node)
        if old is not None:
            data.old_booleans[key] = old
    data.update(loader.construct_mapping(node, deep=True))
    for key in data:  # keys merged in with ``<<``: the line of the merge
        data.key_lines.setdefault(key, merge_line or 0)
    yield data


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList(node.start_mark.line + 1)
    yield data
    data.extend(loader.construct_sequence(node, deep=True))
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    for index, item in enumerate(node.value):
        old = _old_boolean(item)
        if old is not None:
            data.old_booleans[index] = old


def _ambiguous(node: yaml.ScalarNode) -> AmbiguousNumber:
    text = node.value
    if len(text) <= LONGEST_READ and yaml11_reading(text) is yaml12_reading(text) is None:
        # Only an explicit tag gets here: ``!!int abc``.
        raise yaml.constructor.ConstructorError(
            None, None, f"{shorten_number(text)!r} is not a number", node.start_mark
        )
    number = AmbiguousNumber(text)
    number.line, number.column = node.start_mark.line + 1, node.start_mark.column + 1
    return number


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int | AmbiguousNumber:
    """Plain decimal integers as ints (up to Python's length limit); other forms kept as text."""
    text = node.value
    if not DECIMAL_INT.fullmatch(text):
        return _ambiguous(node)
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise ConfigParseError(
            f"an integer of {len(text.lstrip('+-'))} digits: at most {MAX_INT_DIGITS} are read",
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )
    return file_int(int(text))


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float | AmbiguousNumber:
    """Plain decimal floats (``0.5``, ``.5``, ``1.0e+5``, ``.inf``); other forms kept as text."""
    if not DECIMAL_FLOAT.fullmatch(node.value):
        return _ambiguous(node)
    return float(loader.construct_yaml_float(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_LineLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
# Numbers only YAML 1.2 reads as numbers (PyYAML, a YAML 1.1 reader, gives strings): kept as
# AmbiguousNumber too. Resolvers are tried in order, so this one only sees what no YAML 1.1
# resolver took.
_LineLoader.add_implicit_resolver(_YAML12_TAG, _YAML12_ONLY, list("-+0123456789."))
_LineLoader.add_constructor(_YAML12_TAG, lambda loader, node: _ambiguous(node))


def _at(event: Any) -> tuple[int | None, int | None]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _scan_yaml(text: str) -> None:
    """Refuse, before anything is built, nesting deeper than MAX_DEPTH and aliases that add
    more than MAX_ALIAS_NODES nodes: libyaml's event parser keeps its own stack."""
    sizes: dict[str, int] = {}  # the nodes under each anchor, aliases expanded
    stack: list[list[Any]] = []  # [anchor, nodes so far] per open mapping or sequence
    added = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise ConfigParseError(f"nested more than {MAX_DEPTH} levels deep", *_at(event))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes = stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            anchor, nodes = None, sizes.get(event.anchor or "", 1)
            added += nodes
            if added > MAX_ALIAS_NODES:
                raise ConfigParseError(
                    f"aliases expand the file by more than {MAX_ALIAS_NODES:,} values "
                    "(an alias bomb?)",
                    *_at(event),
                )
        elif isinstance(event, yaml.ScalarEvent):
            anchor, nodes = event.anchor, 1
        else:
            continue
        if anchor is not None:
            sizes[anchor] = nodes
        if stack:
            stack[-1][1] += nodes


def _parse_yaml(text: str) -> list[object]:
    try:
        _scan_yaml(text)
        return list(yaml.load_all(text, Loader=_LineLoader))  # noqa: S506 - a safe loader
    except RecursionError:
        raise ConfigParseError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = ", ".join(p for p in (exc.problem, exc.context) if p) or "invalid YAML"
        if "maximum nesting depth" in message:  # PyYAML >= 6.0.4 has a limit of its own
            message = f"nested more than {MAX_DEPTH} levels deep"
        if mark is None:
            raise ConfigParseError(message) from None
        raise ConfigParseError(message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise ConfigParseError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {value_text(key)}")
        out[key] = value
    return out


_LONG_INTEGER = re.compile(rf"[0-9]{{{MAX_INT_DIGITS + 1},}}")


def _too_long_integer(text: str) -> ConfigParseError:
    """The error for an integer longer than Python reads, placed where the text has one."""
    found = _LONG_INTEGER.search(text)
    message = f"an integer of more than {MAX_INT_DIGITS} digits: at most {MAX_INT_DIGITS} are read"
    if found is None:
        return ConfigParseError(message)
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    digits = found.end() - found.start()
    return ConfigParseError(
        f"an integer of {digits} digits: at most {MAX_INT_DIGITS} are read", line, column
    )


def _check_depth(documents: list[object]) -> list[object]:
    """``documents`` if nothing in them nests deeper than MAX_DEPTH, else ConfigParseError."""
    stack: list[tuple[object, int]] = [(doc, 0) for doc in documents]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ConfigParseError(f"nested more than {MAX_DEPTH} levels deep")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items if isinstance(item, (dict, list)))
    return documents


def _parse_json(text: str) -> list[object]:
    try:
        return _check_depth([json.loads(text, object_pairs_hook=_no_duplicates)])
    except json.JSONDecodeError as exc:
        raise ConfigParseError(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise ConfigParseError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # a duplicate key or a long integer: json gives no position
        if "integer string conversion" in str(exc):
            raise _too_long_integer(text) from None
        raise ConfigParseError(str(exc)) from None


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _parse_toml(text: str) -> list[object]:
    try:
        return _check_depth([tomllib.loads(text)])
    except RecursionError:
        raise ConfigParseError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        found = _TOML_AT.search(message)
        if found:
            message = message[: found.start()]
            line, column = int(found.group(1)), int(found.group(2))
        raise ConfigParseError(getattr(exc, "msg", None) or message, line, column) from None
    except ValueError as exc:  # tomllib lets int()'s own errors through
        if "integer string conversion" in str(exc):
            raise _too_long_integer(text) from None
        raise ConfigParseError(_exception_text(exc)) from None


PARSERS: dict[str, Callable[[str], list[object]]] = {
    "yaml": _parse_yaml,
    "json": _parse_json,
    "toml": _parse_toml,
}
