"""safetensors files: a u64 header length, a JSON header naming every tensor, the data."""

from __future__ import annotations

import json
import math
import struct
from typing import NoReturn

from rnnshape.text import one_line, shorten

from .records import (
    ITEMSIZE,
    MAX_DIMS,
    Checkpoint,
    CheckpointError,
    CheckpointFormat,
    StateDict,
    TensorInfo,
    is_size,
)

# safetensors refuses headers above 100 MB; anything larger is not a real header.
SAFETENSORS_MAX_HEADER = 100_000_000
_NAME_CHARS = 80  # a tensor's name, quoted in a message

_SAFETENSORS_DTYPE = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "E8M0": "float8_e8m0fnu",
    "C64": "complex64", "C128": "complex128",
}  # fmt: skip


def read_safetensors(path: str, size: int) -> Checkpoint:
    """Read the header only, checking it against the file's size; no tensor data is read."""
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
    except RecursionError:
        raise CheckpointError(
            f"{path}: corrupt safetensors header: its JSON is nested too deeply to read "
            "(a header is one object of tensors, each of dtype, shape and data_offsets)"
        ) from None
    except ValueError as exc:  # not UTF-8, not JSON, or an integer too long to read
        why = shorten(one_line(str(exc)), 200)
        raise CheckpointError(f"{path}: corrupt safetensors header: {why}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header: not a JSON object")
    data_size = size - 8 - length
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        info, start, end = _safetensors_entry(path, name, entry)
        tensors[name] = info
        spans.append((start, end, name))
    spans.sort()
    end_max = 0
    for (_, end, before), (start, _, after) in zip(spans, spans[1:], strict=False):
        if start < end:  # safetensors itself refuses tensors that share bytes
            raise CheckpointError(
                f"{path}: corrupt safetensors header: tensors {_name(before)} and {_name(after)} "
                "overlap in the data section"
            )
    if spans:
        end_max = max(end for _, end, _ in spans)
    if end_max > data_size:
        raise CheckpointError(
            f"{path}: truncated safetensors file: the header places data up to byte "
            f"{end_max:,} of the data section, which holds only {data_size:,} bytes"
        )
    return Checkpoint(path, CheckpointFormat.SAFETENSORS, (StateDict(None, tensors),))


def _name(name: str) -> str:
    """A tensor's name for a message: cut, on one line."""
    return repr(one_line(shorten(name, _NAME_CHARS)))


def _listed(value: object) -> str:
    """A shape or data_offsets for a message, never longer than a line."""
    if not isinstance(value, list):
        return f"a {type(value).__name__}"
    items = ", ".join(
        shorten(repr(v), 30) if not isinstance(v, (list, dict)) else "…" for v in value[:8]
    )
    return f"[{items}{', …' if len(value) > 8 else ''}]"


def _safetensors_entry(path: str, name: str, entry: object) -> tuple[TensorInfo, int, int]:
    def corrupt(why: str) -> NoReturn:
        raise CheckpointError(f"{path}: corrupt safetensors header: tensor {_name(name)} {why}")

    if not isinstance(entry, dict):
        corrupt("is not described by an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        corrupt("has no dtype")
    if not isinstance(shape, list) or not all(is_size(n) for n in shape):
        corrupt(f"has an invalid shape {_listed(shape)}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(is_size(n) for n in offsets)
        or offsets[0] > offsets[1]
    ):
        corrupt(f"has invalid data_offsets {_listed(offsets)}")
    torch_dtype = _SAFETENSORS_DTYPE.get(dtype)
    if torch_dtype is None:
        corrupt(f"has unknown dtype {repr(one_line(shorten(dtype, 40)))}")
    itemsize = ITEMSIZE[torch_dtype]
    nbytes = offsets[1] - offsets[0]
    if len(shape) > MAX_DIMS:
        corrupt(f"has {len(shape)} dimensions (at most {MAX_DIMS})")
    if nbytes != math.prod(shape) * itemsize:
        corrupt(
            f"of shape {_listed(shape)} and dtype {dtype} needs "
            f"{math.prod(shape) * itemsize:,} bytes, its data_offsets span {nbytes:,}"
        )
    return TensorInfo(tuple(shape), torch_dtype), offsets[0], offsets[1]
