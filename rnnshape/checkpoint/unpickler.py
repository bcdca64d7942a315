"""The restricted unpickler: it reads weights and records everything else, running nothing.

Every pickle goes through ``ShapeUnpickler``, which resolves the handful of globals that
weights need to recorders of ours: a tensor becomes a ``TensorInfo`` built from its storage
record, and no tensor data is read. Any other global (``argparse.Namespace``, a numpy
scalar, a user's dataclass) becomes an inert ``Placeholder`` class: its module is never
imported, and constructing, calling, setting the state of or adding items to it only
records references. A global that would run code when fully unpickled (``os.system``,
``builtins.exec``, ...: picklescan's maintained list plus ``_MORE_DANGEROUS``) refuses the
whole file, naming it.

The unpickler is pickle's pure-Python one: its memo is a dict (the C one allocates an array
as long as the largest index a file names), and every read is checked against what remains
of the stream before it happens, so a declared size cannot allocate more than the file has.
"""

from __future__ import annotations

import math
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import FunctionType
from typing import IO, Any, ClassVar, TypeGuard

from .model import ITEMSIZE, MAX_DIMS, CheckpointError, TensorInfo, is_size

# torch's typed storage classes, as they appear in a pickle (torch.storage's map).
_STORAGE_DTYPE = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8", "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}  # fmt: skip

# torch dtypes that a pickle may name (``torch.float16``) for _rebuild_tensor_v3.
_DTYPE_NAMES = frozenset(ITEMSIZE) | {"int4", "uint4", "bits8", "bits16", "float4_e2m1fn_x2"}

_TRUST_HINT = (
    "if you trust where it came from, load it in Python and save model.state_dict() with "
    "torch.save or safetensors, then run rnnshape infer on that"
)


