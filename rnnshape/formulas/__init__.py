"""Shapes, counts and bytes as pure functions of a spec, in the PyTorch docs' symbols.

Nothing here imports torch: ``--dry-run`` and ``rnnshape check`` answer from these alone,
and every real run checks them against the module and its forward pass. ``shapes``: the
parameters and tensors (and the elision of long listings); ``work``: the cost of a pass;
``footprint``: bytes, and the memory guard's estimate.
"""

from .footprint import (
    RUN_OVERHEAD_BYTES,
    STEP_OVERHEAD_BYTES,
    Memory,
    forward_peak_bytes,
    memory,
    memory_groups,
    run_memory_bytes,
)
from .shapes import (
    LISTING_EDGE,
    LISTING_LIMIT,
    Dim,
    Factor,
    ParameterShape,
    TensorShape,
    batch_sizes,
    dim_size,
    elide,
    elided_dict,
    listed_batch_sizes,
    listed_parameters,
    num_parameters,
    parameter_count,
    parameter_shapes,
    parameters_per_direction,
    shown_indices,
    tensor_shapes,
)
from .work import (
    BACKWARD_FLOPS_FACTOR,
    Cost,
    cost,
    row_steps,
    sequences,
)

__all__ = [
    "BACKWARD_FLOPS_FACTOR",
    "Cost",
    "Dim",
    "Factor",
    "LISTING_EDGE",
    "LISTING_LIMIT",
    "Memory",
    "ParameterShape",
    "RUN_OVERHEAD_BYTES",
    "STEP_OVERHEAD_BYTES",
    "TensorShape",
    "batch_sizes",
    "cost",
    "dim_size",
    "elide",
    "elided_dict",
    "forward_peak_bytes",
    "listed_batch_sizes",
    "listed_parameters",
    "memory",
    "memory_groups",
    "num_parameters",
    "parameter_count",
    "parameters_per_direction",
    "parameter_shapes",
    "row_steps",
    "run_memory_bytes",
    "sequences",
    "shown_indices",
    "tensor_shapes",
]
