"""Keras files opened with bounds: the ``.keras`` zip, HDF5 weights, their JSON configs.

A ``.keras`` file is a zip holding ``config.json``, ``metadata.json`` and
``model.weights.h5``; the HDF5 entry is read in place through a window on the zip (Keras
stores it uncompressed; a deflated one is copied out through a bounded stream). Every read
is checked first against what the file holds: attribute and JSON sizes are capped, JSON and
group nesting are bounded, only hard links inside the file are followed (never an external
link, which would open another file), and a dataset is read only when its dtype is a float,
its filters are HDF5's built-in ones, and its size fits in the file. h5py is imported only
here and only when such a file is read; tensorflow and keras never are.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from rnnshape.errors import UsageError

from .records import MAX_DEPTH, CheckpointError

if TYPE_CHECKING:
    import h5py
    import numpy as np

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_EXTRA = "pip install 'rnnshape[keras]'"

MAX_JSON_BYTES = 32 * 1024 * 1024  # config.json or a model_config attribute
MAX_ATTRIBUTE_BYTES = 32 * 1024 * 1024  # layer_names, weight_names of a huge model
MAX_OBJECTS = 200_000  # groups and datasets visited in one file
MAX_INFLATE_RATIO = 1_000  # a deflated model.weights.h5 may be this much larger than stored
# HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) and
# h5py's lzf: any other id would make HDF5 look for a plugin library to load.
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})
_FLOAT_DTYPES = {2: "float16", 4: "float32", 8: "float64"}
_ZIP_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def import_h5py() -> None:
    """Fail with exit 2, naming the extra, when h5py is not installed."""
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise UsageError(f"reading Keras files needs the h5py package: {KERAS_EXTRA}") from None


def looks_like_keras_zip(path: str) -> bool:
    """A zip whose entries are a Keras 3 ``.keras`` archive's (config.json, model.weights.h5)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return "config.json" in names and "model.weights.h5" in names


@dataclass(frozen=True)
class Dataset:
    """One HDF5 dataset as a Keras weight: where it is, its shape and its float dtype."""

    path: str
    shape: tuple[int, ...]
    dtype: str  # torch's name: float16, float32, float64; else the numpy name


