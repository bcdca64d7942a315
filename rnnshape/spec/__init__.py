"""The bottom layer: the family table and the validated spec of one layer and its input.

No torch, no formatting. ``family`` says what each torch class is; ``layer`` validates the
arguments of one module and the input it is fed.
"""

from .family import (
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

__all__ = [
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
