"""torch's zip checkpoints (``torch.save``): ``<folder>/data.pkl`` and ``<folder>/data/<key>``
storages. A TorchScript archive is such a zip too; it is handed to ``torchscript``."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import IO

from .file_text import file_repr, file_str
from .records import ITEMSIZE, Checkpoint, CheckpointError, CheckpointFormat
from .state_dicts import scan
from .torchscript import read_script
from .unpickler import Corrupt, Storage, storage_record, unpickle


def read_zip(path: str, trust_torchscript: bool, size: int | None = None) -> Checkpoint:
    """A zip archive: a torch checkpoint or a TorchScript archive, or refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_archive(path, archive, trust_torchscript, size)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated zip archive ({exc})") from None


MAX_DATA_PKL = 256 * 1024**2  # a data.pkl holds names and sizes; weights live beside it
_READ_WHOLE = 64 * 1024**2  # up to this a data.pkl is read at once (small reads cost 2x)


def _read_archive(
    path: str, archive: zipfile.ZipFile, trust_torchscript: bool, size: int | None
) -> Checkpoint:
    _check_single_disk(path, archive)
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        # Readers disagree on which copy counts (torch's reader takes another than zipfile).
        twice = next(n for n, k in Counter(i.filename for i in infos).items() if k > 1)
        raise CheckpointError(
            f"{path}: corrupt zip archive: it holds two entries named {file_repr(twice)}"
        )
    for info in infos:
        _check_entry(path, info)
    names = list(entries)
    if not any(n.endswith("data.pkl") and n.count("/") <= 1 for n in names):
        raise CheckpointError(
            f"{path}: unknown format: a zip archive, but not a torch checkpoint or TorchScript "
            "archive (it has no data.pkl)"
        )
    base = _folder(path, infos)
    if f"{base}data.pkl" not in entries:
        raise CheckpointError(
            f"{path}: corrupt checkpoint: no data.pkl in its folder {file_repr(base[:-1])}"
        )
    script = f"{base}constants.pkl" in entries or any(n.startswith(f"{base}code/") for n in names)

    def storage(pid: tuple[object, ...]) -> Storage:
        key, dtype, numel = storage_record(pid)
        entry = entries.get(f"{base}data/{key}")
        name = file_str(key) if len(key) > 16 or not key.isalnum() else key  # as a message shows it
        if entry is None:
            raise Corrupt(f"storage {name}, which the archive does not hold (data/{name})")
        need = numel * ITEMSIZE.get(dtype, 1)
        if entry.file_size != need:
            # torch reads a record only when its size is exactly the storage's.
            raise Corrupt(
                f"storage {name} of {need:,} bytes, but data/{name} holds {entry.file_size:,}"
            )
        if size is not None and entry.header_offset + entry.compress_size > size:
            raise Corrupt(
                f"storage {name} of {entry.compress_size:,} bytes at byte "
                f"{entry.header_offset:,}, past the end of the file ({size:,} bytes)"
            )
        if entry.compress_type == zipfile.ZIP_STORED and entry.compress_size < entry.file_size:
            raise Corrupt(
                f"storage {name} of {entry.file_size:,} bytes, but the archive stores "
                f"{entry.compress_size:,} bytes of it"
            )
        return Storage(key, dtype, numel)

    _check_metadata(path, archive, entries, base)
    data_pkl = entries[f"{base}data.pkl"]
    if data_pkl.file_size > MAX_DATA_PKL:
        raise CheckpointError(
            f"{path}: refused: its data.pkl is {data_pkl.file_size:,} bytes, past the "
            f"{MAX_DATA_PKL // 1024**2} MiB that rnnshape reads (it holds names and sizes; "
            "the weights are stored beside it)"
        )
    with archive.open(data_pkl) as stream:
        # Read at once when small (reads through ZipExtFile cost twice the unpickling);
        # a large one streams, and what it need not keep is read past, never held.
        f: IO[bytes] = stream
        if data_pkl.file_size <= _READ_WHOLE:
            f = io.BytesIO(stream.read(data_pkl.file_size))
        if script:
            code = _code_reader(archive, entries, base)
            return read_script(path, f, storage, trust_torchscript, data_pkl.file_size, code)
        obj = unpickle(path, f, storage, what="data.pkl", size=data_pkl.file_size)
    if f"{base}version" not in entries and f"{base}.data/version" not in entries:
        raise CheckpointError(
            f"{path}: corrupt checkpoint: it has no version record, which torch requires"
        )
    return scan(path, CheckpointFormat.TORCH, obj, data_pkl.file_size)


