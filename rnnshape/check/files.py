"""Read YAML, JSON and TOML config files and find the specs in them, with line numbers.

Only regular files are read (never a fifo or a device, whatever a symlink points to), up to
:data:`MAX_FILE_BYTES`; a folder stands for the config files under it. Nothing here imports
torch, validates a spec or prints: ``rules`` does the validating.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnshape.family import INPUT_KEYS, TORCH_KEYS

from .parsers import (
    PARSERS,
    SUFFIXES,
    ConfigParseError,
    LineDict,
    LineList,
    item_line,
    key_line,
    start_line,
)
from .problems import CheckProblem, Rule, describe, names_text, shorten, value_text
from .yaml_values import file_int

MODELS_KEY = "models"
STDIN = "-"  # the file name that reads standard input
STDIN_LABEL = "<stdin>"
# Keys only a spec has: a mapping holding one of these is a spec, not a mapping of specs.
_SPEC_KEYS = frozenset({"type", *TORCH_KEYS, *INPUT_KEYS, "input", "expect"})
# A config file is text someone wrote: 1 MiB is far beyond any, and bounds what one file can
# cost. Time grows with the text: a 1 MiB YAML list of 500,000 numbers takes ~4 s to load
# (PyYAML builds each value in Python), 1 MiB of 21,000 one-line specs ~18 s to check.
MAX_FILE_BYTES = 1024 * 1024
# A --key part that indexes a list or names an integer key: ASCII digits, as many as a 64-bit
# index has (``١`` or ``²`` are names, not numbers; 5000 digits name nothing).
_INDEX = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class Entry:
    """One spec found in a file, or the problem that kept a file (or document) from having one."""

    file: str
    document: int | None  # 1-based, only in a file with several YAML documents
    name: str | None  # models key, list index, --key's last part; None for a single spec
    spec: object = None
    line: int | None = None  # where the spec starts, where the format tells
    problem: CheckProblem | None = None
    warnings: tuple[str, ...] = ()  # what the file says that a reader may take otherwise

    @property
    def label(self) -> str:
        """``path``, ``path::name``, ``path::#2`` or ``path::#2.name``."""
        parts = [f"#{self.document}"] if self.document is not None else []
        if self.name is not None:
            parts.append(shorten(self.name))
        return f"{self.file}::{'.'.join(parts)}" if parts else self.file


