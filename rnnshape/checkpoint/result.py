"""What ``rnnshape infer`` found: the modules recovered, the problems, the JSON contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from rnnshape._version import SCHEMA_VERSION, __version__
from rnnshape.family import LayerSpec
from rnnshape.family.table import KEYWORD_FLAGS, NOT_IN_WEIGHTS, flag_words
from rnnshape.formulas import LISTING_EDGE, elide, num_parameters

from .file_text import file_str
from .records import CheckpointFormat, SkippedObject

if TYPE_CHECKING:
    from .keras_layers import KerasLayer
    from .onnx_gates import OnnxNode


def command_line(spec: LayerSpec) -> str:
    """The ``rnnshape`` command line that shows the module ``spec`` describes."""
    words = ["rnnshape", spec.mode.value, str(spec.input_size), str(spec.hidden_size)]
    if not spec.mode.is_cell and spec.num_layers != 1:
        words.append(str(spec.num_layers))
    defaults = LayerSpec(spec.mode, spec.input_size, spec.hidden_size)
    for key in KEYWORD_FLAGS:
        if key in spec.mode.kwargs and getattr(spec, key) != getattr(defaults, key):
            words += flag_words(key, getattr(spec, key))
    return " ".join(words)


@dataclass(frozen=True)
class InferredModule:
    """One complete recurrent module found in the file, with the config that rebuilds it."""

    prefix: str
    container: str | None
    spec: LayerSpec
    dtype: str  # the core's dtype name, or "mixed"
    onnx: OnnxNode | None = None  # the node an ONNX model's module comes from
    known: tuple[str, ...] = ()  # kwargs weights do not record but the file stores
    keras: KerasLayer | None = None  # the layer a Keras file's module comes from

    @property
    def module(self) -> str:
        return self.spec.mode.torch_class

    @property
    def num_parameters(self) -> int:
        return num_parameters(self.spec)

    @property
    def unknown(self) -> tuple[str, ...]:
        """The class's kwargs that weights do not record, in signature order."""
        if self.onnx is not None:
            return ()  # the node's layout and activations say; one layer has no dropout
        if self.keras is not None:
            return self.keras.unknown  # a config says; a weights-only file lacks activations
        return tuple(
            k for k in self.spec.mode.kwargs if k in NOT_IN_WEIGHTS and k not in self.known
        )

    def command(self) -> str:
        """The ``rnnshape`` command line that shows this module."""
        return command_line(self.spec)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "prefix": self.prefix,
            "container": self.container,
            "module": self.module,
            "constructor": self.spec.constructor(),
            "command": self.command(),
            "config": self.spec.torch_kwargs(),
            "num_parameters": self.num_parameters,
            "dtype": self.dtype,
            "unknown": list(self.unknown),
        }
        if self.onnx is not None:
            out["graph"] = self.onnx.graph
            out["onnx"] = self.onnx.to_dict()
            out["explain"] = [block.to_dict() for block in self.onnx.blocks]
        if self.keras is not None:
            out["keras"] = self.keras.to_dict()
            out["explain"] = [block.to_dict() for block in self.keras.blocks]
        return out


@dataclass(frozen=True)
class InferProblem:
    """A group of recurrent-looking tensors that is incomplete or inconsistent."""

    prefix: str
    container: str | None
    message: str
    graph: str | None = None  # an ONNX node's subgraph path ("" for the main graph)

    def describe(self) -> str:
        """One line for stderr: where the group sits, then what is wrong."""
        where = file_str(self.prefix) or "(top level)"
        if self.container is not None:
            where = f"{file_str(self.container)}: {where}"
        if self.graph:
            where = f"{file_str(self.graph)}/{where}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "prefix": self.prefix,
            "container": self.container,
            "message": self.message,
        }
        if self.graph is not None:
            out["graph"] = self.graph
        return out


_T = TypeVar("_T")


def listed(items: Sequence[_T]) -> tuple[tuple[_T, ...], tuple[_T, ...], int]:
    """What a listing of ``items`` shows: the items before the gap, those after it, and how
    many were left out (past ``LISTING_LIMIT`` items, the first and last ``LISTING_EDGE``)."""
    shown, omitted = elide(items)
    if not omitted:
        return shown, (), 0
    return shown[:LISTING_EDGE], shown[LISTING_EDGE:], omitted


@dataclass(frozen=True)
class InferResult:
    """Everything ``rnnshape infer`` found in one file; ``to_dict()`` is the JSON contract."""

    file: str
    format: CheckpointFormat
    modules: tuple[InferredModule, ...]
    problems: tuple[InferProblem, ...]
    num_tensors: int
    skipped_objects: tuple[SkippedObject, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "rnnshape_version": __version__,
            "file": self.file,
            "format": self.format.value,
            "modules": [m.to_dict() for m in self.modules],
            "problems": [p.to_dict() for p in self.problems],
            "skipped_objects": [s.to_dict() for s in self.skipped_objects],
        }
