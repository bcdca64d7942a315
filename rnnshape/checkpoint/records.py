"""What every reader returns: tensor names, shapes and dtypes, grouped by state dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from rnnshape.errors import RnnShapeError

# Bytes per element, by torch's dtype name: how much data a storage or tensor needs.
ITEMSIZE: dict[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "complex128": 16, "complex64": 8, "complex32": 4,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1,
    "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1,
    "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e5m2": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1, "qint8": 1, "qint32": 4, "quint8": 1, "quint4x2": 1, "quint2x4": 1,
}  # fmt: skip

MAX_DEPTH = 64  # how deep wrapped state dicts (and scripted submodules) are looked for
MAX_DIMS = 64  # dimensions of a tensor, as torch allows


class CheckpointFormat(str, Enum):
    """How the file stores its tensors, as the JSON ``format`` names it."""

    TORCH = "torch"
    SAFETENSORS = "safetensors"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"
    KERAS = "keras"


class CheckpointError(RnnShapeError):
    """The file cannot be read as a checkpoint (missing, corrupt, unknown or refused)."""


@dataclass(frozen=True)
class TensorInfo:
    """What the file says about one tensor: its shape and dtype (torch's name)."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class StateDict:
    """Tensors by name as ``load_state_dict`` would see them, and where the dict sits.

    ``container`` is the dotted path of keys to the dict (``"model"``,
    ``"checkpoint.ema"``), or None when the tensors are at the top of the file.
    """

    container: str | None
    tensors: Mapping[str, TensorInfo]
    # What a pickled recurrent module stores that weights do not (batch_first, dropout,
    # nonlinearity), by the prefix of its parameters ("encoder."): pickled modules only.
    known: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedObject:
    """Objects of one type the file holds that were recorded, not loaded (nothing run)."""

    type: str  # the dotted name the file gives, e.g. argparse.Namespace
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "count": self.count}


@dataclass(frozen=True)
class Checkpoint:
    """Every state dict found in one file, and what else it holds that was not loaded."""

    path: str
    format: CheckpointFormat
    state_dicts: tuple[StateDict, ...]
    skipped_objects: tuple[SkippedObject, ...] = ()
    # Where the search for state dicts stopped (the container, cut, and why).
    unsearched: tuple[tuple[str | None, str], ...] = ()

    @property
    def num_tensors(self) -> int:
        return sum(len(sd.tensors) for sd in self.state_dicts)


def is_size(value: object) -> bool:
    """A size or offset as a file may record it: a non-negative int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
