"""The restricted unpickler: it reads weights and records everything else, running nothing.

Every pickle goes through ``ShapeUnpickler``, which resolves the handful of globals that
weights need to recorders of ours (``pickle_globals``): a tensor becomes a ``TensorInfo``
built from its storage record, and no tensor data is read. Any other global
(``argparse.Namespace``, a numpy scalar, a user's dataclass) becomes an inert
``Placeholder`` class: its module is never imported, and constructing, calling, setting the
state of or adding items to it only records references. A global that would load,
deserialise, compile, evaluate or run code refuses the whole file, naming it.

The unpickler is pickle's pure-Python one, with the opcodes that could cost more than the
file changed: its memo is a dict (the C one allocates an array as long as the largest index
a file names); every read is checked against what remains of the stream before it happens;
long bytes and text are read past in bounded chunks, never held; dicts and sets never hash
what the file chose (``pickle_records``); BUILD reaches only the records meant for it; and
call arguments must be tuples (``*"9 MiB of text"`` would be 9 million arguments).
"""

from __future__ import annotations

import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

from .file_text import file_repr, file_str
from .pickle_globals import dangerous, fresh_globals
from .pickle_records import (
    Corrupt,
    FileDict,
    FileSet,
    Placeholder,
    Refused,
    ScriptObject,
    SkippedData,
    Storage,
    StorageType,
)
from .records import CheckpointError, is_size

__all__ = [
    "Corrupt",
    "Placeholder",
    "Refused",
    "ScriptObject",
    "ShapeUnpickler",
    "Storage",
    "StorageLoader",
    "dangerous",
    "storage_record",
    "unpickle",
]

StorageLoader = Callable[[tuple[object, ...]], Storage]

_TRUST_HINT = (
    "if you trust where it came from, load it in Python and save model.state_dict() with "
    "torch.save or safetensors, then run rnnshape infer on that"
)

MAX_PLACEHOLDER_TYPES = 10_000  # distinct globals one file may name
MAX_GLOBAL_NAME = 1_000  # characters of a global's module and name together
KEEP_BYTES = 64 * 1024  # longer bytes values are read past (weights never need them)
KEEP_TEXT = 1024 * 1024  # longer text is read past too (no name is that long)
MAX_LINE = 64 * 1024  # a text opcode's line (protocol 0 names and numbers)
MAX_FRAME = 16 * 1024 * 1024  # pickle frames are ~64 KiB; a frame is read whole
MAX_LONG_BYTES = 8 * 1024  # an integer of 65,536 bits (LONG4)
MAX_MEMO_INDEX = 2**32 - 1  # what the binary opcodes can name; text PUT/GET alike
_CHUNK = 1024 * 1024
_U32, _U64, _I32 = struct.Struct("<I"), struct.Struct("<Q"), struct.Struct("<i")


class _BoundedStream:
    """A pickle's bytes, each read checked against what remains before it happens."""

    __slots__ = ("_file", "remaining")

    def __init__(self, file: IO[bytes], remaining: int) -> None:
        self._file = file
        self.remaining = remaining

    def check(self, n: int) -> None:
        if n > self.remaining:
            raise Corrupt(
                f"a value of {n:,} bytes where only {self.remaining:,} remain in the stream"
            )

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self.remaining
        self.check(n)
        data = self._file.read(n)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = len(buffer)
        buffer[:n] = self.read(n)
        return n

    def readline(self) -> bytes:
        data = self._file.readline(min(self.remaining, MAX_LINE + 1))
        self.remaining -= len(data)
        if len(data) > MAX_LINE:
            raise Corrupt(f"a text line longer than {MAX_LINE:,} bytes")
        return data


_D = pickle._Unpickler.dispatch
_OP = {
    name: code[0]
    for name, code in vars(pickle).items()
    if name.isupper() and isinstance(code, bytes) and len(code) == 1
}


