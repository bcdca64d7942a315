"""Find the state dicts in an unpickled object: dicts of tensors, at any depth up to
``MAX_SEARCH_DEPTH`` (where it stops, it says so), also inside the placeholders of objects
that were not loaded (a pickled ``nn.Module``'s parameters are named as its ``state_dict()``
would name them, and its stored ``batch_first``, ``dropout`` and ``nonlinearity`` kept).

The walk is iterative and visits each object once (a pickle's memo makes DAGs), so its work
is linear in what the file built, whatever the nesting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from .file_text import file_repr, file_str
from .pickle_records import FileDict, Placeholder
from .records import (
    Checkpoint,
    CheckpointError,
    CheckpointFormat,
    SkippedObject,
    StateDict,
    TensorInfo,
)

MAX_SEARCH_DEPTH = 1000  # containers nested deeper are not searched, and that is said
MAX_PATH_CHARS = 10_000  # nor are those whose dotted path would be longer than this
MAX_UNSEARCHED = 10  # where the search stopped: the first ones are named

_MODULE_STATE = ("_parameters", "_buffers", "_modules")
# What weights do not record but a pickled recurrent module stores: kept as found.
_RECURRENT = frozenset(
    f"torch.nn.modules.rnn.{name}"
    for name in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
)
_STORED = {"batch_first": bool, "dropout": float, "nonlinearity": str}


class _Path(NamedTuple):
    """A dotted path as a linked list: built once per container found, not per step."""

    parent: _Path | None
    key: str
    length: int

    def text(self) -> str:
        keys: list[str] = []
        node: _Path | None = self
        while node is not None:
            keys.append(node.key)
            node = node.parent
        return ".".join(reversed(keys))


def _child_path(parent: _Path | None, key: object) -> _Path:
    text = key if isinstance(key, str) else file_repr(key)
    return _Path(parent, text, len(text) + 1 + (parent.length if parent else 0))


def _container(node: _Path | None) -> str | None:
    return node.text() if node is not None else None


# A pickle may name one long string many times through its memo: the names of the tensors
# found (and their containers) may add up to this many characters per byte of the file.
TEXT_PER_BYTE = 16


class TextBudget:
    """Characters of names the readers may build for a file: ``TEXT_PER_BYTE`` per byte."""

    def __init__(self, size: int) -> None:
        self.left = TEXT_PER_BYTE * size + 2**20

    def spend(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            raise TooMuchText


class TooMuchText(Exception):
    """The names a file's objects describe add up to more text than the budget."""


def too_much_text(path: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused: the names of its tensors add up to more than {TEXT_PER_BYTE} "
        "characters per byte of the file (the pickle repeats long names through its memo)"
    )


