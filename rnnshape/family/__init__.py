"""The bottom layer: the family table and the validated spec of one layer and its input.

No torch, no formatting. ``family`` says what each torch class is; ``layer`` validates the
arguments of one module and the input it is fed.
"""

from typing import TYPE_CHECKING, Any

from .table import (
    FAMILIES,
    INPUT_KEYS,
    LAYER_MODES,
    NONLINEARITIES,
    OPTIONAL_KWARGS,
    TORCH_KEYS,
    Dtype,
    Family,
    Mode,
    Recurrence,
    modes_with,
)

if TYPE_CHECKING:
    from .layer import (
        InputSpec,
        LayerSpec,
        check_device_name,
        make_input,
        make_spec,
        parse_dtype,
        parse_mode,
        spec_warnings,
    )
    from .options import DEFAULT_MAX_SECONDS, BenchRequest, RunOptions

# The validation loads on first use: --help needs the family table only.
_LAYER = frozenset(
    (
        "InputSpec",
        "LayerSpec",
        "check_device_name",
        "make_input",
        "make_spec",
        "parse_dtype",
        "parse_mode",
        "spec_warnings",
    )
)


_OPTIONS = frozenset(("DEFAULT_MAX_SECONDS", "BenchRequest", "RunOptions"))


def __getattr__(name: str) -> Any:
    if name in _LAYER:
        from . import layer

        return getattr(layer, name)
    if name in _OPTIONS:
        from . import options

        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "BenchRequest",
    "RunOptions",
    "check_device_name",
    "FAMILIES",
    "INPUT_KEYS",
    "LAYER_MODES",
    "NONLINEARITIES",
    "OPTIONAL_KWARGS",
    "TORCH_KEYS",
    "Dtype",
    "Family",
    "InputSpec",
    "LayerSpec",
    "Mode",
    "Recurrence",
    "make_input",
    "make_spec",
    "modes_with",
    "parse_dtype",
    "parse_mode",
    "spec_warnings",
]
