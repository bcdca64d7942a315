"""The one way a file's objects and strings become text for a message or a table: bounded.

A pickle's memo makes DAGs: a list of 2 references to a list of 2 references ... is 383 bytes
at depth 26, and its ``repr`` is 470 MB. ``file_repr`` is ``reprlib`` with every limit set
(depth, items per container, characters per string and in all), and dispatches on the
builtin base so that no subclass's own ``repr`` runs; ``file_str`` cuts a string.
"""

from __future__ import annotations

import reprlib
from itertools import islice

from rnnshape.text import one_line, shorten

from .pickle_records import FileDict, Placeholder, ScriptObject, SkippedData, Storage
from .records import TensorInfo

REPR_CHARS = 80  # a value quoted in a message
TEXT_CHARS = 200  # a name (a tensor's, a storage key, a global) quoted in a message


class _BoundedRepr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = self.maxfrozenset = 6
        self.maxstring = self.maxother = REPR_CHARS
        self.maxlong = 40

    def repr1(self, x: object, level: int) -> str:
        if x is None or isinstance(x, (bool, float, complex)):
            return self.repr_instance(x, level)
        if isinstance(x, int):
            return _int_text(x, self.maxlong)
        if isinstance(x, str):
            return self.repr_str(str(x), level)
        if isinstance(x, (bytes, bytearray)):
            head = bytes(x[: self.maxstring])
            return repr(head) + ("…" if len(x) > self.maxstring else "")
        if isinstance(x, tuple):
            return self._items(x, "(", ",)" if len(x) == 1 else ")", level)
        if isinstance(x, list):
            return self._items(x, "[", "]", level)
        if isinstance(x, dict):
            pairs = x.all_items() if isinstance(x, FileDict) else iter(x.items())
            return self._pairs(pairs, len(x), level)
        if isinstance(x, (set, frozenset)):
            return self._items(x, "{", "}", level)
        return _describe(x)

    def _items(self, items: object, open_: str, close: str, level: int) -> str:
        assert isinstance(items, (tuple, list, set, frozenset))
        if not items:
            return open_ + close.lstrip(",")
        if level <= 0:
            return f"{open_}…{close.lstrip(',')}"
        shown = [self.repr1(item, level - 1) for item in islice(items, self.maxlist)]
        if len(items) > self.maxlist:
            shown.append("…")
        return open_ + ", ".join(shown) + close

    def _pairs(self, pairs: object, total: int, level: int) -> str:
        from collections.abc import Iterator

        assert isinstance(pairs, Iterator)
        if level <= 0:
            return "{…}"
        shown = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in islice(pairs, self.maxdict)
        ]
        if next(pairs, None) is not None or total > self.maxdict:
            shown.append("…")
        return "{" + ", ".join(shown) + "}"


def _int_text(value: int, limit: int) -> str:
    if value.bit_length() > 4 * limit:  # beyond what str() would print at a glance
        return f"<int of {value.bit_length():,} bits>"
    text = str(value)
    return text if len(text) <= limit else f"{text[:8]}…{text[-8:]}"


def _describe(x: object) -> str:
    """A record of ours by what it stands for; anything else by its type's name only."""
    if isinstance(x, Placeholder):
        return f"<{file_str(x.kind, 60)} object>"
    if isinstance(x, ScriptObject):
        return f"<{file_str(x.torch_class, 60)} object>"
    if isinstance(x, TensorInfo):
        return f"<tensor {x.dtype} {x.shape}>"
    if isinstance(x, Storage):
        return f"<storage record {file_str(x.key, 40)}>"
    if isinstance(x, SkippedData):
        return f"<{x.kind} of {x.size:,} bytes>"
    if isinstance(x, type) and issubclass(x, Placeholder):
        return f"<{file_str(x.key, 60)}>"
    return f"<{type(x).__name__}>"


_REPR = _BoundedRepr()


def file_repr(value: object, limit: int = REPR_CHARS) -> str:
    """``repr`` of anything a file built, for one line: at most ``limit`` characters, and
    bounded work whatever the object (a DAG, a 2**40-item list by reference, a huge int)."""
    return shorten(one_line(shorten(_REPR.repr1(value, _REPR.maxlevel), limit)), limit)


def file_str(text: str, limit: int = TEXT_CHARS) -> str:
    """A string from a file for one line of a message: escaped, cut to ``limit``."""
    return shorten(one_line(shorten(text, limit)), limit)
