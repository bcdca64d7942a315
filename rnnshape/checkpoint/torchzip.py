"""torch's zip checkpoints (``torch.save``): ``<folder>/data.pkl`` and ``<folder>/data/<key>``
storages. A TorchScript archive is such a zip too; it is handed to ``torchscript``."""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter

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
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        # Readers disagree on which copy counts (torch's reader takes another than zipfile).
        twice = next(n for n, k in Counter(i.filename for i in infos).items() if k > 1)
        raise CheckpointError(f"{path}: corrupt zip archive: it holds two entries named {twice!r}")
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

    data_pkl = entries[f"{base}data.pkl"]
    with archive.open(data_pkl) as f:
        if script:
            return read_script(path, f, storage, trust_torchscript, data_pkl.file_size)
        obj = unpickle(path, f, storage, what="data.pkl", size=data_pkl.file_size)
    state_dicts, skipped = scan(obj)
    return Checkpoint(path, CheckpointFormat.TORCH, state_dicts, skipped)