MAX_CODE_FILE = 4 * 1024**2  # a TorchScript code file read as text for its constants


def _code_reader(
    archive: zipfile.ZipFile, entries: Mapping[str, zipfile.ZipInfo], base: str
) -> Callable[[str], str | None]:
    """A TorchScript archive's code file by its path under ``code/``: its text, if small."""

    def read(name: str) -> str | None:
        info = entries.get(f"{base}code/{name}")
        if info is None or info.file_size > MAX_CODE_FILE:
            return None
        with archive.open(info) as f:
            return f.read(MAX_CODE_FILE).decode("utf-8", "replace")

    return read


def _check_entry(path: str, info: zipfile.ZipInfo) -> None:
    """What torch's reader (miniz) refuses in any entry, even one it never opens."""
    name = file_repr(info.filename)
    if info.volume:
        raise CheckpointError(f"{path}: corrupt zip archive: entry {name} is on another disk")
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{path}: encrypted zip entry {name}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CheckpointError(
            f"{path}: zip entry {name} uses compression method "
            f"{info.compress_type}, which torch cannot read (only stored or deflated)"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise CheckpointError(
            f"{path}: corrupt zip archive: entry {name} is stored as "
            f"{info.compress_size:,} bytes but declares {info.file_size:,}"
        )


def _folder(path: str, infos: list[zipfile.ZipInfo]) -> str:
    """The one top-level folder (with its slash) that torch requires every entry to be in;
    it is named by the first entry, as torch's reader names it."""
    if not infos:
        raise CheckpointError(f"{path}: unknown format: an empty zip archive")
    first = infos[0].filename
    if "/" not in first:
        raise CheckpointError(
            f"{path}: corrupt checkpoint: zip entry {file_repr(first)} is not in a folder "
            "(torch writes every entry under one top-level folder)"
        )
    base = first[: first.index("/") + 1]
    stray = next((i.filename for i in infos if not i.filename.startswith(base)), None)
    if stray is not None:
        raise CheckpointError(
            f"{path}: corrupt checkpoint: zip entry {file_repr(stray)} is not in the folder "
            f"{file_repr(base.rstrip('/'))} of the others (torch writes every entry under "
            "one top-level folder)"
        )
    return base


def _check_single_disk(path: str, archive: zipfile.ZipFile) -> None:
    """torch's reader (miniz) refuses multi-disk archives, which Python's zipfile ignores."""
    fp = archive.fp
    if fp is None:
        return
    end = fp.seek(0, 2)
    fp.seek(max(0, end - 65_557))  # the end record: 22 bytes and a comment of <= 65,535
    tail = fp.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return  # zipfile has already judged this (ZIP64, or an error raised above)
    disk, first, here, total = struct.unpack("<4H", tail[at + 4 : at + 12])
    multi = bool(disk or first or here != total)
    locator = tail.rfind(b"PK\x06\x07", 0, at)  # ZIP64 (torch writes it): locator, record
    if locator >= 0 and at - locator == 20:
        zip64_disk, offset, disks = struct.unpack("<IQI", tail[locator + 4 : locator + 20])
        multi = multi or zip64_disk != 0 or disks > 1
        fp.seek(offset)
        record = fp.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            disk64, first64, here64, total64 = struct.unpack("<IIQQ", record[16:40])
            multi = multi or bool(disk64 or first64 or here64 != total64)
    if multi:
        raise CheckpointError(
            f"{path}: corrupt zip archive: its end record describes a multi-disk archive"
        )


# Small records torch reads before the pickle, and what it accepts in them.
_METADATA: dict[str, Callable[[bytes], bool]] = {
    "byteorder": lambda raw: raw in (b"little", b"big"),
    ".storage_alignment": lambda raw: raw.isdigit(),
    ".format_version": lambda raw: raw.isdigit(),
    "version": lambda raw: raw.strip().isdigit(),
}


def _check_metadata(
    path: str, archive: zipfile.ZipFile, entries: Mapping[str, zipfile.ZipInfo], base: str
) -> None:
    for name, valid in _METADATA.items():
        info = entries.get(f"{base}{name}")
        if info is None:
            continue
        raw = archive.read(info) if info.file_size <= 64 else b""
        if not valid(raw):
            raise CheckpointError(
                f"{path}: corrupt checkpoint: its {name} record is not what torch writes"
            )
