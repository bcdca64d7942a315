"""Hostile checkpoints of issue 15, built byte by byte: small files that once bought large
costs. Used by tests/test_infer_hostile*.py and benchmarks/infer_hostile.py."""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def binput(i: int) -> bytes:
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def binget(i: int) -> bytes:
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def text(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def global_(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def dag(depth: int, container: str = "tuple") -> bytes:
    """Opcodes leaving x_depth on the stack, x_0 = 7, x_k+1 = (x_k, x_k) through the memo
    (memo index k holds x_k): ``depth`` * 7 bytes for 2**depth leaves."""
    out = b"K\x07" + binput(0) + b"0"
    for k in range(depth):
        pair = binget(k) + binget(k)
        made = pair + b"\x86" if container == "tuple" else b"]" + b"(" + pair + b"e"
        out += made + binput(k + 1) + (b"0" if k + 1 < depth else b"")
    return out


def torch_zip(
    path: Path,
    data_pkl: bytes,
    *,
    extra: list[tuple[str, bytes]] | None = None,
    deflate: bool = False,
    folder: str = "archive",
) -> Path:
    """A zip laid out as torch.save writes one: ``archive/data.pkl``, version, byteorder."""
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr(f"{folder}/data.pkl", data_pkl)
        z.writestr(f"{folder}/byteorder", b"little")
        for name, data in extra or []:
            z.writestr(f"{folder}/{name}", data)
        z.writestr(f"{folder}/version", b"3\n")
    return path


def legacy(path: Path, *pickles: bytes) -> Path:
    """A legacy torch file: the magic number, then the given pickles as they come."""
    path.write_bytes(pickle.dumps(LEGACY_MAGIC, protocol=2) + b"".join(pickles))
    return path


def deflate_bomb(path: Path, size: int) -> Path:
    """A torch zip whose deflated data.pkl is one BINBYTES8 of ``size`` zero bytes (about
    1 MB on disk per GB described), written in chunks."""
    head = PROTO4 + b"\x8e" + struct.pack("<Q", size)
    info = zipfile.ZipInfo("archive/data.pkl")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as z:
        with z.open(info, "w", force_zip64=True) as f:
            f.write(head)
            chunk = bytes(16 * 1024**2)
            left = size
            while left:
                step = min(left, len(chunk))
                f.write(chunk[:step])
                left -= step
            f.write(b".")
        z.writestr("archive/version", b"3\n")
    return path


def hash_alike_dict(count: int) -> bytes:
    """A dict of ``count`` int keys that all hash to 0 (multiples of 2**61 - 1)."""
    items = []
    for k in range(1, count + 1):
        raw = pickle.encode_long(k * (2**61 - 1))
        items.append(b"\x8a" + bytes([len(raw)]) + raw + b"N")
    return PROTO2 + b"}(" + b"".join(items) + b"u."
