"""rnnshape: what a PyTorch recurrent layer holds and returns, verified against torch.

Importing this package costs almost nothing: each public name loads its module on first use
(``rnnshape --help`` needs none of them), and torch is imported only by a real run.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rnnshape._version import SCHEMA_VERSION, __version__

if TYPE_CHECKING:
    from rnnshape.check import check_files
    from rnnshape.checkpoint import infer_checkpoint
    from rnnshape.convert import convert_weights
    from rnnshape.errors import RnnShapeError, SpecError, UsageError, VerificationError
    from rnnshape.family import (
        Dtype,
        InputSpec,
        LayerSpec,
        Mode,
        RunOptions,
        make_input,
        make_spec,
    )
    from rnnshape.formulas import (
        ParameterShape,
        TensorShape,
        num_parameters,
        parameter_shapes,
        tensor_shapes,
    )
    from rnnshape.model_pipeline import inspect_model
    from rnnshape.pipeline import inspect, inspect_module, run_report
    from rnnshape.report import Report
    from rnnshape.report_model import ModelReport

# Where each public name lives.
_HOME = {
    "check_files": "check",
    "infer_checkpoint": "checkpoint",
    "convert_weights": "convert",
    **dict.fromkeys(("RnnShapeError", "SpecError", "UsageError", "VerificationError"), "errors"),
    **dict.fromkeys(
        ("ParameterShape", "TensorShape", "num_parameters", "parameter_shapes", "tensor_shapes"),
        "formulas",
    ),
    "inspect": "pipeline",
    "inspect_module": "pipeline",
    "run_report": "pipeline",
    "RunOptions": "family",
    "inspect_model": "model_pipeline",
    "Report": "report",
    "ModelReport": "report_model",
    **dict.fromkeys(
        ("Dtype", "InputSpec", "LayerSpec", "Mode", "make_input", "make_spec"), "family"
    ),
}


# Names that hand out a Report: loading one also loads the renderers, which register how a
# Report displays (tables in Jupyter, IPython, print); the report layer cannot import them.
_DISPLAYS_REPORTS = frozenset({"inspect", "inspect_module", "Report", "run_report"})
_DISPLAYS_MODELS = frozenset({"inspect_model", "ModelReport"})


def __getattr__(name: str) -> Any:
    if name in _HOME:
        if name in _DISPLAYS_REPORTS:
            import_module("rnnshape.render.report")
        if name in _DISPLAYS_MODELS:
            import_module("rnnshape.render.model")
        value = getattr(import_module(f"rnnshape.{_HOME[name]}"), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (``dir(rnnshape)``, IPython's ``rnnshape.<TAB>``), not the lazy
    loader's own helpers, whether or not a name has been loaded yet."""
    return sorted(__all__)


__all__ = [
    "RunOptions",
    "run_report",
    "SCHEMA_VERSION",
    "Dtype",
    "InputSpec",
    "LayerSpec",
    "Mode",
    "ModelReport",
    "ParameterShape",
    "Report",
    "RnnShapeError",
    "SpecError",
    "TensorShape",
    "UsageError",
    "VerificationError",
    "__version__",
    "check_files",
    "convert_weights",
    "infer_checkpoint",
    "inspect",
    "inspect_model",
    "inspect_module",
    "make_input",
    "make_spec",
    "num_parameters",
    "parameter_shapes",
    "tensor_shapes",
]
