"""Read tensor names, shapes and dtypes from a checkpoint without loading its weights.

Formats are recognised by content, never by suffix: a safetensors file (its JSON header),
a torch zip checkpoint or TorchScript archive (a zip holding ``data.pkl``), and torch's
legacy pickle format (a pickle that starts with torch's magic number).

Nothing here unpickles arbitrary objects. Every pickle goes through ``_ShapeUnpickler``,
which resolves only the handful of globals that plain weights need, and resolves each to
a recorder of ours: a tensor becomes a ``TensorInfo`` built from its storage record, and no
tensor data is read. Any other global (a class, ``os.system``, ...) refuses the whole file.
torch itself is imported only for ``--trust-torchscript``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import stat
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import FunctionType
from typing import IO, Any, NoReturn

from rnnshape.errors import RnnShapeError

# torch.save's legacy format starts with this number, pickled (torch/serialization.py).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# safetensors refuses headers above 100 MB; anything larger is not a real header.
SAFETENSORS_MAX_HEADER = 100_000_000
_MAX_DEPTH = 64  # how deep wrapped state dicts are looked for

ITEMSIZE: dict[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "complex128": 16, "complex64": 8, "complex32": 4,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1,
    "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1,
    "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e5m2": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1, "qint8": 1, "qint32": 4, "quint8": 1, "quint4x2": 1, "quint2x4": 1,
}  # fmt: skip

# torch's typed storage classes, as they appear in a pickle (torch.storage's map).
_STORAGE_DTYPE = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8", "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}  # fmt: skip

_SAFETENSORS_DTYPE = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "E8M0": "float8_e8m0fnu",
    "C64": "complex64", "C128": "complex128",
}  # fmt: skip

# torch dtypes that a pickle may name (``torch.float16``) for _rebuild_tensor_v3.
_DTYPE_NAMES = frozenset(ITEMSIZE) | {"int4", "uint4", "bits8", "bits16", "float4_e2m1fn_x2"}

_TRUST_HINT = (
    "if you trust where it came from, load it in Python and save model.state_dict() with "
    "torch.save or safetensors, then run rnnshape infer on that"
)


class CheckpointFormat(str, Enum):
    """How the file stores its tensors, as the JSON ``format`` names it."""

    TORCH = "torch"
    SAFETENSORS = "safetensors"
    TORCHSCRIPT = "torchscript"


class CheckpointError(RnnShapeError):
    """The file cannot be read as a checkpoint (missing, corrupt, unknown or refused)."""


@dataclass(frozen=True)
class TensorInfo:
    """What the file says about one tensor: its shape and dtype (torch's name)."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class StateDict:
    """Tensors by name as ``load_state_dict`` would see them, and where the dict sits.

    ``container`` is the dotted path of keys to the dict (``"model"``,
    ``"checkpoint.ema"``), or None when the tensors are at the top of the file.
    """

    container: str | None
    tensors: Mapping[str, TensorInfo]


@dataclass(frozen=True)
class Checkpoint:
    """Every state dict found in one file."""

    path: str
    format: CheckpointFormat
    state_dicts: tuple[StateDict, ...]

    @property
    def num_tensors(self) -> int:
        return sum(len(sd.tensors) for sd in self.state_dicts)


def read_checkpoint(path: str, *, trust_torchscript: bool = False) -> Checkpoint:
    """Recognise the file's format by content and read its tensors' names and shapes."""
    size = _file_size(path)
    if size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":
        # A u64 header length then JSON: no zip or pickle has '{' at byte 8.
        return _read_safetensors(path, size)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _read_zip(path, trust_torchscript)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return _read_pickle(path, size)
    raise CheckpointError(
        f"{path}: unknown format: not a torch checkpoint, TorchScript archive or safetensors "
        f"file (it starts with bytes {head[:8].hex(' ')})"
    )


def _file_size(path: str) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: permission denied")
    return info.st_size


# --- safetensors -------------------------------------------------------------------------


def _read_safetensors(path: str, size: int) -> Checkpoint:
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > SAFETENSORS_MAX_HEADER:
            raise CheckpointError(
                f"{path}: corrupt safetensors file: its header declares {length:,} bytes, "
                f"an absurd length (at most {SAFETENSORS_MAX_HEADER:,}) for a file of "
                f"{size:,} bytes"
            )
        if length > size - 8:
            raise CheckpointError(
                f"{path}: truncated safetensors file: its header declares {length:,} bytes, "
                f"but only {size - 8:,} follow"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header: not a JSON object")
    data_size = size - 8 - length
    tensors: dict[str, TensorInfo] = {}
    end_max = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        info, end = _safetensors_entry(path, name, entry)
        tensors[name] = info
        end_max = max(end_max, end)
    if end_max > data_size:
        raise CheckpointError(
            f"{path}: truncated safetensors file: the header places data up to byte "
            f"{end_max:,} of the data section, which holds only {data_size:,} bytes"
        )
    return Checkpoint(path, CheckpointFormat.SAFETENSORS, (StateDict(None, tensors),))


def _safetensors_entry(path: str, name: str, entry: object) -> tuple[TensorInfo, int]:
    def corrupt(why: str) -> NoReturn:
        raise CheckpointError(f"{path}: corrupt safetensors header: tensor {name!r} {why}")

    if not isinstance(entry, dict):
        corrupt("is not described by an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        corrupt("has no dtype")
    if not isinstance(shape, list) or not all(_is_size(n) for n in shape):
        corrupt(f"has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_size(n) for n in offsets)
        or offsets[0] > offsets[1]
    ):
        corrupt(f"has invalid data_offsets {offsets!r}")
    torch_dtype = _SAFETENSORS_DTYPE.get(dtype, dtype.lower())
    itemsize = ITEMSIZE.get(torch_dtype)
    nbytes = offsets[1] - offsets[0]
    if itemsize is not None and nbytes != math.prod(shape) * itemsize:
        corrupt(
            f"of shape {tuple(shape)} and dtype {dtype} needs "
            f"{math.prod(shape) * itemsize:,} bytes, its data_offsets span {nbytes:,}"
        )
    return TensorInfo(tuple(shape), torch_dtype), offsets[1]


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- the restricted unpickler --------------------------------------------------------------


class _Refused(Exception):
    """The pickle needs something other than plain weights: the file is refused."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Corrupt(Exception):
    """The pickle is well-formed but describes impossible tensors or storages."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    """``torch.FloatStorage`` and the like; ``dtype`` None for ``UntypedStorage`` (bytes)."""

    dtype: str | None


@dataclass(frozen=True, slots=True)
class _Storage:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True, slots=True)
class _TorchDtype:
    name: str


@dataclass(frozen=True, slots=True)
class _TensorClass:
    """``torch.Tensor`` or ``torch.nn.Parameter`` named by ``_rebuild_from_type_v2``."""

    name: str


class _ScriptObject:
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
    if not isinstance(storage, _Storage):
        raise _Corrupt("a tensor without a storage record")
    if not isinstance(size, tuple) or not all(_is_size(n) for n in size):
        raise _Corrupt(f"a tensor of invalid size {size!r}")
    if not isinstance(stride, tuple) or len(stride) != len(size) or not _is_size(offset):
        raise _Corrupt(f"a tensor of size {size!r} with invalid stride {stride!r}")
    dtype = dtype or storage.dtype
    numel = storage.numel
    if storage.dtype == "uint8" and dtype != "uint8" and dtype in ITEMSIZE:
        numel = storage.numel // ITEMSIZE[dtype]  # an untyped storage counts bytes
    if math.prod(size) > 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= numel:
            raise _Corrupt(
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
        raise _Corrupt(f"a tensor of unknown dtype {dtype!r}")
    return _rebuild_tensor(storage, offset, size, stride, dtype.name)


def _rebuild_parameter(data: object, *_: object) -> object:
    return data


def _rebuild_from_type(func: object, new_type: object, args: object, state: object) -> object:
    if not isinstance(new_type, _TensorClass) or not callable(func):
        raise _Refused(f"a tensor subclass ({new_type!r})")
    if not isinstance(args, tuple):
        raise _Corrupt("a tensor rebuilt from invalid arguments")
    return func(*args)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    # Protocol 2 pickles bytes as _codecs.encode(str, "latin1"); nothing else is needed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise _Refused("_codecs.encode with an unusual codec")
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


class _ShapeUnpickler(pickle.Unpickler):
    """Resolves plain-weights globals to recorders; any other global raises ``_Refused``."""

    def __init__(
        self,
        file: IO[bytes],
        storage: Callable[[tuple[object, ...]], _Storage] | None,
        *,
        script: bool = False,
    ) -> None:
        super().__init__(file)
        self._storage = storage
        self._script = script
        self._script_classes: dict[str, type[_ScriptObject]] = {}

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
                    cls = type(name, (_ScriptObject,), {"torch_class": key})
                    self._script_classes[key] = cls
                return cls
        raise _Refused(f"a reference to {key}")

    def persistent_load(self, pid: Any) -> Any:
        if self._storage is None:
            raise _Corrupt("a persistent id outside a torch checkpoint")
        if not isinstance(pid, tuple) or not pid:
            raise _Corrupt(f"an invalid persistent id {pid!r}")
        if pid[0] != "storage":
            if pid[0] == "module":
                raise _Refused("a whole pickled nn.Module with its source code")
            raise _Refused(f"a persistent object of type {pid[0]!r}")
        return self._storage(pid)


def _storage_record(pid: tuple[object, ...]) -> tuple[str, str, int]:
    if len(pid) < 5:
        raise _Corrupt(f"an invalid storage record {pid!r}")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(storage_type, _StorageType):
        raise _Corrupt(f"a storage of unknown type {storage_type!r}")
    if not isinstance(key, str) or not _is_size(numel):
        raise _Corrupt(f"an invalid storage record {pid!r}")
    assert isinstance(numel, int)
    return key, storage_type.dtype or "uint8", numel


def _unpickle(
    path: str,
    file: IO[bytes],
    storage: Callable[[tuple[object, ...]], _Storage] | None,
    *,
    script: bool = False,
    what: str = "the pickle",
) -> object:
    """Run the restricted unpickler, turning every failure into one ``CheckpointError``."""
    try:
        return _ShapeUnpickler(file, storage, script=script).load()
    except _Refused as exc:
        if script:
            raise  # the TorchScript reader words its own refusal
        raise _refusal(path, exc) from None
    except _Corrupt as exc:
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


def _refusal(path: str, exc: _Refused) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused: the file holds {exc.what}, not only plain weights; reading it "
        f"would need full unpickling, which can run code from the file (nothing from it was "
        f"run); {_TRUST_HINT}"
    )


# --- torch zip checkpoints and TorchScript archives --------------------------------------


def _read_zip(path: str, trust_torchscript: bool) -> Checkpoint:
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_archive(path, archive, trust_torchscript)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated zip archive ({exc})") from None


def _read_archive(path: str, archive: zipfile.ZipFile, trust_torchscript: bool) -> Checkpoint:
    entries = {info.filename: info for info in archive.infolist()}
    names = list(entries)
    # torch writes everything under one folder, named after the file when it was saved.
    pickles = [
        n for n in names if n == "data.pkl" or (n.endswith("/data.pkl") and n.count("/") == 1)
    ]
    if not pickles:
        raise CheckpointError(
            f"{path}: unknown format: a zip archive, but not a torch checkpoint or TorchScript "
            "archive (it has no data.pkl)"
        )
    base = pickles[0].removesuffix("data.pkl")
    script = f"{base}constants.pkl" in entries or any(n.startswith(f"{base}code/") for n in names)

    def storage(pid: tuple[object, ...]) -> _Storage:
        key, dtype, numel = _storage_record(pid)
        entry = entries.get(f"{base}data/{key}")
        if entry is None:
            raise _Corrupt(f"storage {key}, which the archive does not hold (data/{key})")
        need = numel * ITEMSIZE.get(dtype, 1)
        if entry.file_size < need:
            raise _Corrupt(
                f"storage {key} of {need:,} bytes, but data/{key} holds {entry.file_size:,}"
            )
        return _Storage(key, dtype, numel)

    with archive.open(f"{base}data.pkl") as f:
        try:
            obj = _unpickle(path, f, storage, script=script, what="data.pkl")
        except _Refused as exc:
            if trust_torchscript:
                return _read_torchscript_trusted(path)
            raise CheckpointError(
                f"{path}: cannot read this TorchScript archive without running its code "
                f"(data.pkl holds {exc.what}); pass --trust-torchscript to load it with "
                "torch.jit.load if you trust where it came from"
            ) from None
    if script:
        tensors: dict[str, TensorInfo] = {}
        _collect_script(obj, "", tensors, set(), 0)
        return Checkpoint(path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),))
    return Checkpoint(path, CheckpointFormat.TORCH, tuple(find_state_dicts(obj)))


def _collect_script(
    obj: object, prefix: str, out: dict[str, TensorInfo], seen: set[int], depth: int
) -> None:
    """A scripted module's tensors by dotted name: its attributes, submodules recursively."""
    if not isinstance(obj, _ScriptObject) or id(obj) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(obj))
    if not isinstance(obj.state, dict):
        return
    for name, value in obj.state.items():
        if not isinstance(name, str):
            continue
        if isinstance(value, TensorInfo):
            out[f"{prefix}{name}"] = value
        elif isinstance(value, _ScriptObject):
            _collect_script(value, f"{prefix}{name}.", out, seen, depth + 1)


def _read_torchscript_trusted(path: str) -> Checkpoint:
    """``--trust-torchscript``: let torch load the archive (it runs the archive's code)."""
    import torch

    try:
        module = torch.jit.load(path, map_location="cpu")
        tensors = {
            name: TensorInfo(tuple(t.shape), str(t.dtype).removeprefix("torch."))
            for name, t in module.state_dict().items()
        }
    except Exception as exc:  # torch raises many types for a bad archive
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
        raise CheckpointError(f"{path}: torch.jit.load failed: {reason}") from None
    return Checkpoint(path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),))


