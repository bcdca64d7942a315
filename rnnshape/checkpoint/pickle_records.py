"""What the restricted unpickler builds in place of a file's objects: records, never the
objects themselves, each one made for one file and holding only references to what the
file already built.

A file's containers are built so that nothing the file chooses is hashed or compared:
``FileDict`` keeps text keys in a dict (str and bytes hash with the process's secret key) and
every other key in a list, and sets become ``FileSet`` lists. Python hashes tuples again at
every use, without caching, so a tuple DAG built through the memo (t = (t, t), 24 times)
would cost 2**24 steps as a key; integers that are equal modulo 2**61 - 1 all hash alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar


class Refused(Exception):
    """The pickle needs something other than plain weights: the file is refused."""

    def __init__(self, what: str, *, runs_code: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.runs_code = runs_code


class Corrupt(Exception):
    """The pickle is well-formed but describes impossible tensors or storages."""


@dataclass(frozen=True, slots=True)
class StorageType:
    """``torch.FloatStorage`` and the like; ``dtype`` None for ``UntypedStorage`` (bytes)."""

    dtype: str | None


@dataclass(frozen=True, slots=True)
class Storage:
    """One storage record: its key in the archive, its dtype and its element count."""

    key: str
    dtype: str
    numel: int


@dataclass(frozen=True, slots=True)
class TorchDtype:
    name: str


@dataclass(frozen=True, slots=True)
class TensorClass:
    """``torch.Tensor`` or ``torch.nn.Parameter`` named by ``_rebuild_from_type_v2``."""

    name: str


@dataclass(frozen=True, slots=True)
class SkippedData:
    """A bytes or text value too long to be worth keeping: read past, never held."""

    kind: str  # "bytes" or "text"
    size: int


def _refuse_state(self: object, state: object) -> None:
    raise Corrupt(f"a BUILD on a {type(self).__name__} record, which takes no state")


# dataclass gives frozen slotted classes a __setstate__ that sets every field: a file's BUILD
# must not reach it (it would rewrite a storage's size or a dtype).
for _record in (StorageType, Storage, TorchDtype, TensorClass, SkippedData):
    setattr(_record, "__setstate__", _refuse_state)  # noqa: B010 - a class attribute


class FileDict(dict[object, object]):
    """A dict the file builds: text keys held as a dict, any other key in ``others``.

    Only str and bytes keys are hashed (with the per-process secret key); an int, float or
    tuple key is never hashed nor compared, so duplicates of it are all kept.
    """

    __slots__ = ("others", "ordered")

    def __init__(self, *, ordered: bool = False) -> None:
        super().__init__()
        self.others: list[tuple[object, object]] = []
        self.ordered = ordered  # made by collections.OrderedDict, which takes a BUILD

    def __setitem__(self, key: object, value: object) -> None:
        if type(key) is str or type(key) is bytes:
            dict.__setitem__(self, key, value)
        else:
            self.others.append((key, value))

    def all_items(self) -> Iterator[tuple[object, object]]:
        """Every pair the file set: text keys, then the others in the file's order."""
        yield from self.items()
        yield from self.others

    def __setstate__(self, state: object) -> None:
        # An OrderedDict's attributes (a state dict's _metadata), not needed; torch takes a
        # dict of them on an OrderedDict only.
        if not self.ordered or not isinstance(state, FileDict) or state.others:
            raise Corrupt("a BUILD on a dict, or with a state that is not a dict of names")


class FileSet(list[object]):
    """A set or frozenset the file builds, as a list: its items are never hashed."""

    __slots__ = ()

    def add(self, item: object) -> None:
        self.append(item)

    def update(self, items: list[object]) -> None:
        self.extend(items)


class ScriptObject:
    """An instance of a TorchScript class, recorded (its state kept), never instantiated."""

    torch_class = "__torch__"
    state: object = None  # NEWOBJ skips __init__; BUILD sets the state

    def __setstate__(self, state: object) -> None:
        self.state = state


# numpy scalars pickle as multiarray.scalar(dtype(code), bytes): name them by their type.
_NUMPY_CODES = {
    "f8": "float64", "f4": "float32", "f2": "float16", "i8": "int64", "i4": "int32",
    "i2": "int16", "i1": "int8", "u8": "uint64", "u4": "uint32", "u2": "uint16",
    "u1": "uint8", "b1": "bool", "c16": "complex128", "c8": "complex64",
}  # fmt: skip
_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_SCALAR = frozenset(f"{m}.scalar" for m in _NUMPY_MULTIARRAY)
_CLASS_FIRST = {f"{m}._reconstruct" for m in _NUMPY_MULTIARRAY} | {
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
}


def _kind(key: str, args: tuple[object, ...]) -> str:
    """What a placeholder instance stands for: the class, or what a known factory makes."""
    first = args[0] if args else None
    if key in _CLASS_FIRST and isinstance(first, type) and issubclass(first, Placeholder):
        return first.key
    if key in _NUMPY_SCALAR:
        code = first.args[0] if isinstance(first, Placeholder) and first.args else None
        name = _NUMPY_CODES.get(code.lstrip("<>|=")) if isinstance(code, str) else None
        return f"numpy.{name or 'generic'}"
    return key


class Placeholder:
    """Stands in for a class or function a file names: never imported, never called.

    The pickle machine may construct it (``NEWOBJ``, ``REDUCE``), call an instance, set its
    state (``BUILD``) or add items (``APPEND``, ``SETITEM``, ``ADDITEMS``): each only keeps
    references to what the file already built, so memory grows with the file, no more.
    """

    __slots__ = ("kind", "args", "state", "items", "keys", "values")
    key: ClassVar[str] = "?"

    kind: str
    args: tuple[object, ...]
    state: object
    items: list[object]
    keys: list[object]
    values: list[object]

    def __new__(cls, *args: object, **kwargs: object) -> Placeholder:
        self = object.__new__(cls)
        self.kind = _kind(cls.key, args)
        self.args = (*args, *kwargs.values())
        self.state = None
        self.items, self.keys, self.values = [], [], []
        return self

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass  # __new__ recorded the arguments

    def __call__(self, *args: object, **kwargs: object) -> Placeholder:
        return type(self)(*args, **kwargs)

    def __setstate__(self, state: object) -> None:
        self.state = state

    def append(self, item: object) -> None:
        self.items.append(item)

    def extend(self, items: object) -> None:
        self.items.append(items)  # the reference only: iterating could multiply memory

    add = append

    def __setitem__(self, key: object, value: object) -> None:
        self.keys.append(key)
        self.values.append(value)

    def state_parts(self) -> tuple[dict[object, object], ...]:
        """The dicts of its state (``__dict__``, or ``(dict, slots)``), never copied."""
        state = self.state
        if isinstance(state, dict):
            return (state,)
        if isinstance(state, tuple) and len(state) == 2:
            return tuple(part for part in state if isinstance(part, dict))
        return ()

    def attribute(self, name: str) -> object:
        """One attribute of its state, or None."""
        for part in self.state_parts():
            if name in part:
                return part[name]
        return None