class KerasFile:
    """An open Keras weights file (and its config when the file has one); read with bounds."""

    def __init__(self, path: str, h5: h5py.File, budget: int) -> None:
        self.path = path
        self.h5 = h5
        self.budget = budget  # the bytes the file holds: no dataset may be larger
        self.objects = 0
        self.config: Any = None  # the model config (dict), when the file records one
        self.keras_version: str | None = None
        self.kind = ""  # "keras", "weights.h5", "h5 model", "h5 weights"

    # -- groups and links -------------------------------------------------------------
    def group(self, path: str) -> h5py.Group | None:
        """The group at ``path`` through hard links only, or None."""
        import h5py

        node: Any = self.h5
        for part in filter(None, path.split("/")):
            if not isinstance(node, h5py.Group):
                return None
            link = node.get(part, getlink=True)
            if not isinstance(link, h5py.HardLink):
                return None
            node = node[part]
            self._count()
        return node if isinstance(node, h5py.Group) else None

    def children(self, group: h5py.Group) -> list[tuple[str, Any]]:
        """A group's members reached by hard links (names sorted as HDF5 stores them)."""
        import h5py

        out = []
        for name in group:
            if not isinstance(group.get(name, getlink=True), h5py.HardLink):
                continue  # soft and external links are never followed
            self._count()
            out.append((name, group[name]))
        return out

    def walk(self) -> Iterator[tuple[str, h5py.Group]]:
        """Every group reached by hard links, depth first, bounded in depth and count."""
        import h5py

        seen: set[Any] = set()

        def visit(path: str, group: h5py.Group, depth: int) -> Iterator[tuple[str, h5py.Group]]:
            if depth > MAX_DEPTH:
                raise CheckpointError(f"{self.path}: HDF5 groups nested more than {MAX_DEPTH} deep")
            key = group.id
            if key in seen:
                return
            seen.add(key)
            yield path, group
            for name, child in self.children(group):
                if isinstance(child, h5py.Group):
                    yield from visit(f"{path}/{name}" if path else name, child, depth + 1)

        yield from visit("", self.h5, 0)

    def _count(self) -> None:
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise CheckpointError(f"{self.path}: more than {MAX_OBJECTS:,} HDF5 objects")

    # -- attributes ---------------------------------------------------------------------
    def attribute(self, obj: h5py.HLObject, name: str) -> Any:
        """An attribute's value, or None when absent; its stored size is checked first."""
        import h5py

        if name not in obj.attrs:
            return None
        size = h5py.h5a.open(obj.id, name.encode()).get_storage_size()
        if size > MAX_ATTRIBUTE_BYTES:
            raise CheckpointError(
                f"{self.path}: attribute {name!r} holds {size:,} bytes (at most "
                f"{MAX_ATTRIBUTE_BYTES:,} are read)"
            )
        return obj.attrs[name]

    def text_attribute(self, obj: h5py.HLObject, name: str) -> str | None:
        value = self.attribute(obj, name)
        if value is None:
            return None
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value if isinstance(value, str) else None

    def names_attribute(self, obj: h5py.HLObject, name: str) -> list[str] | None:
        """A list-of-strings attribute (``layer_names``, ``weight_names``), or None.

        Keras 2 splits one larger than HDF5's 64 KiB header limit into ``name0``,
        ``name1``, ... (``save_attributes_to_hdf5_group``); they are joined back, within the
        same byte cap as one attribute."""
        chunks = [name] if name in obj.attrs else []
        if not chunks:
            while f"{name}{len(chunks)}" in obj.attrs and len(chunks) < len(obj.attrs):
                chunks.append(f"{name}{len(chunks)}")
        if not chunks:
            return None
        out: list[str] = []
        total = 0
        for chunk in chunks:
            value = self.attribute(obj, chunk)
            items = value.tolist() if hasattr(value, "tolist") else value
            if not isinstance(items, list):
                return None
            total += sum(len(i) for i in items if isinstance(i, (bytes, str)))
            if total > MAX_ATTRIBUTE_BYTES:
                raise CheckpointError(
                    f"{self.path}: attribute {name!r} holds more than {MAX_ATTRIBUTE_BYTES:,} bytes"
                )
            out += [
                i.decode("utf-8", errors="replace") if isinstance(i, bytes) else str(i)
                for i in items
            ]
        return out

    # -- datasets -----------------------------------------------------------------------
    def dataset(self, group: h5py.Group, name: str) -> Dataset | None:
        """The dataset ``name`` in ``group`` (a path relative to it), or None."""
        import h5py

        node: Any = group
        for part in filter(None, name.split("/")):
            if not isinstance(node, h5py.Group):
                return None
            link = node.get(part, getlink=True)
            if not isinstance(link, h5py.HardLink):
                return None
            node = node[part]
            self._count()
        if not isinstance(node, h5py.Dataset):
            return None
        dtype = node.dtype
        if dtype.kind == "f" and dtype.itemsize in _FLOAT_DTYPES:
            dtype_name = _FLOAT_DTYPES[dtype.itemsize]
        else:
            dtype_name = str(dtype) if dtype.kind in "iub" else f"HDF5 type {dtype.kind}"
        shape = tuple(int(n) for n in (node.shape or ()))
        return Dataset(node.name or name, shape, dtype_name)

    def read(self, dataset: Dataset) -> np.ndarray:
        """A float dataset's values, after checking its dtype, filters and size."""
        import h5py
        import numpy as np

        node = self.h5.get(dataset.path)
        if not isinstance(node, h5py.Dataset):
            raise CheckpointError(f"{self.path}: {dataset.path!r} is not a dataset")
        if dataset.dtype not in _FLOAT_DTYPES.values():
            raise CheckpointError(
                f"{self.path}: {dataset.path!r} holds {dataset.dtype}, not floating-point weights"
            )
        plist = node.id.get_create_plist()
        for i in range(min(plist.get_nfilters(), 32)):
            code = plist.get_filter(i)[0]
            if code not in _BUILTIN_FILTERS:
                raise CheckpointError(
                    f"{self.path}: {dataset.path!r} uses HDF5 filter {code}, which needs a "
                    "plugin (not loaded)"
                )
        itemsize = int(node.dtype.itemsize)
        size = itemsize
        for n in dataset.shape:
            size *= n
        if size > self.budget:
            raise CheckpointError(
                f"{self.path}: {dataset.path!r} declares {size:,} bytes, more than the "
                f"{self.budget:,} the file holds"
            )
        out = np.empty(dataset.shape, dtype=node.dtype)
        if size:
            node.read_direct(out)
        return out