# --- legacy torch pickles ----------------------------------------------------------------


def _read_pickle(path: str, size: int) -> Checkpoint:
    with open(path, "rb") as f:
        magic = _unpickle(path, f, None, what="the first pickle")
        if magic != LEGACY_MAGIC:
            raise CheckpointError(
                f"{path}: unknown format: a Python pickle, not a torch checkpoint (torch.save "
                "writes a zip archive, or in its legacy format a pickle that starts with "
                "torch's magic number)"
            )
        return _read_legacy(path, f, size)


def _read_legacy(path: str, f: IO[bytes], size: int) -> Checkpoint:
    version = _unpickle(path, f, None, what="the protocol version")
    if version != LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: unsupported legacy torch protocol version {version!r}")
    sys_info = _unpickle(path, f, None, what="the system info")
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True) is not False
    storages: dict[str, _Storage] = {}

    def storage(pid: tuple[object, ...]) -> _Storage:
        key, dtype, numel = _storage_record(pid)
        view = pid[5] if len(pid) > 5 else None
        found = storages.setdefault(key, _Storage(key, dtype, numel))
        if view is not None:
            # (view key, offset, size): a view into the storage, as old torch wrote it.
            if not isinstance(view, tuple) or len(view) != 3:
                raise _Corrupt(f"an invalid storage view {view!r}")
            view_key, _offset, view_size = view
            if not _is_size(view_size):
                raise _Corrupt(f"an invalid storage view {view!r}")
            assert isinstance(view_size, int)
            return _Storage(str(view_key), dtype, view_size)
        return found

    obj = _unpickle(path, f, storage, what="the state")
    keys = _unpickle(path, f, None, what="the storage list")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError(f"{path}: corrupt checkpoint: invalid storage list")
    _check_legacy_storages(path, f, size, keys, storages, little)
    return Checkpoint(path, CheckpointFormat.TORCH, tuple(find_state_dicts(obj)))


