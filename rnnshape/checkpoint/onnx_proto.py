"""Read an ONNX model's graph without its tensor bytes; the ``onnx`` package parses the rest.

protobuf has no lazy or skipping parser: ``onnx.load`` reads every initializer's
``raw_data`` into memory, so a 1 GB model costs 1 GB or more before a single node is seen
(``load_external_data=False`` only leaves out *external* files). Instead the file is
mapped and walked at the wire-format level along the few paths that can hold tensors
(graph → initializer, node → attribute → tensor or subgraph, ...); every message small
enough to hold no large tensor is copied as it is, and the data fields of large tensors
(``raw_data``, ``float_data``, ...) are dropped, keeping their names, dims and types. What
is left is a small, valid ``ModelProto`` that ``onnx`` parses and shape inference reads.
Small tensors keep their data: shape inference needs the constant ``axes`` of an
``Unsqueeze`` or the shape of a ``Reshape``. External data files are never opened.
"""

from __future__ import annotations

import importlib
import mmap
from typing import TYPE_CHECKING

from rnnshape.errors import UsageError

from .model import CheckpointError

if TYPE_CHECKING:
    import onnx

# A message at most this long is copied whole: walking it could save at most this much.
COPY_WHOLE = 64 * 1024

# The messages on a path to a tensor, by field number of each submessage that leads on.
# From onnx.proto3: ModelProto.graph = 7, .training_info = 20, .functions = 25;
# GraphProto.node = 1, .initializer = 5, .sparse_initializer = 15; NodeProto.attribute = 5;
# AttributeProto.t = 5, .g = 6, .tensors = 10, .graphs = 11, .sparse_tensor(s) = 22, 23;
# FunctionProto.node = 7, .attribute_proto = 11; SparseTensorProto.values = 1, .indices = 2;
# TrainingInfoProto.initialization = 1, .algorithm = 2.
_PATHS: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "sparse": {1: "tensor", 2: "tensor"},
    "training": {1: "graph", 2: "graph"},
    "tensor": {},
}
# TensorProto's data: float_data, int32_data, string_data, int64_data, raw_data,
# double_data, uint64_data. dims (1), data_type (2) and name (8) stay.
_TENSOR_DATA = frozenset({4, 5, 6, 7, 9, 10, 11})
_MAX_DEPTH = 64  # nested subgraphs deeper than this are refused

ONNX_EXTRA = "pip install 'rnnshape[onnx]'"


def import_onnx() -> None:
    """Fail with exit 2, naming the extra, when the ``onnx`` package is not installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UsageError(f"reading ONNX models needs the onnx package: {ONNX_EXTRA}") from None


def load_graph_only(path: str) -> onnx.ModelProto:
    """The model at ``path`` with large tensors' data left out (names, dims, types kept)."""
    import_onnx()
    import onnx

    # protobuf's own error; imported by name because protobuf ships no type stubs
    decode_error: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = memoryview(data)
        try:
            chunks: list[bytes] = []
            _copy_message(view, 0, len(view), "model", chunks, 0, path)
            stripped = b"".join(chunks)
        finally:
            view.release()
    try:
        model: onnx.ModelProto = onnx.ModelProto.FromString(stripped)
    except decode_error as exc:
        raise CheckpointError(f"{path}: not a valid ONNX model ({exc})") from None
    return model


def _copy_message(
    buf: memoryview, start: int, end: int, kind: str, out: list[bytes], depth: int, path: str
) -> None:
    """Append the fields of ``buf[start:end]`` to ``out``, leaving out large tensor data."""
    if end - start <= COPY_WHOLE:
        out.append(bytes(buf[start:end]))
        return
    if depth > _MAX_DEPTH:
        raise CheckpointError(f"{path}: subgraphs nested more than {_MAX_DEPTH} deep")
    leads = _PATHS[kind]
    pos = start
    while pos < end:
        field_start = pos
        tag, pos = _varint(buf, pos, end, path)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(buf, pos, end, path)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length_at = pos
            length, body = _varint(buf, pos, end, path)
            pos = body + length
            if pos > end:
                break
            if kind == "tensor" and field in _TENSOR_DATA:
                continue  # the bytes of a large tensor: never read
            if field in leads:
                inner: list[bytes] = []
                _copy_message(buf, body, pos, leads[field], inner, depth + 1, path)
                out.append(bytes(buf[field_start:length_at]))
                out.append(_encode_varint(sum(map(len, inner))))
                out += inner
                continue
        else:
            raise CheckpointError(
                f"{path}: not a valid ONNX model (wire type {wire} at byte {field_start})"
            )
        if pos > end:
            break
        if not (kind == "tensor" and field in _TENSOR_DATA):
            out.append(bytes(buf[field_start:pos]))
    if pos != end:
        raise CheckpointError(f"{path}: not a valid ONNX model (truncated at byte {end})")


def _varint(buf: memoryview, pos: int, end: int, path: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise CheckpointError(f"{path}: not a valid ONNX model (bad varint at byte {pos})")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# ModelProto's tags as protobuf writes them first: ir_version (1, a varint), then
# producer_name (2), producer_version (3), domain (4), model_version (5), doc_string (6),
# graph (7) or opset_import (8).
_SECOND_TAGS = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42})


def looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto as protobuf serialises it: ``ir_version`` first, then a known tag."""
    return len(head) >= 3 and head[0] == 0x08 and 0 < head[1] < 0x80 and head[2] in _SECOND_TAGS