@contextmanager
def open_keras(path: str, size: int) -> Iterator[KerasFile]:
    """The Keras file at ``path`` (a ``.keras`` zip or HDF5), with its config when it has one.

    Any error HDF5 or the zip reader raises on a corrupt file becomes a CheckpointError.
    """
    import_h5py()
    import h5py

    with ExitStack() as stack:
        try:
            with open(path, "rb") as probe:
                zipped = probe.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
            if zipped:
                keras = _open_zip(path, size, stack)
            else:
                h5 = stack.enter_context(h5py.File(path, "r", locking=False))
                keras = KerasFile(path, h5, size)
                _legacy_config(keras)
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError, zlib.error, EOFError,
                zipfile.BadZipFile, UnicodeError, struct.error) as exc:  # fmt: skip
            raise CheckpointError(
                f"{path}: corrupt or truncated Keras file ({_reason(exc)})"
            ) from None
        try:
            yield keras
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError, UnicodeError) as exc:
            raise CheckpointError(
                f"{path}: corrupt or truncated Keras file ({_reason(exc)})"
            ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _open_zip(path: str, size: int, stack: ExitStack) -> KerasFile:
    import h5py

    archive = stack.enter_context(zipfile.ZipFile(path))
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        raise CheckpointError(f"{path}: corrupt zip archive: two entries have one name")
    config_info = entries["config.json"]
    weights_info = entries["model.weights.h5"]
    config = _read_json_entry(path, archive, config_info)
    metadata = entries.get("metadata.json")
    version = None
    if metadata is not None and metadata.file_size <= 1024 * 1024:
        meta = _read_json_entry(path, archive, metadata)
        if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
            version = meta["keras_version"]
    stream = _entry_stream(path, archive, weights_info, size, stack)
    h5 = stack.enter_context(h5py.File(stream, "r", locking=False))
    keras = KerasFile(path, h5, weights_info.file_size)
    keras.config = config
    keras.keras_version = version
    keras.kind = "keras"
    return keras


def _read_json_entry(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    """A zip entry's JSON, read as a bounded stream (never more than the cap)."""
    if info.file_size > MAX_JSON_BYTES:
        raise CheckpointError(
            f"{path}: {info.filename} declares {info.file_size:,} bytes (at most "
            f"{MAX_JSON_BYTES:,} are read)"
        )
    with archive.open(info) as entry:
        data = entry.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise CheckpointError(f"{path}: {info.filename} is larger than it declares")
    return parse_json(path, info.filename, data)


def parse_json(path: str, what: str, data: bytes | str) -> Any:
    """JSON from a file, its nesting bounded (a RecursionError is the file's problem)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise CheckpointError(f"{path}: {what} is nested too deeply") from None
    except (ValueError, UnicodeError) as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({_reason(exc)})") from None
    return value


def _entry_stream(
    path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int, stack: ExitStack
) -> IO[bytes]:
    """The HDF5 entry as a seekable file: a window on the zip when stored, else a copy."""
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{path}: encrypted zip entry {info.filename!r}")
    if info.compress_type == zipfile.ZIP_STORED:
        raw = stack.enter_context(open(path, "rb"))
        raw.seek(info.header_offset)
        header = raw.read(_ZIP_LOCAL_HEADER.size)
        if len(header) != _ZIP_LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise CheckpointError(
                f"{path}: corrupt zip archive: bad local header for {info.filename!r}"
            )
        fields = _ZIP_LOCAL_HEADER.unpack(header)
        start = info.header_offset + _ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
        if info.compress_size != info.file_size or start + info.file_size > size:
            raise CheckpointError(
                f"{path}: truncated zip archive: {info.filename!r} declares {info.file_size:,} "
                f"bytes at offset {start:,}, past the end of the file ({size:,} bytes)"
            )
        return io.BufferedReader(Window(raw, start, info.file_size), 1 << 16)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise CheckpointError(
            f"{path}: zip entry {info.filename!r} uses compression method {info.compress_type}"
        )
    if info.file_size > MAX_INFLATE_RATIO * max(info.compress_size, 1):
        raise CheckpointError(
            f"{path}: {info.filename!r} declares {info.file_size:,} bytes from "
            f"{info.compress_size:,} compressed (more than {MAX_INFLATE_RATIO}x)"
        )
    copy = stack.enter_context(tempfile.TemporaryFile())
    with archive.open(info) as entry:
        shutil.copyfileobj(_Bounded(entry, info.file_size, path), copy)
    copy.seek(0)
    return copy


class _Bounded(io.RawIOBase):
    """A stream that fails once it yields more than ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int, path: str) -> None:
        self.inner, self.left, self.path = inner, limit, path

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(min(n if n >= 0 else 1 << 20, self.left + 1))
        self.left -= len(data)
        if self.left < 0:
            raise CheckpointError(f"{self.path}: model.weights.h5 is larger than it declares")
        return data


class Window(io.RawIOBase):
    """Bytes ``start`` to ``start + length`` of an open file, as a seekable file of its own."""

    def __init__(self, raw: io.BufferedReader, start: int, length: int) -> None:
        self.raw, self.start, self.length, self.pos = raw, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.length - self.pos))
        if n == 0:
            return 0
        self.raw.seek(self.start + self.pos)
        got = self.raw.readinto(view[:n]) or 0
        self.pos += got
        return got


def _legacy_config(keras: KerasFile) -> None:
    """An HDF5 file's kind, and a legacy whole model's ``model_config`` and version."""
    root = keras.h5
    if "model_weights" in root or keras.attribute(root, "model_config") is not None:
        keras.kind = "h5 model"
        text = keras.text_attribute(root, "model_config")
        if text is not None:
            keras.config = parse_json(keras.path, "the model_config attribute", text)
    elif keras.attribute(root, "layer_names") is not None:
        keras.kind = "h5 weights"
    else:
        keras.kind = "weights.h5"
    keras.keras_version = keras.text_attribute(root, "keras_version")
    weights = keras.group("model_weights")
    if keras.keras_version is None and weights is not None:
        keras.keras_version = keras.text_attribute(weights, "keras_version")