class ShapeUnpickler(pickle._Unpickler):
    """Resolves weight globals to recorders, others to placeholders; dangerous ones refuse."""

    dispatch = dict(_D)
    # What pickle's pure-Python machine sets in load() (its stubs declare none of it).
    stack: list[Any]
    memo: dict[int, Any]
    append: Callable[[Any], None]
    read: Callable[[int], bytes]
    readline: Callable[[], bytes]
    pop_mark: Callable[[], list[Any]]
    _unframer: Any
    _decode_string: Callable[[bytes], Any]

    def __init__(
        self,
        file: IO[bytes],
        storage: StorageLoader | None,
        *,
        script: bool = False,
        size: int | None = None,
    ) -> None:
        self._stream = _BoundedStream(file, _remaining(file) if size is None else size)
        super().__init__(self._stream)
        self._storage = storage
        self._script = script
        self._globals = fresh_globals(script)  # this file's own: nothing is shared
        self._script_classes: dict[str, type[ScriptObject]] = {}
        self._placeholders: dict[str, type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if len(module) + len(name) > MAX_GLOBAL_NAME:
            raise Corrupt(f"a global named by {len(module) + len(name):,} characters")
        key = f"{module}.{name}"
        found = self._globals.get(key)
        if found is not None:
            return found
        if self._script:
            if module == "__torch__" or module.startswith("__torch__."):
                # A recorder standing in for the class: its code is never looked at.
                cls = self._script_classes.get(key)
                if cls is None:
                    cls = type(name, (ScriptObject,), {"torch_class": key})
                    self._script_classes[key] = cls
                return cls
            raise Refused(f"a reference to {file_str(key, 100)}")
        if dangerous(module, name):
            raise Refused(f"a call to {file_str(key, 100)}", runs_code=True)
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
            raise Corrupt(f"an invalid persistent id {file_repr(pid)}")
        if pid[0] != "storage":
            if pid[0] == "module":
                raise Refused("a whole pickled nn.Module with its source code")
            raise Refused(f"a persistent object of type {file_repr(pid[0])}")
        return self._storage(pid)

    # -- opcodes whose cost a file could choose ------------------------------------------

    def _payload(self, n: int, kind: str, keep: int) -> bytes | SkippedData:
        """``n`` bytes of the stream, or, past ``keep``, read in chunks and dropped."""
        if n <= keep:  # a short read fails in the stream's own check
            data: bytes = self.read(n)
            if len(data) != n:
                raise EOFError("the stream ended inside a value")
            return data
        self._check_available(n)
        left = n
        while left:
            step = min(left, _CHUNK)
            if len(self.read(step)) != step:
                raise EOFError("the stream ended inside a value")
            left -= step
        return SkippedData(kind, n)

    def _check_available(self, n: int) -> None:
        """Refuse at once a value longer than what is left (of the frame, or the stream)."""
        frame = self._unframer.current_frame
        if frame is not None:
            here = frame.tell()
            end = frame.seek(0, 2)
            frame.seek(here)
            if end > here:
                if n > end - here:
                    raise Corrupt(f"a value of {n:,} bytes in a frame of {end - here:,} left")
                return
        self._stream.check(n)

    def _sized(self, size: struct.Struct) -> int:
        (n,) = size.unpack(self.read(size.size))
        if n < 0:
            raise Corrupt(f"a negative length {n}")
        return int(n)

    def _binbytes(self) -> None:
        self.append(self._payload(self._sized(_U32), "bytes", KEEP_BYTES))

    def _binbytes8(self) -> None:
        self.append(self._payload(self._sized(_U64), "bytes", KEEP_BYTES))

    def _bytearray8(self) -> None:
        data = self._payload(self._sized(_U64), "bytes", KEEP_BYTES)
        self.append(bytearray(data) if isinstance(data, bytes) else data)

    def _binunicode(self) -> None:  # every name in a torch pickle: kept short
        data = self._payload(self._sized(_U32), "text", KEEP_TEXT)
        self.append(str(data, "utf-8", "surrogatepass") if isinstance(data, bytes) else data)

    def _binunicode8(self) -> None:
        data = self._payload(self._sized(_U64), "text", KEEP_TEXT)
        self.append(str(data, "utf-8", "surrogatepass") if isinstance(data, bytes) else data)

    def _binstring(self) -> None:
        data = self._payload(self._sized(_I32), "bytes", KEEP_TEXT)
        self.append(self._decode_string(data) if isinstance(data, bytes) else data)

    def _long4(self) -> None:
        n = self._sized(_I32)
        if n > MAX_LONG_BYTES:
            raise Corrupt(f"an integer of {n:,} bytes (at most {MAX_LONG_BYTES:,})")
        self.append(pickle.decode_long(self.read(n)))

    def _frame(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        if n > MAX_FRAME:
            raise Corrupt(f"a frame of {n:,} bytes (picklers write about 64 KiB)")
        self._stream.check(n)
        self._unframer.load_frame(n)

    def _memo_index(self) -> int:
        line = self.readline()[:-1]
        if not line.isdigit() or len(line) > 10 or int(line) > MAX_MEMO_INDEX:
            raise Corrupt(f"an invalid memo index {file_repr(line)}")
        return int(line)

    def _put(self) -> None:
        self.memo[self._memo_index()] = self.stack[-1]

    def _get(self) -> None:
        index = self._memo_index()
        if index not in self.memo:
            raise Corrupt(f"a memo index {index} that was never set")
        self.append(self.memo[index])

    def _empty_dict(self) -> None:
        self.append(FileDict())

    def _dict(self) -> None:
        items = self.pop_mark()
        made = FileDict()
        for i in range(0, len(items) - 1, 2):
            made[items[i]] = items[i + 1]
        self.append(made)

    def _empty_set(self) -> None:
        self.append(FileSet())

    def _frozenset(self) -> None:
        items = self.pop_mark()  # before self.append: pop_mark rebinds it
        self.append(FileSet(items))

    def _additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, (FileSet, Placeholder)):
            raise Corrupt(f"ADDITEMS on {file_repr(target)}")
        for item in items:
            target.add(item)

    def _build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        # BUILD sets state on what the file made of ours for it, nothing else: not on a
        # tensor or storage record (it would change a checked size), not on a class.
        if isinstance(target, (Placeholder, ScriptObject, FileDict)):
            target.__setstate__(state)
        else:
            raise Corrupt(f"a BUILD on {file_repr(target)}, which takes no state")

    def _reduce(self) -> None:
        args = self.stack.pop()
        if not isinstance(args, tuple):
            raise Corrupt(f"a call with arguments {file_repr(args)}, not a tuple")
        self.stack[-1] = self.stack[-1](*args)

    def _newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def _newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(kwargs, FileDict) or kwargs.others:
            raise Corrupt(f"keyword arguments {file_repr(kwargs)}, not a dict of names")
        self.append(self._new(cls, args, {str(k): v for k, v in kwargs.items()}))

    @staticmethod
    def _new(cls: object, args: object, kwargs: dict[str, object]) -> object:
        if not isinstance(args, tuple):
            raise Corrupt(f"a call with arguments {file_repr(args)}, not a tuple")
        if not (isinstance(cls, type) and issubclass(cls, (Placeholder, ScriptObject))):
            raise Corrupt(f"NEWOBJ on {file_repr(cls)}, which is not a class")
        return cls.__new__(cls, *args, **kwargs)  # type: ignore[arg-type]


def _install() -> None:
    table: dict[int, Callable[[Any], None]] = ShapeUnpickler.dispatch
    table[_OP["BINBYTES"]] = ShapeUnpickler._binbytes
    table[_OP["BINBYTES8"]] = ShapeUnpickler._binbytes8
    table[_OP["BYTEARRAY8"]] = ShapeUnpickler._bytearray8
    table[_OP["BINUNICODE"]] = ShapeUnpickler._binunicode
    table[_OP["BINUNICODE8"]] = ShapeUnpickler._binunicode8
    table[_OP["BINSTRING"]] = ShapeUnpickler._binstring
    table[_OP["LONG4"]] = ShapeUnpickler._long4
    table[_OP["FRAME"]] = ShapeUnpickler._frame
    table[_OP["PUT"]] = ShapeUnpickler._put
    table[_OP["GET"]] = ShapeUnpickler._get
    table[_OP["EMPTY_DICT"]] = ShapeUnpickler._empty_dict
    table[_OP["DICT"]] = ShapeUnpickler._dict
    table[_OP["EMPTY_SET"]] = ShapeUnpickler._empty_set
    table[_OP["FROZENSET"]] = ShapeUnpickler._frozenset
    table[_OP["ADDITEMS"]] = ShapeUnpickler._additems
    table[_OP["BUILD"]] = ShapeUnpickler._build
    table[_OP["REDUCE"]] = ShapeUnpickler._reduce
    table[_OP["NEWOBJ"]] = ShapeUnpickler._newobj
    table[_OP["NEWOBJ_EX"]] = ShapeUnpickler._newobj_ex


_install()


def storage_record(pid: tuple[object, ...]) -> tuple[str, str, int]:
    """A persistent id's storage key, dtype and element count (bytes when untyped)."""
    if len(pid) < 5:
        raise Corrupt(f"an invalid storage record {file_repr(pid)}")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(storage_type, StorageType):
        raise Corrupt(f"a storage of unknown type {file_repr(storage_type)}")
    if not isinstance(key, str) or not is_size(numel) or numel >= 2**63:  # type: ignore[operator]
        raise Corrupt(f"an invalid storage record {file_repr(pid)}")
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
        reason = file_str(str(exc) or type(exc).__name__)
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