def split_key(key: str) -> list[str]:
    """``model.encoder`` → ``["model", "encoder"]``; ValueError for an empty part."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ValueError(
            f"--key {shorten(key)!r} must be dotted names, e.g. model.encoder or models.0"
        )
    return parts


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


class UnreadableFolder(str):
    """A folder under a checked one that cannot be listed: a failed result of its own."""

    reason: str = ""


def config_files(path: str) -> list[str]:
    """The config files under the folder ``path``, recursively, in sorted order of their path
    parts; hidden files and folders (a name starting with ``.``) are skipped, and symlinks to
    folders are not followed (a loop would never end). A folder that cannot be listed is in
    the list as an :class:`UnreadableFolder`, which ``find_specs`` reports."""
    found: list[tuple[tuple[str, ...], str]] = []

    def unreadable(exc: OSError) -> None:
        folder = UnreadableFolder(exc.filename if isinstance(exc.filename, str) else path)
        folder.reason = exc.strerror or type(exc).__name__
        found.append((Path(os.path.relpath(folder, path)).parts, folder))

    for folder, dirs, files in os.walk(path, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                full = os.path.join(folder, name)
                found.append((Path(os.path.relpath(full, path)).parts, full))
    return [full for _, full in sorted(found)]


def folder_problem(path: str) -> Entry:
    """A folder with no config file under it: a failed result of its own."""
    names = ", ".join(SUFFIXES)
    message = f"a folder with no config file under it ({names}; hidden files and folders skipped)"
    return _file_problem(path, Rule.FILE, message)


def read_config(path: str) -> str:
    """The text of the regular file at ``path``; OSError (with a message) for anything else.

    A fifo would block on open and a device (``/dev/zero``) never ends, so the kind of file
    is checked before it is opened, and again on the open file in case it changed between.
    """
    kind = _file_kind(os.stat(path).st_mode)
    if kind is not None:
        raise _NotRegular(kind)
    # O_NONBLOCK: opening a fifo swapped in since the stat returns at once instead of waiting.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as f:
        info = os.fstat(f.fileno())
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise _NotRegular(kind)
        if info.st_size > MAX_FILE_BYTES:
            raise _TooLarge(info.st_size)
        data = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since the stat
    if len(data) > MAX_FILE_BYTES:
        raise _TooLarge(len(data))
    return data.decode("utf-8-sig")


class _NotRegular(OSError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file: only regular files are read")


class _TooLarge(OSError):
    def __init__(self, size: int) -> None:
        mib = MAX_FILE_BYTES // (1024 * 1024)
        super().__init__(f"{size:,} bytes: larger than the {mib} MiB limit for a config file")


def _file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is (``a fifo``)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a fifo (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def find_specs(path: str, key: str | None = None) -> list[Entry]:
    """Every spec in the file at ``path`` (inside ``key`` if given), or why there is none."""
    if isinstance(path, UnreadableFolder):
        return [_file_problem(path, Rule.FILE, f"cannot read this folder: {path.reason}")]
    if path == STDIN:
        return _stdin_specs(key)
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        if os.path.isdir(path):
            return [_file_problem(path, Rule.FILE, "is a directory, not a config file")]
        names = ", ".join(SUFFIXES)
        suffix = shorten(Path(path).suffix, 20) or "no suffix"
        return [_file_problem(path, Rule.FILE, f"unsupported file type ({suffix}): reads {names}")]
    try:
        text = read_config(path)
    except (FileNotFoundError, UnicodeEncodeError):  # a name no file system path can be
        return [_file_problem(path, Rule.FILE, "no such file")]
    except (_NotRegular, _TooLarge) as exc:
        return [_file_problem(path, Rule.FILE, str(exc))]
    except UnicodeDecodeError as exc:
        return [
            _file_problem(path, Rule.PARSE, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        ]
    except OSError as exc:
        return [_file_problem(path, Rule.FILE, f"cannot read: {exc.strerror or exc}")]
    return _specs_in_text(path, text, fmt, key)


def _stdin_specs(key: str | None) -> list[Entry]:
    """The specs in standard input: JSON, YAML or TOML, told apart by what parses."""
    try:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError, AttributeError) as exc:  # closed, or no stdin at all
        return [_file_problem(STDIN_LABEL, Rule.FILE, f"cannot read standard input: {exc}")]
    if len(data) > MAX_FILE_BYTES:
        return [_file_problem(STDIN_LABEL, Rule.FILE, str(_TooLarge(len(data))))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        return [_file_problem(STDIN_LABEL, Rule.PARSE, message)]
    return _specs_in_text(STDIN_LABEL, text, _stdin_format(text), key)


def _stdin_format(text: str) -> str:
    """JSON when it parses as JSON, else TOML when YAML gives no mapping or list but TOML
    parses, else YAML (whose errors are then the ones reported)."""
    if text.lstrip().startswith(("{", "[")):
        try:
            PARSERS["json"](text)
            return "json"
        except ConfigParseError:
            pass
    try:
        documents = PARSERS["yaml"](text)
        if any(isinstance(doc, (dict, list)) for doc in documents):
            return "yaml"
    except ConfigParseError:
        pass
    try:
        PARSERS["toml"](text)
        return "toml"
    except ConfigParseError:
        return "yaml"


def _specs_in_text(path: str, text: str, fmt: str, key: str | None) -> list[Entry]:
    if not text.strip():
        return [_file_problem(path, Rule.EMPTY, "the file is empty")]
    try:
        documents = PARSERS[fmt](text)
    except ConfigParseError as exc:
        problem = CheckProblem(
            Rule.PARSE, f"cannot parse {fmt.upper()}: {exc.message}", exc.line, exc.column
        )
        return [Entry(path, None, None, problem=problem)]
    # A stray ``---`` at the end makes an empty document: not worth a failure of its own.
    numbered = [(n, doc) for n, doc in enumerate(documents, 1) if doc is not None]
    if not numbered or all(_is_empty(doc) for _, doc in numbered):
        return [_file_problem(path, Rule.EMPTY, "the file holds no spec (it is empty)")]
    several = len(numbered) > 1
    entries: list[Entry] = []
    for number, doc in numbered:
        entries += _specs_in(path, number if several else None, doc, key)
    return entries


def _file_problem(path: str, rule: Rule, message: str) -> Entry:
    return Entry(path, None, None, problem=CheckProblem(rule, message))


def _specs_in(path: str, document: int | None, root: object, key: str | None) -> list[Entry]:
    if key is None:
        return _collection(path, document, None, root, None)
    value, line = root, start_line(root)
    walked: list[str] = []
    for part in split_key(key):
        where = shorten(".".join(walked)) or "the top level"
        if isinstance(value, dict):
            found = _lookup(value, part)
            if found is None:
                keys = names_text(value, len(value))
                message = f"{where} has no key {shorten(part)!r} (its keys: {keys})"
                return [_key_problem(path, document, line, message)]
            line = key_line(value, found) or line
            value = value[found]
        elif isinstance(value, list):
            if not _INDEX.fullmatch(part) or not 0 <= int(part) < len(value):
                message = (
                    f"{where} is a list of {len(value)} items: "
                    f"{shorten(part)!r} is not an index from 0 to {len(value) - 1}"
                )
                return [_key_problem(path, document, line, message)]
            line = item_line(value, int(part)) or line
            value = value[int(part)]
        else:
            message = (
                f"{where} is {describe(value)}, not a mapping: it has no key {shorten(part)!r}"
            )
            return [_key_problem(path, document, line, message)]
        walked.append(part)
    return _collection(path, document, walked[-1], value, line)


def _lookup(mapping: dict[Any, Any], part: str) -> object:
    """The key of ``mapping`` that ``part`` names, or None; YAML and TOML keys may be ints."""
    if part in mapping:
        return part
    if _INDEX.fullmatch(part) and file_int(int(part)) in mapping:
        return file_int(int(part))
    return None


def _key_problem(path: str, document: int | None, line: int | None, message: str) -> Entry:
    return Entry(path, document, None, problem=CheckProblem(Rule.KEY, message, line))


def _collection(
    path: str, document: int | None, name: str | None, value: object, line: int | None
) -> list[Entry]:
    """One spec, a list of specs, or a mapping whose ``models`` maps names to specs."""
    if _is_empty(value):
        what = f"{shorten(name)!r} is empty" if name is not None else "the document is empty"
        return [Entry(path, document, name, problem=CheckProblem(Rule.EMPTY, what, line))]
    if isinstance(value, dict) and MODELS_KEY in value and "type" not in value:
        models = value[MODELS_KEY]
        models_line = key_line(value, MODELS_KEY)
        if isinstance(models, dict) and models:
            return [
                _spec(path, document, str(k), spec, key_line(models, k))
                for k, spec in models.items()
            ]
        if isinstance(models, list) and models:
            return _listed(path, document, models)
        what = "empty" if _is_empty(models) else describe(models)
        problem = CheckProblem(
            Rule.EMPTY if _is_empty(models) else Rule.NOT_A_MAPPING,
            f"models is {what}: it must map names to specs",
            models_line,
        )
        return [Entry(path, document, name, problem=problem)]
    if isinstance(value, list):
        return _listed(path, document, value)
    if _named_specs(value):  # {encoder: {type: ...}, decoder: {type: ...}}
        assert isinstance(value, dict)
        prefix = f"{name}." if name is not None else ""
        return [
            _spec(path, document, f"{prefix}{_key_name(k)}", spec, key_line(value, k))
            for k, spec in value.items()
        ]
    return [_spec(path, document, name, value, start_line(value) or line)]


def _named_specs(value: object) -> bool:
    """True for a mapping of names to specs: every value a mapping, one of them with a
    ``type``, and no key of its own that a spec has."""
    if not isinstance(value, dict) or not value or any(k in _SPEC_KEYS for k in value):
        return False
    specs = value.values()
    return all(isinstance(v, dict) for v in specs) and any("type" in v for v in specs)


def _key_name(key: object) -> str:
    return key if isinstance(key, str) else value_text(key)


def _spec(
    path: str, document: int | None, name: str | None, spec: object, line: int | None
) -> Entry:
    return Entry(path, document, name, spec, line, warnings=boolean_warnings(spec))


def _listed(path: str, document: int | None, items: list[Any]) -> list[Entry]:
    return [
        _spec(path, document, str(i), spec, start_line(spec) or item_line(items, i))
        for i, spec in enumerate(items)
    ]


def boolean_warnings(spec: object) -> tuple[str, ...]:
    """A warning for each value in ``spec`` (at any depth) that only YAML 1.1 reads as a
    boolean (``yes``, ``off``): YAML 1.2 readers take it as a string. Values an alias
    repeats are one object, visited once."""
    warnings: list[tuple[int, str]] = []
    seen: set[int] = set()
    stack: list[tuple[object, str]] = [(spec, "")]
    while stack:
        value, where = stack.pop()
        if not isinstance(value, (dict, list)) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            children = [
                (v, f"{where}.{_key_name(k)}" if where else _key_name(k), k)
                for k, v in value.items()
            ]
        else:
            children = [(v, f"{where}[{i}]", i) for i, v in enumerate(value)]
        old = value.old_booleans if isinstance(value, (LineDict, LineList)) else {}
        for child, name, at in children:
            if at in old and isinstance(child, bool):
                boolean = old[at]
                message = (
                    f"line {boolean.line}, column {boolean.column}: {shorten(name)}: "
                    f"{boolean.explain(child)} (rule boolean)"
                )
                warnings.append((boolean.line, message))
        stack.extend((child, name) for child, name, _ in reversed(children))
    return tuple(message for _, message in sorted(warnings))