def _check_legacy_storages(
    path: str,
    f: IO[bytes],
    size: int,
    keys: list[str],
    storages: Mapping[str, _Storage],
    little: bool,
) -> None:
    """Walk the raw storages that follow the pickles (a count, then the bytes) by seeking."""
    missing = sorted(set(storages) - set(keys))
    if missing:
        raise CheckpointError(f"{path}: corrupt checkpoint: storage {missing[0]} is not stored")
    position = f.tell()
    for key in keys:
        f.seek(position)
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(
                f"{path}: truncated checkpoint: the data of storage {key} is missing"
            )
        (numel,) = struct.unpack("<q" if little else ">q", raw)
        record = storages.get(key)
        dtype = record.dtype if record else "uint8"
        if numel < 0 or (record is not None and numel != record.numel):
            raise CheckpointError(f"{path}: corrupt checkpoint: storage {key} has a bad size")
        position += 8 + numel * ITEMSIZE.get(dtype, 1)
        if position > size:
            raise CheckpointError(
                f"{path}: truncated checkpoint: storage {key} ends at byte {position:,}, "
                f"the file has {size:,}"
            )


# --- finding state dicts -----------------------------------------------------------------


def find_state_dicts(obj: object) -> Iterator[StateDict]:
    """Every dict holding tensors under string keys, at any depth of dicts and lists."""
    yield from _walk(obj, (), set(), 0)


def _walk(obj: object, path: tuple[str, ...], seen: set[int], depth: int) -> Iterator[StateDict]:
    if depth > _MAX_DEPTH or id(obj) in seen:
        return
    if isinstance(obj, Mapping):
        seen.add(id(obj))
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, TensorInfo)}
        if tensors:
            yield StateDict(".".join(path) or None, tensors)
        for key, value in obj.items():
            if isinstance(value, (Mapping, list, tuple)):
                yield from _walk(value, (*path, str(key)), seen, depth + 1)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for index, value in enumerate(obj):
            if isinstance(value, (Mapping, list, tuple)):
                yield from _walk(value, (*path, str(index)), seen, depth + 1)