class Refused(Exception):
    """The pickle needs something other than plain weights: the file is refused."""

    def __init__(self, what: str, *, runs_code: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.runs_code = runs_code


class Corrupt(Exception):
    """The pickle is well-formed but describes impossible tensors or storages."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    """``torch.FloatStorage`` and the like; ``dtype`` None for ``UntypedStorage`` (bytes)."""

    dtype: str | None


@dataclass(frozen=True, slots=True)
class Storage:
    key: str
    dtype: str
    numel: int


StorageLoader = Callable[[tuple[object, ...]], Storage]


@dataclass(frozen=True, slots=True)
class _TorchDtype:
    name: str


@dataclass(frozen=True, slots=True)
class _TensorClass:
    """``torch.Tensor`` or ``torch.nn.Parameter`` named by ``_rebuild_from_type_v2``."""

    name: str


class ScriptObject:
    """An instance of a TorchScript class, recorded (its state kept), never instantiated."""

    torch_class = "__torch__"
    state: object = None  # NEWOBJ skips __init__; BUILD sets the state

    def __setstate__(self, state: object) -> None:
        self.state = state


def _rebuild_tensor(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    dtype: str | None = None,
) -> TensorInfo:
    if not isinstance(storage, Storage):
        raise Corrupt("a tensor without a storage record")
    # Validated before any arithmetic: ints only, bounded, so nothing below can blow up.
    if not _bounded_ints(size):
        raise Corrupt(f"a tensor of invalid size {short_repr(size)}")
    if not _bounded_ints(stride) or len(stride) != len(size) or not _bounded_ints((offset,)):
        raise Corrupt(
            f"a tensor of size {short_repr(size)} with invalid stride {short_repr(stride)}"
        )
    assert isinstance(offset, int)
    dtype = dtype or storage.dtype
    numel = storage.numel
    if storage.dtype == "uint8" and dtype != "uint8" and dtype in ITEMSIZE:
        numel = storage.numel // ITEMSIZE[dtype]  # an untyped storage counts bytes
    if math.prod(size) > 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= numel:
            raise Corrupt(
                f"a tensor of size {size} reaches element {last} of storage {storage.key}, "
                f"which holds {numel}"
            )
    return TensorInfo(tuple(size), dtype)


def _bounded_ints(values: object) -> TypeGuard[tuple[int, ...]]:
    """A tuple of at most ``MAX_DIMS`` sizes, each below 2**63, as torch can hold."""
    return (
        isinstance(values, tuple)
        and len(values) <= MAX_DIMS
        and all(is_size(n) and n < 2**63 for n in values)
    )


def short_repr(value: object, limit: int = 80) -> str:
    """``repr`` for a message, cut to ``limit`` characters (a file chooses its length)."""
    if isinstance(value, (tuple, list)) and len(value) > 16:
        value = type(value)(value[:16])
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rebuild_tensor_v2(
    storage: object, offset: object, size: object, stride: object, *_: object
) -> TensorInfo:
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_tensor_v3(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    requires_grad: object,
    hooks: object,
    dtype: object,
    *_: object,
) -> TensorInfo:
    if not isinstance(dtype, _TorchDtype):
        raise Corrupt(f"a tensor of unknown dtype {short_repr(dtype)}")
    return _rebuild_tensor(storage, offset, size, stride, dtype.name)


def _rebuild_parameter(data: object, *_: object) -> object:
    return data


def _rebuild_from_type(func: object, new_type: object, args: object, state: object) -> object:
    if not isinstance(new_type, _TensorClass) or not callable(func):
        name = (
            new_type.key
            if isinstance(new_type, type) and issubclass(new_type, Placeholder)
            else short_repr(new_type)
        )
        raise Refused(f"a tensor subclass ({name})")
    if not isinstance(args, tuple):
        raise Corrupt("a tensor rebuilt from invalid arguments")
    return func(*args)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    # Protocol 2 pickles bytes as _codecs.encode(str, "latin1"); nothing else is needed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise Refused("_codecs.encode with an unusual codec")
    return text.encode(str(encoding))


def _device(*args: object) -> str:
    return ":".join(str(a) for a in args)


def _passthrough(value: object, *_: object) -> object:
    return value


_SAFE_GLOBALS: dict[str, object] = {
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.complex": complex,
    "_codecs.encode": _codecs_encode,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type,
    "torch.Tensor": _TensorClass("Tensor"),
    "torch._tensor.Tensor": _TensorClass("Tensor"),
    "torch.nn.parameter.Parameter": _TensorClass("Parameter"),
    "torch.Size": tuple,
    "torch.device": _device,
    "torch.storage.UntypedStorage": _StorageType(None),
    **{f"torch.{name}": _StorageType(dtype) for name, dtype in _STORAGE_DTYPE.items()},
    **{f"torch.{name}": _TorchDtype(name) for name in _DTYPE_NAMES},
}
# TorchScript's data.pkl wraps typed lists and attributes in these (torch/jit/_pickle.py).
_SCRIPT_GLOBALS: dict[str, object] = {
    "torch.jit._pickle.restore_type_tag": _passthrough,
    "torch.jit._pickle.build_intlist": _passthrough,
    "torch.jit._pickle.build_tensorlist": _passthrough,
    "torch.jit._pickle.build_doublelist": _passthrough,
    "torch.jit._pickle.build_boollist": _passthrough,
}


class _Call:
    """A fresh callable per lookup: a pickle's BUILD can set attributes on what it gets,
    and must not reach our module's functions (markers are frozen, slotted dataclasses)."""

    __slots__ = ("_func",)

    def __init__(self, func: Callable[..., object]) -> None:
        self._func = func

    def __call__(self, *args: object) -> object:
        return self._func(*args)


# Globals that would run code when fully unpickled, beyond picklescan's list (which covers
# os, posix, nt, subprocess, runpy, pickle, webbrowser, ctypes, builtins.exec/eval/getattr,
# ...): module -> names, "*" for the whole module and its submodules.
_MORE_DANGEROUS: dict[str, str | frozenset[str]] = {
    "builtins": frozenset(
        "exec eval compile getattr setattr delattr __import__ open apply breakpoint input "
        "globals locals vars help exit quit memoryview".split()
    ),
    "__builtin__": frozenset("exec eval compile getattr setattr __import__ open".split()),
    "os": "*", "posix": "*", "nt": "*", "subprocess": "*", "_posixsubprocess": "*",
    "importlib": "*", "_imp": "*", "runpy": "*", "pickle": "*", "_pickle": "*",
    "marshal": "*", "code": "*", "codeop": "*", "ctypes": "*", "_ctypes": "*",
    "webbrowser": "*", "sys": "*", "shutil": "*", "socket": "*", "pty": "*",
    "multiprocessing": "*", "types": "*", "dill": "*", "cloudpickle": "*", "joblib": "*",
    "torch.serialization": "*", "torch.hub": "*", "numpy.load": "*",
    "numpy.lib.npyio": frozenset({"load"}), "operator": "*", "_operator": "*",
    "functools": frozenset({"partial", "reduce"}), "inspect": "*", "pdb": "*",
    "timeit": "*", "asyncio": "*", "platform": "*", "tempfile": "*", "pydoc": "*",
    "io": frozenset({"open", "open_code", "FileIO"}), "_io": "*", "pathlib": frozenset(),
    "builtins.object": frozenset(),
}  # fmt: skip
# A dotted name (``pathlib.Path.write_text``) reaches a method: these ones act.
_ACTING_METHODS = frozenset(
    "write_text write_bytes open unlink rmdir touch mkdir rename replace symlink_to "
    "hardlink_to chmod system popen load loads exec eval run call".split()
)


@cache
def _dangerous_globals() -> tuple[Mapping[str, object], ...]:
    """picklescan's maintained list (read only when a file names an unknown global) and ours."""
    try:
        from picklescan import scanner  # type: ignore[import-untyped]  # ~30 ms, only here

        maintained = getattr(scanner, "_unsafe_globals", None)
    except ImportError:  # pragma: no cover - a dependency; _MORE_DANGEROUS still applies
        maintained = None
    lists: list[Mapping[str, object]] = [_MORE_DANGEROUS]
    if isinstance(maintained, Mapping):
        lists.append(maintained)
    return tuple(lists)


def dangerous(module: str, name: str) -> bool:
    """Whether fully unpickling ``module.name`` would run code (a maintained list)."""
    parts = module.split(".")
    first, *attributes = name.split(".")
    if any(a.startswith("_") or a in _ACTING_METHODS for a in attributes):
        return True
    for table in _dangerous_globals():
        for i in range(len(parts), 0, -1):
            names = table.get(".".join(parts[:i]))
            if names is None:
                continue
            if names == "*" or (i == len(parts) and (name in names or first in names)):  # type: ignore[operator]
                return True
    return False


# numpy scalars pickle as multiarray.scalar(dtype(code), bytes): name them by their type.
_NUMPY_CODES = {
    "f8": "float64", "f4": "float32", "f2": "float16", "i8": "int64", "i4": "int32",
    "i2": "int16", "i1": "int8", "u8": "uint64", "u4": "uint32", "u2": "uint16",
    "u1": "uint8", "b1": "bool", "c16": "complex128", "c8": "complex64",
}  # fmt: skip
_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
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
    if key in {f"{m}.scalar" for m in _NUMPY_MULTIARRAY}:
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

    def attributes(self) -> dict[str, object]:
        """The state as attributes, where it is a dict (``__dict__``, or ``(dict, slots)``)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[str, object] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update((k, v) for k, v in part.items() if isinstance(k, str))
            return merged
        if isinstance(state, dict):
            return {k: v for k, v in state.items() if isinstance(k, str)}
        return {}


MAX_PLACEHOLDER_TYPES = 10_000  # distinct globals one file may name


class _BoundedStream:
    """A pickle's bytes, each read checked against what remains before it happens."""

    __slots__ = ("_file", "remaining")

    def __init__(self, file: IO[bytes], remaining: int) -> None:
        self._file = file
        self.remaining = remaining

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self.remaining
        if n > self.remaining:
            raise Corrupt(
                f"a value of {n:,} bytes where only {self.remaining:,} remain in the stream"
            )
        data = self._file.read(n)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = len(buffer)
        buffer[:n] = self.read(n)
        return n

    def readline(self) -> bytes:
        data = self._file.readline(self.remaining)
        self.remaining -= len(data)
        return data


class ShapeUnpickler(pickle._Unpickler):
    """Resolves weight globals to recorders, others to placeholders; dangerous ones refuse."""

    def __init__(
        self,
        file: IO[bytes],
        storage: StorageLoader | None,
        *,
        script: bool = False,
        size: int | None = None,
    ) -> None:
        super().__init__(_BoundedStream(file, _remaining(file) if size is None else size))
        self._storage = storage
        self._script = script
        self._script_classes: dict[str, type[ScriptObject]] = {}
        self._placeholders: dict[str, type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}.{name}"
        found = _SAFE_GLOBALS.get(key)
        if found is None and self._script:
            found = _SCRIPT_GLOBALS.get(key)
        if found is not None:
            return _Call(found) if isinstance(found, FunctionType) else found
        if self._script:
            if module == "__torch__" or module.startswith("__torch__."):
                # A recorder standing in for the class: its code is never looked at.
                cls = self._script_classes.get(key)
                if cls is None:
                    cls = type(name, (ScriptObject,), {"torch_class": key})
                    self._script_classes[key] = cls
                return cls
            raise Refused(f"a reference to {short_repr(key)}")
        if dangerous(module, name):
            raise Refused(f"a call to {short_repr(key)}", runs_code=True)
        holder = self._placeholders.get(key)
        if holder is None:
            if len(self._placeholders) >= MAX_PLACEHOLDER_TYPES:
                raise Corrupt(f"more than {MAX_PLACEHOLDER_TYPES:,} distinct types")
            # A fresh class per global (never the module's), so BUILD on it reaches nothing.
            holder = type("Placeholder", (Placeholder,), {"__slots__": (), "key": key})
            self._placeholders[key] = holder
        return holder

    def persistent_load(self, pid: Any) -> Any:
        if self._storage is None:
            raise Corrupt("a persistent id outside a torch checkpoint")
        if not isinstance(pid, tuple) or not pid:
            raise Corrupt(f"an invalid persistent id {short_repr(pid)}")
        if pid[0] != "storage":
            if pid[0] == "module":
                raise Refused("a whole pickled nn.Module with its source code")
            raise Refused(f"a persistent object of type {short_repr(pid[0])}")
        return self._storage(pid)


def storage_record(pid: tuple[object, ...]) -> tuple[str, str, int]:
    """A persistent id's storage key, dtype and element count (bytes when untyped)."""
    if len(pid) < 5:
        raise Corrupt(f"an invalid storage record {short_repr(pid)}")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(storage_type, _StorageType):
        raise Corrupt(f"a storage of unknown type {short_repr(storage_type)}")
    if not isinstance(key, str) or not is_size(numel) or numel >= 2**63:  # type: ignore[operator]
        raise Corrupt(f"an invalid storage record {short_repr(pid)}")
    assert isinstance(numel, int)
    return key, storage_type.dtype or "uint8", numel


def unpickle(
    path: str,
    file: IO[bytes],
    storage: StorageLoader | None,
    *,
    script: bool = False,
    what: str = "the pickle",
    size: int | None = None,
) -> object:
    """Run the restricted unpickler, turning every failure into one ``CheckpointError``."""
    try:
        return ShapeUnpickler(file, storage, script=script, size=size).load()
    except Refused as exc:
        if script:
            raise  # the TorchScript reader words its own refusal
        raise _refusal(path, exc) from None
    except Corrupt as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint: {what} describes {exc}") from None
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{path}: corrupt checkpoint: {what} nests too deeply") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        struct.error,
        OverflowError,
        MemoryError,
        zipfile.BadZipFile,
        zlib.error,
        OSError,
    ) as exc:
        reason = str(exc) or type(exc).__name__
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint: {what} cannot be read ({reason})"
        ) from None


def _remaining(file: IO[bytes]) -> int:
    """Bytes from the current position to the end of a seekable file."""
    here = file.tell()
    end = file.seek(0, 2)
    file.seek(here)
    return end - here


def _refusal(path: str, exc: Refused) -> CheckpointError:
    if exc.runs_code:
        return CheckpointError(
            f"{path}: refused: the file holds {exc.what}, which would run code if the file "
            f"were fully unpickled (nothing from it was run); {_TRUST_HINT}"
        )
    return CheckpointError(
        f"{path}: refused: the file holds {exc.what}, not only plain weights; reading it "
        f"would need full unpickling, which can run code from the file (nothing from it was "
        f"run); {_TRUST_HINT}"
    )
