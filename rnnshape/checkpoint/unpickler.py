"""The restricted unpickler: it reads plain weights and refuses everything else.

Every pickle goes through ``ShapeUnpickler``, which resolves only the handful of globals
that plain weights need, and resolves each to a recorder of ours: a tensor becomes a
``TensorInfo`` built from its storage record, and no tensor data is read. Any other global
(a class, ``os.system``, ...) refuses the whole file. Nothing from a file is ever imported
or called.
"""

from __future__ import annotations

import math
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import IO, Any

from .model import ITEMSIZE, CheckpointError, TensorInfo, is_size

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

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


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
    if not isinstance(size, tuple) or not all(is_size(n) for n in size):
        raise Corrupt(f"a tensor of invalid size {size!r}")
    if not isinstance(stride, tuple) or len(stride) != len(size) or not is_size(offset):
        raise Corrupt(f"a tensor of size {size!r} with invalid stride {stride!r}")
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
        raise Corrupt(f"a tensor of unknown dtype {dtype!r}")
    return _rebuild_tensor(storage, offset, size, stride, dtype.name)


def _rebuild_parameter(data: object, *_: object) -> object:
    return data


def _rebuild_from_type(func: object, new_type: object, args: object, state: object) -> object:
    if not isinstance(new_type, _TensorClass) or not callable(func):
        raise Refused(f"a tensor subclass ({new_type!r})")
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


class ShapeUnpickler(pickle.Unpickler):
    """Resolves plain-weights globals to recorders; any other global raises ``Refused``."""

    def __init__(
        self, file: IO[bytes], storage: StorageLoader | None, *, script: bool = False
    ) -> None:
        super().__init__(file)
        self._storage = storage
        self._script = script
        self._script_classes: dict[str, type[ScriptObject]] = {}

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
        raise Refused(f"a reference to {key}")

    def persistent_load(self, pid: Any) -> Any:
        if self._storage is None:
            raise Corrupt("a persistent id outside a torch checkpoint")
        if not isinstance(pid, tuple) or not pid:
            raise Corrupt(f"an invalid persistent id {pid!r}")
        if pid[0] != "storage":
            if pid[0] == "module":
                raise Refused("a whole pickled nn.Module with its source code")
            raise Refused(f"a persistent object of type {pid[0]!r}")
        return self._storage(pid)


def storage_record(pid: tuple[object, ...]) -> tuple[str, str, int]:
    """A persistent id's storage key, dtype and element count (bytes when untyped)."""
    if len(pid) < 5:
        raise Corrupt(f"an invalid storage record {pid!r}")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(storage_type, _StorageType):
        raise Corrupt(f"a storage of unknown type {storage_type!r}")
    if not isinstance(key, str) or not is_size(numel):
        raise Corrupt(f"an invalid storage record {pid!r}")
    assert isinstance(numel, int)
    return key, storage_type.dtype or "uint8", numel


def unpickle(
    path: str,
    file: IO[bytes],
    storage: StorageLoader | None,
    *,
    script: bool = False,
    what: str = "the pickle",
) -> object:
    """Run the restricted unpickler, turning every failure into one ``CheckpointError``."""
    try:
        return ShapeUnpickler(file, storage, script=script).load()
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


def _refusal(path: str, exc: Refused) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused: the file holds {exc.what}, not only plain weights; reading it "
        f"would need full unpickling, which can run code from the file (nothing from it was "
        f"run); {_TRUST_HINT}"
    )
