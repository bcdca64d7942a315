"""rnnshape: what a PyTorch recurrent layer holds and returns, verified against torch.

Importing this package does not import torch; only a real run does. ``check_files`` and
``infer_checkpoint`` load on first use (they bring PyYAML and the checkpoint readers).
"""

from typing import TYPE_CHECKING, Any

from rnnshape._version import SCHEMA_VERSION, __version__
from rnnshape.errors import RnnShapeError, SpecError, UsageError, VerificationError
from rnnshape.formulas import (
    ParameterShape,
    TensorShape,
    num_parameters,
    parameter_shapes,
    tensor_shapes,
)
from rnnshape.pipeline import inspect, inspect_module
from rnnshape.report import Report
from rnnshape.spec import Dtype, InputSpec, LayerSpec, Mode, make_input, make_spec

if TYPE_CHECKING:
    from rnnshape.check import check_files
    from rnnshape.checkpoint import infer_checkpoint

_LAZY = {"check_files": "check", "infer_checkpoint": "checkpoint"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION",
    "Dtype",
    "InputSpec",
    "LayerSpec",
    "Mode",
    "ParameterShape",
    "Report",
    "RnnShapeError",
    "SpecError",
    "TensorShape",
    "UsageError",
    "VerificationError",
    "__version__",
    "check_files",
    "infer_checkpoint",
    "inspect",
    "inspect_module",
    "make_input",
    "make_spec",
    "num_parameters",
    "parameter_shapes",
    "tensor_shapes",
]
