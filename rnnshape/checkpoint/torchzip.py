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

from .model import ITEMSIZE, Checkpoint, CheckpointError, CheckpointFormat
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


def _read_archive(
    path: str, archive: zipfile.ZipFile, trust_torchscript: bool, size: int | None
) -> Checkpoint:
    _check_single_disk(path, archive)
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        # Readers disagree on which copy counts (torch's reader takes another than zipfile).
        twice = next(n for n, k in Counter(i.filename for i in infos).items() if k > 1)
        raise CheckpointError(f"{path}: corrupt zip archive: it holds two entries named {twice!r}")
    for info in infos:
        # torch's reader (miniz) refuses these for any entry, even one it never opens.
        if info.volume:
            raise CheckpointError(
                f"{path}: corrupt zip archive: entry {info.filename!r} is on another disk"
            )
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{path}: encrypted zip entry {info.filename!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(
                f"{path}: zip entry {info.filename!r} uses compression method "
                f"{info.compress_type}, which torch cannot read (only stored or deflated)"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise CheckpointError(
                f"{path}: corrupt zip archive: entry {info.filename!r} is stored as "
                f"{info.compress_size:,} bytes but declares {info.file_size:,}"
            )
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

    def storage(pid: tuple[object, ...]) -> Storage:
        key, dtype, numel = storage_record(pid)
        entry = entries.get(f"{base}data/{key}")
        if entry is None:
            raise Corrupt(f"storage {key}, which the archive does not hold (data/{key})")
        need = numel * ITEMSIZE.get(dtype, 1)
        if entry.file_size < need:
            raise Corrupt(
                f"storage {key} of {need:,} bytes, but data/{key} holds {entry.file_size:,}"
            )
        if size is not None and entry.header_offset + entry.compress_size > size:
            raise Corrupt(
                f"storage {key} of {entry.compress_size:,} bytes at byte "
                f"{entry.header_offset:,}, past the end of the file ({size:,} bytes)"
            )
        if entry.compress_type == zipfile.ZIP_STORED and entry.compress_size < entry.file_size:
            raise Corrupt(
                f"storage {key} of {entry.file_size:,} bytes, but the archive stores "
                f"{entry.compress_size:,} bytes of it"
            )
        return Storage(key, dtype, numel)

    _check_metadata(path, archive, entries, base)
    data_pkl = entries[f"{base}data.pkl"]
    with archive.open(data_pkl) as stream:
        # Stored (torch's way), its size is bounded by the file's: read it at once, as small
        # reads through ZipExtFile cost twice the unpickling. Deflated, it streams.
        f: IO[bytes] = stream
        if data_pkl.compress_type == zipfile.ZIP_STORED:
            f = io.BytesIO(stream.read())
        if script:
            return read_script(path, f, storage, trust_torchscript, data_pkl.file_size)
        obj = unpickle(path, f, storage, what="data.pkl", size=data_pkl.file_size)
    state_dicts, skipped = scan(obj)
    return Checkpoint(path, CheckpointFormat.TORCH, state_dicts, skipped)


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
