"""Read an ONNX model's graph without its tensor bytes; the ``onnx`` package parses the rest.

protobuf has no lazy or skipping parser: ``onnx.load`` reads every initializer's
``raw_data`` into memory, and builds an object for every field however small (an empty
node costs about 160 bytes, 80 times its 2 bytes in the file). So the file is mapped and
walked at the wire-format level first, every message in it, and a small valid
``ModelProto`` is rebuilt from what the graph needs:

- the data fields of tensors larger than :data:`COPY_WHOLE` (``raw_data``, ``float_data``,
  ...) are left out, keeping their names, dims and types; small tensors keep their data,
  since shape inference reads the constant ``axes`` of an ``Unsqueeze``;
- fields no reader here or in shape inference uses (doc strings, metadata, device and
  training information, fields unknown to this reader) are left out;
- every tensor's dims must agree with the data the file holds for it (or, for external
  data, with the length it declares), or the file is refused;
- what protobuf and the readers will build is counted as it is walked, and a file whose
  graph would cost more than :func:`memory_budget` is refused before anything is built.

External data files are never opened.
"""

from __future__ import annotations

import importlib
import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rnnshape.errors import UsageError
from rnnshape.text import one_line, shorten

from .records import CheckpointError

if TYPE_CHECKING:
    import onnx

# A tensor message at most this long keeps its data (shape inference may read it).
COPY_WHOLE = 64 * 1024
# What the parsed graph costs, as counted while walking: each message (protobuf's object
# and the readers' Python objects), each other field, each value of a packed list (8 bytes
# in protobuf, a list item and an int object in Python), each byte kept. Measured with
# protobuf's upb backend (tests/test_onnx_bounds.py holds the estimate to measurement): an
# empty node costs ~125 bytes, an empty string ~35, a Dimension ~55.
MESSAGE_COST = 160
FIELD_COST = 40
PACKED_COST = 40
# The graph may cost this much plus 16 times the file's size; beyond, the file is refused.
BASE_BUDGET = 64 * 1024 * 1024
BUDGET_PER_BYTE = 16
_MAX_NESTING = 256  # messages inside messages (TypeProto nests itself, graphs nest)
_NAME_CHARS = 80  # a tensor's name, quoted in a message

# The schema of what is kept, by message kind: field number → the kind of message it holds,
# or None for a scalar or string kept as it is. Fields not listed are left out. From
# onnx.proto3 (ModelProto.graph = 7, GraphProto.node = 1, ...).
_SCHEMA: dict[str, dict[int, str | None]] = {
    "model": {1: None, 2: None, 3: None, 4: None, 5: None, 7: "graph", 8: "opset", 25: "function"},
    "opset": {1: None, 2: None},
    "graph": {
        1: "node", 2: None, 5: "tensor", 11: "value", 12: "value", 13: "value", 15: "sparse"
    },
    "node": {1: None, 2: None, 3: None, 4: None, 5: "attribute", 7: None, 8: None},
    "attribute": {
        1: None, 2: None, 3: None, 4: None, 5: "tensor", 6: "graph", 7: None, 8: None, 9: None,
        10: "tensor", 11: "graph", 14: "type", 15: "type", 20: None, 21: None, 22: "sparse",
        23: "sparse",
    },
    "value": {1: None, 2: "type"},
    "type": {1: "tensor_type", 4: "elem_type", 5: "map_type", 8: "tensor_type", 9: "elem_type"},
    "tensor_type": {1: None, 2: "shape"},
    "elem_type": {1: "type"},
    "map_type": {1: None, 2: "type"},
    "shape": {1: "dim"},
    "dim": {1: None, 2: None},
    "tensor": {
        1: None, 2: None, 3: "segment", 4: None, 5: None, 6: None, 7: None, 8: None, 9: None,
        10: None, 11: None, 13: "entry", 14: None,
    },
    "segment": {1: None, 2: None},
    "entry": {1: None, 2: None},
    "sparse": {1: "tensor", 2: "tensor", 3: None},
    "function": {
        1: None, 4: None, 5: None, 6: None, 7: "node", 9: "opset", 10: None, 11: "attribute",
        12: "value", 13: None,
    },
}  # fmt: skip
# TensorProto's data: float_data, int32_data, string_data, int64_data, raw_data,
# double_data, uint64_data.
_TENSOR_DATA = frozenset({4, 5, 6, 7, 9, 10, 11})
# Bits of one element, by TensorProto.DataType (STRING, 8, counts strings).
_ELEMENT_BITS = {
    1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64,
    14: 64, 15: 128, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4, 24: 8,
}  # fmt: skip
_COMPLEX = frozenset({14, 15})  # two typed values per element
_DROP = "drop"  # a field the schema does not keep

