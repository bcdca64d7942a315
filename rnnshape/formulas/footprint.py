"""Bytes: of the parameters and tensors, of autograd's saved activations, and the memory
guard's estimate of a run's peak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rnnshape.family import Dtype, InputSpec, LayerSpec

from .shapes import TensorShape, _batch, _seq, num_parameters, tensor_shapes
from .work import row_steps

# What torch's CPU kernels allocate beyond the tensors' own elements, measured with
# tests/test_memory_guard.py (peak RSS of a child process above its baseline after
# ``import torch``): a fixed start-up cost of the first pass (thread pools, oneDNN
# primitives), and per time step of a layer's direction the small tensors the
# step-by-step kernels keep until the outputs are stacked (~650 bytes each for RNN/GRU,
# fewer for oneDNN's LSTM).
RUN_OVERHEAD_BYTES = 16 * 2**20
STEP_OVERHEAD_BYTES = 768


def run_memory_bytes(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    tensors: list[TensorShape] | None = None,
    *,
    fused: bool = False,
) -> int:
    """A generous estimate of the peak memory one inference forward pass adds (CPU).

    Parameters, every tensor in and out, and the work of one layer at a time (torch frees
    a layer's buffers before the next starts): per direction the gate pre-activations for
    every step (G·H per row), c, the layer's output and the previous layer's that feeds it,
    and a fixed cost per time step. Packed input starts from the padded batch
    (L·count·H_in), which ``pack_padded_sequence`` copies once more to sort it. Closed
    form: O(1) in ``num_layers`` and the lengths. ``fused``: the layer runs oneDNN's fused
    LSTM (``explain.kernel.predict_backend``), which holds one direction's gate
    pre-activations besides the layer's output and input, and no per-step tensors.
    """
    if tensors is None:
        tensors = tensor_shapes(spec, inp)
    elements = sum(t.numel for t in tensors)
    overhead = RUN_OVERHEAD_BYTES
    if spec.mode.is_cell:
        rows = 1 if inp.unbatched else _batch(inp)
        work = 2 * rows * spec.gate_rows
    elif fused:  # oneDNN's LSTM: one direction's gates, the layer's output and its input's
        work = row_steps(spec, inp) * (spec.gate_rows + 2 * spec.num_directions * spec.h_out)
    else:
        steps = row_steps(spec, inp)
        d = spec.num_directions
        work = steps * d * (spec.gate_rows + spec.hidden_size + 2 * spec.h_out)
        overhead += _seq(inp) * d * STEP_OVERHEAD_BYTES
        if inp.lengths is not None:
            work += 2 * _seq(inp) * len(inp.lengths) * spec.input_size
    return (num_parameters(spec) + elements + work) * dtype.itemsize + overhead


class Memory(NamedTuple):
    """Bytes at the run's dtype (see the README for each formula).

    ``peak_bytes`` is the memory guard's estimate of what the run adds at its peak (on a CPU,
    above the interpreter with torch loaded; on CUDA, what ``torch.cuda.max_memory_allocated``
    counts); ``measured_peak_bytes`` what a real run was seen to add (None without one)."""

    parameter_bytes: int
    input_bytes: int
    state_bytes: int
    output_bytes: int
    training_activation_bytes: int
    peak_bytes: int = 0
    measured_peak_bytes: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {
            "parameter_bytes": self.parameter_bytes,
            "input_bytes": self.input_bytes,
            "state_bytes": self.state_bytes,
            "output_bytes": self.output_bytes,
            "training_activation_bytes": self.training_activation_bytes,
            "peak_bytes": self.peak_bytes,
            "measured_peak_bytes": self.measured_peak_bytes,
        }


def memory_groups(
    spec: LayerSpec, tensors: Sequence[TensorShape]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tensors counted as ``state_bytes`` and as ``output_bytes``, by name.

    What a layer or cell returns: output for a layer, the new states (h_1, c_1) for a cell;
    the states are the rest besides the input (the family's own: h_0, h_n or h_0, c_0, ...)."""
    outputs = (
        ("output",)
        if not spec.mode.is_cell
        else tuple(t.name for t in tensors if t.direction == "out")
    )
    states = tuple(t.name for t in tensors if t.name not in outputs and t.name != "input")
    return states, outputs


def forward_peak_bytes(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    device: str = "cpu",
    tensors: list[TensorShape] | None = None,
    fused: bool = False,
) -> int:
    """``run_memory_bytes`` as the device counts it: on CUDA the process's fixed and
    per-step host costs are not device memory, so they are left out."""
    need = run_memory_bytes(spec, inp, dtype, tensors, fused=fused)
    if device.startswith("cuda"):
        need -= RUN_OVERHEAD_BYTES
        if not spec.mode.is_cell:
            need -= _seq(inp) * spec.num_directions * STEP_OVERHEAD_BYTES
    return need


def memory(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    tensors: list[TensorShape] | None = None,
    *,
    device: str = "cpu",
    training: bool = False,
    fused: bool = False,
) -> Memory:
    """Parameter, input, state and output bytes, and autograd's saved activations.

    Autograd keeps, per step, row and direction, the family's ``saved_per_step`` values in
    units of H besides h_t itself (H_out wide); with a projection LSTM also keeps the H-wide
    o_t ⊙ tanh(c_t) that W_proj (``weight_hr_l[k]``) multiplies."""
    if tensors is None:
        tensors = tensor_shapes(spec, inp)
    size = dtype.itemsize
    numel = {t.name: t.numel for t in tensors}
    states, outputs = memory_groups(spec, tensors)
    steps = row_steps(spec, inp)
    d = 1 if spec.mode.is_cell else spec.num_directions
    per_step = spec.mode.family.recurrence.saved_per_step * spec.hidden_size + spec.h_out
    if spec.proj_size > 0:
        per_step += spec.hidden_size
    layer_inputs = spec.input_size + (spec.num_layers - 1) * d * spec.h_out
    # Dropout between layers keeps one mask per element of every non-final layer's output.
    masks = (spec.num_layers - 1) * d * spec.h_out if spec.dropout > 0 else 0
    saved = steps * (layer_inputs + d * spec.num_layers * per_step + masks)
    return Memory(
        parameter_bytes=num_parameters(spec) * size,
        input_bytes=numel["input"] * size,
        state_bytes=sum(numel[n] for n in states) * size,
        output_bytes=sum(numel[n] for n in outputs) * size,
        training_activation_bytes=saved * size,
        # The guard's peak: a forward pass; a backward bench adds autograd's saved
        # activations and one gradient per parameter.
        peak_bytes=forward_peak_bytes(spec, inp, dtype, device, tensors, fused)
        + ((saved + num_parameters(spec)) * size if training else 0),
    )
