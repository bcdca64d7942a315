"""torch's legacy format: pickles (magic number, protocol, system info, the object, the
storage keys), then each storage's raw data, which is walked by seeking, never read."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import IO

from .file_text import file_repr, file_str
from .records import ITEMSIZE, Checkpoint, CheckpointError, CheckpointFormat, is_size
from .state_dicts import scan
from .unpickler import Corrupt, Storage, storage_record, unpickle

# torch.save's legacy format starts with this number, pickled (torch/serialization.py).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def read_pickle(path: str, size: int) -> Checkpoint:
    """A file that starts with a pickle: a legacy torch checkpoint, or refused."""
    with open(path, "rb") as f:
        magic = unpickle(path, f, None, what="the first pickle")
        if magic != LEGACY_MAGIC:
            raise CheckpointError(
                f"{path}: unknown format: a Python pickle, not a torch checkpoint (torch.save "
                "writes a zip archive, or in its legacy format a pickle that starts with "
                "torch's magic number)"
            )
        return _read_legacy(path, f, size)


def _read_legacy(path: str, f: IO[bytes], size: int) -> Checkpoint:
    version = unpickle(path, f, None, what="the protocol version")
    if version != LEGACY_PROTOCOL:
        raise CheckpointError(
            f"{path}: unsupported legacy torch protocol version {file_repr(version)}"
        )
    sys_info = unpickle(path, f, None, what="the system info")
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True) is not False
    storages: dict[str, Storage] = {}

    def storage(pid: tuple[object, ...]) -> Storage:
        key, dtype, numel = storage_record(pid)
        view = pid[5] if len(pid) > 5 else None
        found = storages.setdefault(key, Storage(key, dtype, numel))
        if view is not None:
            # (view key, offset, size): a view into the storage, as old torch wrote it.
            if not isinstance(view, tuple) or len(view) != 3:
                raise Corrupt(f"an invalid storage view {file_repr(view)}")
            view_key, offset, view_size = view
            if not is_size(view_size) or not is_size(offset) or not isinstance(view_key, str):
                raise Corrupt(f"an invalid storage view {file_repr(view)}")
            assert isinstance(view_size, int) and isinstance(offset, int)
            if offset + view_size > found.numel:
                # torch refuses it too: a view must lie inside the storage it views.
                raise Corrupt(
                    f"a view of {view_size:,} elements at offset {offset:,} into storage "
                    f"{file_str(key)}, which holds {found.numel:,}"
                )
            return Storage(view_key, dtype, view_size)
        return found

    obj = unpickle(path, f, storage, what="the state")
    keys = unpickle(path, f, None, what="the storage list")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError(f"{path}: corrupt checkpoint: invalid storage list")
    _check_legacy_storages(path, f, size, keys, storages, little)
    return scan(path, CheckpointFormat.TORCH, obj, size)


def _check_legacy_storages(
    path: str,
    f: IO[bytes],
    size: int,
    keys: list[str],
    storages: Mapping[str, Storage],
    little: bool,
) -> None:
    """Walk the raw storages that follow the pickles (a count, then the bytes) by seeking."""
    missing = sorted(set(storages) - set(keys))
    if missing:
        raise CheckpointError(
            f"{path}: corrupt checkpoint: storage {file_str(missing[0])} is not stored"
        )
    position = f.tell()
    for key in keys:
        f.seek(position)
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(
                f"{path}: truncated checkpoint: the data of storage {file_str(key)} is missing"
            )
        (numel,) = struct.unpack("<q" if little else ">q", raw)
        record = storages.get(key)
        dtype = record.dtype if record else "uint8"
        if numel < 0 or (record is not None and numel != record.numel):
            raise CheckpointError(
                f"{path}: corrupt checkpoint: storage {file_str(key)} has a bad size"
            )
        position += 8 + numel * ITEMSIZE.get(dtype, 1)
        if position > size:
            raise CheckpointError(
                f"{path}: truncated checkpoint: storage {file_str(key)} ends at byte {position:,}, "
                f"the file has {size:,}"
            )