ONNX_EXTRA = "pip install 'rnnshape[onnx]'"


def import_onnx() -> None:
    """Fail with exit 2, naming the extra, when the ``onnx`` package is not installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UsageError(f"reading ONNX models needs the onnx package: {ONNX_EXTRA}") from None


def memory_budget(file_size: int) -> int:
    """What the parsed graph of a file of ``file_size`` bytes may cost, in bytes."""
    return BASE_BUDGET + BUDGET_PER_BYTE * file_size


@dataclass(frozen=True)
class GraphOnly:
    """The model without its large tensors' data, and what parsing it will cost."""

    model: onnx.ModelProto
    cost: int  # bytes, as estimated while walking
    budget: int  # what the file may cost (memory_budget of its size)


def load_graph_only(path: str) -> onnx.ModelProto:
    """The model at ``path`` with large tensors' data left out (names, dims, types kept)."""
    return read_graph_only(path).model


def read_graph_only(path: str) -> GraphOnly:
    """:func:`load_graph_only`, with the estimated cost of the parse and the file's budget."""
    import_onnx()
    import onnx

    # protobuf's own error; imported by name because protobuf ships no type stubs
    decode_error: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = memoryview(data)
        try:
            walk = _Walk(view, path, memory_budget(len(view)))
            walk.charge(MESSAGE_COST)
            pieces = walk.message(0, len(view), "model", 0) or [(0, len(view))]
            stripped = b"".join(view[p[0] : p[1]] if isinstance(p, tuple) else p for p in pieces)
            del pieces
            walk.charge(len(stripped))
        finally:
            view.release()
    try:
        model: onnx.ModelProto = onnx.ModelProto.FromString(stripped)
    except decode_error as exc:
        raise CheckpointError(f"{path}: not a valid ONNX model ({exc})") from None
    return GraphOnly(model, walk.cost, walk.budget)


# What a message becomes: spans of the file, (start, end), and bytes written anew.
Piece = tuple[int, int] | bytes


