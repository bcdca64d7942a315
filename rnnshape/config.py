"""Read YAML, JSON and TOML config files and find the specs in them, with line numbers.

Nothing here imports torch, validates a spec or prints: ``check`` does the validating.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# No stubs in the dev extras; unused-ignore keeps it quiet where types-PyYAML is installed.
import yaml  # type: ignore[import-untyped,unused-ignore]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
MODELS_KEY = "models"


@dataclass(frozen=True)
class Problem:
    """One broken rule: its id (``parse``, ``unknown_key``, ``expect.output``...) and where."""

    rule: str
    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Entry:
    """One spec found in a file, or the problem that kept a file (or document) from having one."""

    file: str
    document: int | None  # 1-based, only in a file with several YAML documents
    name: str | None  # models key, list index, --key's last part; None for a single spec
    spec: object = None
    line: int | None = None  # where the spec starts, where the format tells
    problem: Problem | None = None

    @property
    def label(self) -> str:
        """``path``, ``path::name``, ``path::#2`` or ``path::#2.name``."""
        parts = [f"#{self.document}"] if self.document is not None else []
        if self.name is not None:
            parts.append(self.name)
        return f"{self.file}::{'.'.join(parts)}" if parts else self.file


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


def _item_line(items: object, index: int) -> int | None:
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


_PARSERS = {"yaml": _parse_yaml, "json": _parse_json, "toml": _parse_toml}


def split_key(key: str) -> list[str]:
    """``model.encoder`` → ``["model", "encoder"]``; ValueError for an empty part."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ValueError(f"--key {key!r} must be dotted names, e.g. model.encoder or models.0")
    return parts


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


def find_specs(path: str, key: str | None = None) -> list[Entry]:
    """Every spec in the file at ``path`` (inside ``key`` if given), or why there is none."""
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        names = ", ".join(SUFFIXES)
        suffix = Path(path).suffix or "no suffix"
        return [_file_problem(path, "file", f"unsupported file type ({suffix}): reads {names}")]
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [_file_problem(path, "file", "no such file")]
    except IsADirectoryError:
        return [_file_problem(path, "file", "is a directory, not a config file")]
    except UnicodeDecodeError as exc:
        return [_file_problem(path, "parse", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return [_file_problem(path, "file", f"cannot read: {exc.strerror or exc}")]
    if not text.strip():
        return [_file_problem(path, "empty", "the file is empty")]
    try:
        documents = _PARSERS[fmt](text)
    except ConfigParseError as exc:
        problem = Problem(
            "parse", f"cannot parse {fmt.upper()}: {exc.message}", exc.line, exc.column
        )
        return [Entry(path, None, None, problem=problem)]
    # A stray ``---`` at the end makes an empty document: not worth a failure of its own.
    numbered = [(n, doc) for n, doc in enumerate(documents, 1) if doc is not None]
    if not numbered or all(_is_empty(doc) for _, doc in numbered):
        return [_file_problem(path, "empty", "the file holds no spec (it is empty)")]
    several = len(numbered) > 1
    entries: list[Entry] = []
    for number, doc in numbered:
        entries += _specs_in(path, number if several else None, doc, key)
    return entries


def _file_problem(path: str, rule: str, message: str) -> Entry:
    return Entry(path, None, None, problem=Problem(rule, message))


def _specs_in(path: str, document: int | None, root: object, key: str | None) -> list[Entry]:
    if key is None:
        return _collection(path, document, None, root, None)
    value, line = root, start_line(root)
    walked: list[str] = []
    for part in split_key(key):
        where = ".".join(walked) or "the top level"
        if isinstance(value, dict):
            found = _lookup(value, part)
            if found is None:
                keys = ", ".join(str(k) for k in value) or "none"
                message = f"{where} has no key {part!r} (its keys: {keys})"
                return [_key_problem(path, document, line, message)]
            line = key_line(value, found) or line
            value = value[found]
        elif isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                message = (
                    f"{where} is a list of {len(value)} items: "
                    f"{part!r} is not an index from 0 to {len(value) - 1}"
                )
                return [_key_problem(path, document, line, message)]
            line = _item_line(value, int(part)) or line
            value = value[int(part)]
        else:
            message = f"{where} is {describe(value)}, not a mapping: it has no key {part!r}"
            return [_key_problem(path, document, line, message)]
        walked.append(part)
    return _collection(path, document, walked[-1], value, line)


def _lookup(mapping: dict[Any, Any], part: str) -> object:
    """The key of ``mapping`` that ``part`` names, or None; YAML and TOML keys may be ints."""
    if part in mapping:
        return part
    if part.lstrip("-").isdigit() and int(part) in mapping:
        return int(part)
    return None


def _key_problem(path: str, document: int | None, line: int | None, message: str) -> Entry:
    return Entry(path, document, None, problem=Problem("key", message, line))


def describe(value: object) -> str:
    """What a value is, for messages: ``a list``, ``a string ('lstm')``."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _collection(
    path: str, document: int | None, name: str | None, value: object, line: int | None
) -> list[Entry]:
    """One spec, a list of specs, or a mapping whose ``models`` maps names to specs."""
    if _is_empty(value):
        what = f"{name!r} is empty" if name is not None else "the document is empty"
        return [Entry(path, document, name, problem=Problem("empty", what, line))]
    if isinstance(value, dict) and MODELS_KEY in value and "type" not in value:
        models = value[MODELS_KEY]
        models_line = key_line(value, MODELS_KEY)
        if isinstance(models, dict) and models:
            return [
                Entry(path, document, str(k), spec, key_line(models, k))
                for k, spec in models.items()
            ]
        if isinstance(models, list) and models:
            return _listed(path, document, models)
        what = "empty" if _is_empty(models) else describe(models)
        problem = Problem(
            "empty" if _is_empty(models) else "not_a_mapping",
            f"models is {what}: it must map names to specs",
            models_line,
        )
        return [Entry(path, document, name, problem=problem)]
    if isinstance(value, list):
        return _listed(path, document, value)
    return [Entry(path, document, name, value, start_line(value) or line)]


def _listed(path: str, document: int | None, items: list[Any]) -> list[Entry]:
    return [
        Entry(path, document, str(i), spec, start_line(spec) or _item_line(items, i))
        for i, spec in enumerate(items)
    ]