class _Walk:
    def __init__(self, budget: TextBudget | None = None) -> None:
        self.seen: set[int] = set()
        self.skipped: Counter[str] = Counter()
        self.unsearched: list[tuple[str | None, str]] = []
        self.budget = budget or TextBudget(2**40)

    def _found(
        self,
        node: _Path | None,
        tensors: dict[str, TensorInfo],
        known: dict[str, dict[str, object]] | None = None,
    ) -> StateDict:
        """A state dict found, its names paid for (each key once per dict it is in)."""
        self.budget.spend(sum(map(len, tensors)) + (node.length if node is not None else 0))
        return StateDict(_container(node), tensors, known or {})

    def _stop(self, node: _Path | None, why: str) -> None:
        if len(self.unsearched) < MAX_UNSEARCHED:
            where = file_str(node.text(), 200) if node is not None else None
            self.unsearched.append((where, f"{why}: the search for state dicts stopped here"))

    def walk(self, root: object) -> Iterator[StateDict]:
        stack: list[tuple[object, _Path | None, int, bool]] = [(root, None, 0, False)]
        while stack:
            obj, node, depth, inside = stack.pop()
            if id(obj) in self.seen:
                continue
            if depth > MAX_SEARCH_DEPTH:
                self._stop(node, f"nested more than {MAX_SEARCH_DEPTH:,} levels deep")
                continue
            if node is not None and node.length > MAX_PATH_CHARS:
                self._stop(node, f"a path longer than {MAX_PATH_CHARS:,} characters")
                continue
            self.seen.add(id(obj))
            groups: list[list[tuple[object, object]]] = []
            if isinstance(obj, Mapping):
                groups.append(list(obj.all_items() if isinstance(obj, FileDict) else obj.items()))
            elif isinstance(obj, (list, tuple)):
                groups.append(list(enumerate(obj)))
            elif isinstance(obj, Placeholder):
                if not inside:  # what the file holds, counted once, not its parts
                    self.skipped[obj.kind] += 1
                inside = True
                if all(isinstance(obj.attribute(k), Mapping) for k in _MODULE_STATE):
                    tensors, known = self._module_tensors(obj, node)
                    if tensors:
                        yield self._found(node, tensors, known=known)
                    continue
                for part in obj.state_parts():
                    if id(part) not in self.seen:  # shared by many: walked once
                        self.seen.add(id(part))
                        groups.append(list(part.all_items() if isinstance(part, FileDict)
                                           else part.items()))  # fmt: skip
                groups.append(list(zip(obj.keys, obj.values, strict=True)))
                groups.append(list(enumerate((*obj.args, *obj.items))))
            children: list[tuple[object, _Path | None, int, bool]] = []
            for pairs in groups:
                tensors = {
                    k: v for k, v in pairs if isinstance(k, str) and isinstance(v, TensorInfo)
                }
                if tensors:
                    yield self._found(node, tensors)
                children += [
                    (value, _child_path(node, key), depth + 1, inside)
                    for key, value in pairs
                    if isinstance(value, (Mapping, list, tuple, Placeholder))
                ]
            stack += reversed(children)

    def _module_tensors(
        self, root: Placeholder, node: _Path | None
    ) -> tuple[dict[str, TensorInfo], dict[str, dict[str, object]]]:
        """A pickled ``nn.Module``'s parameters and buffers, named as ``state_dict()`` does,
        and what its recurrent submodules store that weights do not, by prefix."""
        out: dict[str, TensorInfo] = {}
        known: dict[str, dict[str, object]] = {}
        stack: list[tuple[object, str, int]] = [(root, "", 0)]
        base = node.length if node is not None else 0
        while stack:
            obj, prefix, depth = stack.pop()
            if not isinstance(obj, Placeholder) or (depth and id(obj) in self.seen):
                continue
            if depth > MAX_SEARCH_DEPTH or base + len(prefix) > MAX_PATH_CHARS:
                self._stop(node, f"submodule {file_str(prefix, 80)} lies too deep")
                continue
            self.seen.add(id(obj))
            for part in ("_parameters", "_buffers"):
                store = obj.attribute(part)
                if isinstance(store, Mapping):
                    for name, value in store.items():
                        if isinstance(name, str) and isinstance(value, TensorInfo):
                            self.budget.spend(len(prefix) + len(name))
                            out[f"{prefix}{name}"] = value
            if obj.kind in _RECURRENT:
                stored = {k: obj.attribute(k) for k in _STORED}
                known[prefix] = {
                    k: v
                    for k, v in stored.items()
                    if type(v) is _STORED[k]  # noqa: E721
                }
            children = obj.attribute("_modules")
            if isinstance(children, Mapping):
                stack += reversed(
                    [
                        (child, f"{prefix}{name}.", depth + 1)
                        for name, child in children.items()
                        if isinstance(name, str)
                    ]
                )
        return out, known


def find_state_dicts(obj: object) -> Iterator[StateDict]:
    """Every dict holding tensors under string keys, at any depth of dicts and lists."""
    yield from _Walk().walk(obj)


def scan(path: str, format: CheckpointFormat, obj: object, size: int) -> Checkpoint:
    """A checkpoint of the state dicts in ``obj`` (unpickled from ``size`` bytes), the objects
    not loaded (by type, sorted) and where the search stopped."""
    walk = _Walk(TextBudget(size))
    try:
        found = tuple(walk.walk(obj))
    except TooMuchText:
        raise too_much_text(path) from None
    skipped = tuple(SkippedObject(kind, n) for kind, n in sorted(walk.skipped.items()))
    return Checkpoint(path, format, found, skipped, tuple(walk.unsearched))