class _Walk:
    """One walk over one file: the pieces kept, and the cost counted so far."""

    def __init__(self, buf: memoryview, path: str, budget: int) -> None:
        self.buf = buf
        self.path = path
        self.budget = budget
        self.cost = 0

    def fail(self, why: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: not a valid ONNX model ({why})")

    def charge(self, cost: int) -> None:
        self.cost += cost
        if self.cost > self.budget:
            mib = self.budget // (1024 * 1024)
            raise CheckpointError(
                f"{self.path}: the ONNX graph holds too many fields for its size: parsing it "
                f"would take more than {mib:,} MiB (64 MiB plus {BUDGET_PER_BYTE} times the "
                "file's size); refused"
            )

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        buf = self.buf
        value = shift = 0
        while True:
            if pos >= end or shift > 63:
                raise self.fail(f"bad varint at byte {pos}")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7

    def message(self, start: int, end: int, kind: str, depth: int) -> list[Piece] | None:
        """The kept fields of ``buf[start:end]``, a message of ``kind``, as pieces; None when
        every field is kept (the message as it is).

        Written for speed (a field is a few bytes, a file millions of them): one-byte tags and
        lengths are read inline, and a message with nothing left out builds no list."""
        if depth > _MAX_NESTING:
            raise CheckpointError(f"{self.path}: messages nested more than {_MAX_NESTING} deep")
        buf = self.buf
        schema = _SCHEMA[kind]
        tensor = _TensorFacts() if kind == "tensor" else None
        drop_data = tensor is not None and end - start > COPY_WHOLE
        pieces: list[Piece] | None = None  # made at the first field left out
        kept = start  # the fields from here to field_start are kept as they are
        fields = 0
        pos = start
        while pos < end:
            field_start = pos
            tag = buf[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = self.varint(pos, end)
            wire = tag & 7
            length_at = body = pos
            if wire == 2:
                value = buf[pos] if pos < end else 0x80
                if value < 0x80:
                    body = pos + 1
                else:
                    value, body = self.varint(pos, end)
                pos = body + value
            elif wire == 0:
                value, pos = self.varint(pos, end)
            elif wire == 1:
                value, pos = 0, pos + 8
            elif wire == 5:
                value, pos = 0, pos + 4
            else:
                raise self.fail(f"wire type {wire} at byte {field_start}")
            if pos > end:
                raise self.fail(f"truncated at byte {end}")
            fields += 1
            field = tag >> 3
            if tensor is not None:
                tensor.note(self, field, wire, value, body, pos)
            inner = schema.get(field, _DROP)
            if inner is None:
                if not (drop_data and field in _TENSOR_DATA):
                    if wire == 2 and (kind, field) in _PACKED:
                        values = _packed_values(buf, body, pos, _PACKED[kind, field])
                        self.charge(PACKED_COST * values)
                    continue
            elif inner is not _DROP:
                if wire != 2:
                    raise self.fail(f"field {field} of a {kind} message is not a message")
                self.charge(MESSAGE_COST)
                sub = self.message(body, pos, inner, depth + 1)
                if sub is None:
                    continue
                if pieces is None:
                    pieces = []
                _extend(pieces, (kept, field_start))
                header = bytes(buf[field_start:length_at]) + _encode_varint(_size(sub))
                pieces.append(header)
                for piece in sub:
                    _extend(pieces, piece)
                kept = pos
                continue
            # A field left out: what came before it is kept.
            if pieces is None:
                pieces = []
            _extend(pieces, (kept, field_start))
            kept = pos
        self.charge(FIELD_COST * fields)
        if tensor is not None:
            tensor.check(self)
        if pieces is None:
            return None
        _extend(pieces, (kept, end))
        return pieces


# Packed repeated numbers the readers turn into lists: bytes per value, 0 for varints.
_PACKED = {
    ("tensor", 1): 0, ("tensor", 4): 4, ("tensor", 5): 0, ("tensor", 7): 0, ("tensor", 10): 8,
    ("tensor", 11): 0, ("attribute", 7): 4, ("attribute", 8): 0, ("sparse", 3): 0,
}  # fmt: skip


class _TensorFacts:
    """What one TensorProto declares (dims, type) and what data it holds."""

    def __init__(self) -> None:
        self.dims: list[int] = []  # the first few, for messages
        self.rank = 0
        self.numel = 1
        self.data_type = 0
        self.name = ""
        self.raw: int | None = None  # bytes of raw_data
        self.values = 0  # typed values in float_data, int32_data, ...
        self.typed = False
        self.segment = False
        self.external = False
        self.length: int | None = None  # the external data's declared length

    def dim(self, walk: _Walk, value: int) -> None:
        if value >= 2**63:
            self.refuse(walk, f"a negative dimension ({value - 2**64})")
        self.rank += 1
        if len(self.dims) < 8:
            self.dims.append(value)
        if self.numel < 2**128:  # beyond, no file holds the data: no need to know more
            self.numel *= value

    def note(self, walk: _Walk, field: int, wire: int, value: int, body: int, end: int) -> None:
        if field == 1:
            if wire == 0:
                self.dim(walk, value)
            elif wire == 2:
                pos = body
                while pos < end:
                    dim, pos = walk.varint(pos, end)
                    self.dim(walk, dim)
        elif field == 2 and wire == 0:
            self.data_type = value
        elif field == 8 and wire == 2:
            head = bytes(walk.buf[body : min(end, body + 4 * _NAME_CHARS)])
            self.name = head.decode(errors="replace")
        elif field == 9 and wire == 2:
            self.raw = (self.raw or 0) + value
        elif field in _TENSOR_DATA:
            self.typed = True
            if wire == 2 and field != 6:
                self.values += _packed_values(walk.buf, body, end, _PACKED["tensor", field])
            else:
                self.values += 1
        elif field == 3:
            self.segment = True
        elif field == 14 and wire == 0:
            self.external = value == 1
        elif field == 13 and wire == 2:
            self.length = _external_length(walk, body, end, self.length)

    def check(self, walk: _Walk) -> None:
        """Refuse a tensor whose dims do not agree with the data the file holds for it."""
        if self.segment:
            return  # a segment of a larger tensor: its data covers part of the dims
        bits = _ELEMENT_BITS.get(self.data_type)
        shown = ", ".join(map(str, self.dims)) + (", …" if self.rank > len(self.dims) else "")
        declared = f"shape [{shown}]"
        need = (self.numel * bits + 7) // 8 if bits is not None else None
        if self.external:
            if need is None or self.length == need:
                return
            if self.length is None:
                held = "no length"
            elif self.length < 0:
                held = "a length that is not a number"
            else:
                held = f"{self.length:,} bytes"
            self.refuse(walk, f"{declared} ({need:,} bytes), but its external data has {held}")
        if self.raw is not None and not self.typed:
            if need is not None and self.raw != need:
                self.refuse(
                    walk,
                    f"{declared} ({need:,} bytes), but the file holds {self.raw:,} bytes of "
                    "data for it",
                )
            return
        want = self.numel * (2 if self.data_type in _COMPLEX else 1)
        if self.values == want or (
            bits is not None and bits < 8 and self.values == (want + 1) // 2
        ):
            return
        if bits is not None or self.values == 0:
            held = f"{self.values:,} values" if self.typed else "no data"
            self.refuse(walk, f"{declared} ({want:,} values), but the file holds {held} for it")

    def refuse(self, walk: _Walk, why: str) -> None:
        name = one_line(shorten(self.name, _NAME_CHARS))
        raise CheckpointError(f"{walk.path}: the ONNX tensor {name!r} declares {why}")


def _external_length(walk: _Walk, start: int, end: int, current: int | None) -> int | None:
    """The ``length`` an external_data entry declares, or ``current`` for another key."""
    key = value = b""
    pos = start
    while pos < end:
        tag, pos = walk.varint(pos, end)
        if tag & 7 != 2:
            raise walk.fail("an external_data entry that is not key and value")
        size, pos = walk.varint(pos, end)
        text = bytes(walk.buf[pos : min(pos + size, pos + 40)])
        if tag >> 3 == 1:
            key = text
        elif tag >> 3 == 2:
            value = text if size <= 40 else b"x"
        pos += size
    if key != b"length":
        return current
    return int(value) if value.isdigit() else -1


def _packed_values(buf: memoryview, start: int, end: int, width: int) -> int:
    """How many values a packed repeated field holds: ``width`` bytes each, 0 for varints."""
    if width:
        return (end - start) // width
    count = 0
    for at in range(start, end, _CHUNK):  # a large tensor's data is never copied whole
        chunk = bytes(buf[at : min(end, at + _CHUNK)])
        count += len(chunk) - len(chunk.translate(None, _VARINT_ENDS))
    return count


_CHUNK = 1024 * 1024


_VARINT_ENDS = bytes(range(0x80))  # a varint's last byte is below 0x80


def _extend(pieces: list[Piece], piece: Piece) -> None:
    """Append ``piece``, merging a span into the span before it when they touch."""
    if isinstance(piece, tuple) and piece[0] == piece[1]:
        return
    if pieces and isinstance(piece, tuple):
        last = pieces[-1]
        if isinstance(last, tuple) and last[1] == piece[0]:
            pieces[-1] = (last[0], piece[1])
            return
    pieces.append(piece)


def _size(pieces: list[Piece]) -> int:
    return sum(p[1] - p[0] if isinstance(p, tuple) else len(p) for p in pieces)


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


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
