"""rnnshape: what a PyTorch recurrent layer holds and returns, verified against torch.

Importing this package does not import torch; only a real run does.
"""

from ._version import __version__
from .errors import RnnShapeError, SpecError, UsageError, VerificationError
from .formulas import ParameterShape, TensorShape, num_parameters, parameter_shapes, tensor_shapes
from .inspector import inspect, inspect_module
from .report import SCHEMA_VERSION, Report
from .spec import Dtype, InputSpec, LayerSpec, Mode, make_input, make_spec

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
    "inspect",
    "inspect_module",
    "make_input",
    "make_spec",
    "num_parameters",
    "parameter_shapes",
    "tensor_shapes",
]
