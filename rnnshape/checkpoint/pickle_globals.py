"""What each global a pickle names resolves to: a recorder of ours for what weights need, a
refusal for anything that would load, deserialise, compile, evaluate or otherwise run code,
and (in ``unpickler``) an inert placeholder for everything else.

The recorders are made afresh for every file (``fresh_globals``): nothing one file does to
what it is handed can reach the next file read in the same process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import TypeGuard

from .file_text import file_repr
from .pickle_records import (
    Corrupt,
    FileDict,
    FileSet,
    Placeholder,
    Refused,
    SkippedData,
    Storage,
    StorageType,
    TensorClass,
    TorchDtype,
)
from .records import ITEMSIZE, MAX_DIMS, TensorInfo, is_size

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
        raise Corrupt(f"a tensor of invalid size {file_repr(size)}")
    if not _bounded_ints(stride) or len(stride) != len(size) or not _bounded_ints((offset,)):
        raise Corrupt(f"a tensor of size {file_repr(size)} with invalid stride {file_repr(stride)}")
    assert isinstance(offset, int)
    dtype = dtype or storage.dtype
    numel = storage.numel
    if storage.dtype == "uint8" and dtype != "uint8" and dtype in ITEMSIZE:
        numel = storage.numel // ITEMSIZE[dtype]  # an untyped storage counts bytes
    if math.prod(size) > 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= numel:
            raise Corrupt(
                f"a tensor of size {size} reaches element {last} of storage "
                f"{file_repr(storage.key)}, which holds {numel}"
            )
    return TensorInfo(tuple(size), dtype)


def _bounded_ints(values: object) -> TypeGuard[tuple[int, ...]]:
    """A tuple of at most ``MAX_DIMS`` sizes, each below 2**63, as torch can hold."""
    return (
        isinstance(values, tuple)
        and len(values) <= MAX_DIMS
        and all(is_size(n) and n < 2**63 for n in values)
    )


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
    if not isinstance(dtype, TorchDtype):
        raise Corrupt(f"a tensor of unknown dtype {file_repr(dtype)}")
    return _rebuild_tensor(storage, offset, size, stride, dtype.name)


def _rebuild_parameter(data: object, *_: object) -> object:
    return data


def _rebuild_from_type(func: object, new_type: object, args: object, state: object) -> object:
    if not isinstance(new_type, TensorClass) or not callable(func):
        name = (
            new_type.key
            if isinstance(new_type, type) and issubclass(new_type, Placeholder)
            else file_repr(new_type)
        )
        raise Refused(f"a tensor subclass ({file_repr(name)})")
    if not isinstance(args, tuple):
        raise Corrupt("a tensor rebuilt from invalid arguments")
    return func(*args)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes | SkippedData:
    # Protocol 2 pickles bytes as _codecs.encode(str, "latin1"); nothing else is needed.
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise Refused("_codecs.encode with an unusual codec")
    if isinstance(text, SkippedData):
        return SkippedData("bytes", text.size)  # a long text read past stays read past
    if not isinstance(text, str):
        raise Refused("_codecs.encode of something other than text")
    return text.encode(str(encoding))


def _device(*args: object) -> str:
    parts = [a for a in args if isinstance(a, str) or (is_size(a) and a < 2**31)]  # type: ignore[operator]
    if len(parts) != len(args):
        raise Corrupt(f"an invalid torch.device{file_repr(args)}")
    return ":".join(map(str, parts))


def _size(*args: object) -> tuple[object, ...]:
    """``torch.Size(sizes)``: a tuple of what the file built, never an iteration of text."""
    if not args:
        return ()
    if len(args) != 1 or not isinstance(args[0], (tuple, list)):
        raise Corrupt(f"an invalid torch.Size{file_repr(args)}")
    return tuple(args[0])


def _pairs_dict(*args: object) -> FileDict:
    """``OrderedDict()`` or ``OrderedDict([(key, value), ...])``, keyed as files are."""
    out = FileDict(ordered=True)
    if not args:
        return out
    if len(args) != 1 or not isinstance(args[0], (list, tuple)):
        raise Corrupt(f"an invalid OrderedDict{file_repr(args)}")
    for pair in args[0]:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise Corrupt(f"an invalid OrderedDict item {file_repr(pair)}")
        out[pair[0]] = pair[1]
    return out


def _file_set(*args: object) -> FileSet:
    """``set(items)`` or ``frozenset(items)`` as a list: nothing the file built is hashed."""
    if not args:
        return FileSet()
    if len(args) != 1 or not isinstance(args[0], (list, tuple)):
        raise Corrupt(f"an invalid set{file_repr(args)}")
    return FileSet(args[0])


def _complex(real: object = 0.0, imag: object = 0.0) -> complex:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (real, imag)):
        raise Corrupt(f"an invalid complex{file_repr((real, imag))}")
    assert isinstance(real, (int, float)) and isinstance(imag, (int, float))
    return complex(real, imag)


def _passthrough(value: object, *_: object) -> object:
    return value


class _Call:
    """A fresh callable per file: a pickle may hand it around, never reach our function."""

    __slots__ = ("_func",)

    def __init__(self, func: Callable[..., object]) -> None:
        self._func = func

    def __call__(self, *args: object) -> object:
        return self._func(*args)


_FUNCTIONS: dict[str, Callable[..., object]] = {
    "collections.OrderedDict": _pairs_dict,
    "builtins.set": _file_set,
    "builtins.frozenset": _file_set,
    "builtins.complex": _complex,
    "_codecs.encode": _codecs_encode,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type,
    "torch.Size": _size,
    "torch.device": _device,
}
# TorchScript's data.pkl wraps typed lists and attributes in these (torch/jit/_pickle.py).
_SCRIPT_FUNCTIONS: dict[str, Callable[..., object]] = {
    "torch.jit._pickle.restore_type_tag": _passthrough,
    "torch.jit._pickle.build_intlist": _passthrough,
    "torch.jit._pickle.build_tensorlist": _passthrough,
    "torch.jit._pickle.build_doublelist": _passthrough,
    "torch.jit._pickle.build_boollist": _passthrough,
}


def fresh_globals(script: bool) -> dict[str, object]:
    """The globals weights need, each one made for this file alone."""
    found: dict[str, object] = {key: _Call(f) for key, f in _FUNCTIONS.items()}
    if script:
        found |= {key: _Call(f) for key, f in _SCRIPT_FUNCTIONS.items()}
    found |= {
        "torch.Tensor": TensorClass("Tensor"),
        "torch._tensor.Tensor": TensorClass("Tensor"),
        "torch.nn.parameter.Parameter": TensorClass("Parameter"),
        "torch.storage.UntypedStorage": StorageType(None),
    }
    found |= {f"torch.{name}": StorageType(dtype) for name, dtype in _STORAGE_DTYPE.items()}
    found |= {f"torch.{name}": TorchDtype(name) for name in _DTYPE_NAMES}
    return found


# Globals that load, deserialise, compile, evaluate or otherwise run code when fully
# unpickled, beyond picklescan's list: a dotted module (or module.name) -> names, "*" for
# all of it and its submodules. picklescan's list covers os, posix, subprocess, runpy,
# pickle, webbrowser, ctypes, builtins.exec/eval/getattr, ...
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
    "operator": "*", "_operator": "*", "functools": frozenset({"partial", "reduce"}),
    "inspect": "*", "pdb": "*", "timeit": "*", "asyncio": "*", "platform": "*",
    "tempfile": "*", "pydoc": "*", "io": frozenset({"open", "open_code", "FileIO"}),
    "_io": "*", "shelve": "*", "dbm": "*", "ast": "*", "jsonpickle": "*", "pickletools": "*",
    "copyreg": frozenset({"_reconstructor_unsafe"}), "zipimport": "*", "pkgutil": "*",
    "ensurepip": "*", "venv": "*", "threading": "*", "_thread": "*", "signal": "*",
    "gc": "*", "weakref": "*", "atexit": "*", "ctypes.util": "*", "cffi": "*",
    "torch.serialization": "*", "torch.hub": "*", "torch.package": "*", "torch.fx": "*",
    "torch.jit": "*", "torch._C": "*", "torch.ops": "*", "torch._ops": "*",
    "torch._dynamo": "*", "torch._inductor": "*", "torch._export": "*", "torch.export": "*",
    "torch.compiler": "*", "torch.utils.cpp_extension": "*", "torch.utils.data.datapipes": "*",
    "torch.distributed.rpc": "*", "torch.multiprocessing": "*",
    "torch.library": "*", "torch._library": "*", "torch.testing": "*",
    "numpy.lib.npyio": "*", "numpy.lib.format": "*", "numpy.ctypeslib": "*",
    "numpy.distutils": "*", "numexpr": "*", "sympy.parsing": "*", "IPython": "*",
    "pandas.io": "*", "h5py": "*", "tensorflow": "*", "keras": "*", "onnx": "*",
    "yaml": "*", "jinja2": "*", "mako": "*", "dask": "*",
}  # fmt: skip

# Any global whose name (or a dotted part of it) says it loads, deserialises, compiles,
# evaluates or runs something, wherever it lives: numpy.load, torch.load, yaml.unsafe_load,
# pandas.read_pickle, sympy.sympify, torch.fx's reduce_graph_module, x.from_pretrained, ...
_ACTING = re.compile(
    r"(?:^|_)(?:load|loads|unsafe|unpickle|unmarshal|deseriali[sz]e|eval|evaluate|exec|"
    r"execute|compile|sympify|parse|lambdify|import|subimport|spawn|popen|system|run|call|"
    r"invoke|apply|open|read|fromfile|memmap|mmap|reduce|pretrained|write|unlink|remove|"
    r"rmdir|rmtree|rename|replace|chmod|symlink|touch|mkdir|getattr|setattr|attrgetter|"
    r"itemgetter|methodcaller|connect|request|fetch|download|urlopen)(?:_|\d|$)",
    re.IGNORECASE,
)


@cache
def _dangerous_tables() -> tuple[Mapping[str, object], ...]:
    """picklescan's maintained list (read only when a file names an unknown global) and ours."""
    try:
        from picklescan import scanner  # type: ignore[import-untyped]  # ~30 ms, only here

        maintained = getattr(scanner, "_unsafe_globals", None)
    except ImportError:  # pragma: no cover - a dependency; _MORE_DANGEROUS still applies
        maintained = None
    tables: list[Mapping[str, object]] = [_MORE_DANGEROUS]
    if isinstance(maintained, Mapping):
        # Its entries are "*", a set of names, or one name as a bare string.
        tables.append(
            {
                str(module): names if names == "*" or not isinstance(names, str) else {names}
                for module, names in maintained.items()
            }
        )
    return tuple(tables)


def dangerous(module: str, name: str) -> bool:
    """Whether fully unpickling ``module.name`` would load, deserialise, compile, evaluate or
    run anything: picklescan's maintained list, ours, and a rule on the words of the name."""
    dotted = f"{module}.{name}"
    parts = dotted.split(".")
    words = name.split(".")
    if any(part.startswith("_") and part != "__main__" for part in words[1:]):
        return True  # a private method reached through a dotted name
    if any(_ACTING.search(word) for word in words):
        return True
    for table in _dangerous_tables():
        # Every dotted prefix: "numpy.load" as a module entry matches numpy's load too.
        for i in range(len(parts), 0, -1):
            names = table.get(".".join(parts[:i]))
            if names is None:
                continue
            if names == "*":
                return True
            if i == len(parts) - len(words) and isinstance(names, (set, frozenset)):
                if name in names or words[0] in names:
                    return True
    return False
