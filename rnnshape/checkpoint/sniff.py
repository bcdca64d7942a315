"""Recognise a checkpoint's format by content, never by suffix, and hand it to its reader."""

from __future__ import annotations

import os
import stat

from .keras_h5 import HDF5_SIGNATURE, looks_like_keras_zip
from .legacy import read_pickle
from .onnx_proto import looks_like_onnx
from .records import Checkpoint, CheckpointError
from .safetensors import read_safetensors
from .torchzip import read_zip


def read_checkpoint(path: str, *, trust_torchscript: bool = False) -> Checkpoint:
    """Recognise the file's format by content and read its tensors' names and shapes."""
    size = _file_size(path)
    if size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":
        # A u64 header length then JSON: no zip or pickle has '{' at byte 8.
        return read_safetensors(path, size)
    if head[:8] == HDF5_SIGNATURE or (head[:4] == b"PK\x03\x04" and looks_like_keras_zip(path)):
        from .keras_layers import read_keras  # imports h5py on first use

        return read_keras(path, size)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return read_zip(path, trust_torchscript, size)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return read_pickle(path, size)
    if looks_like_onnx(head):
        from .onnx_nodes import read_onnx  # imports the onnx package on first use

        return read_onnx(path)
    raise CheckpointError(
        f"{path}: unknown format: not a torch checkpoint, TorchScript archive, safetensors file, "
        f"ONNX model or Keras file (it starts with bytes {head[:8].hex(' ')})"
    )


def _file_size(path: str) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError:  # a NUL, or a lone surrogate the file system cannot encode
        raise CheckpointError(f"{path}: no such file (the name cannot be a path here)") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: permission denied")
    return info.st_size
