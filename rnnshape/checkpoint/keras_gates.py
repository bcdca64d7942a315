"""Where each block of a Keras kernel, recurrent kernel and bias goes in torch's weights.

Keras's equations (keras/src/layers/rnn) against torch's docs: a kernel is
``[input, gates·units]`` (torch's ``weight_ih`` transposed); LSTM stacks ``i f c o`` like
torch's ``i f g o``; GRU stacks ``z r h`` where torch stacks ``r z n``; LSTM and SimpleRNN
have one bias (torch's ``bias_ih``, with ``bias_hh`` zero); a GRU with ``reset_after=True``
has a ``[2, 3·units]`` bias (input, recurrent); CuDNNLSTM/CuDNNGRU concatenate the input and
recurrent biases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .keras_config import KerasClass
from .keras_h5 import Dataset
from .onnx_gates import torch_rows_text

if TYPE_CHECKING:
    from .result import InferredModule


@dataclass(frozen=True)
class KerasBlock:
    """One row of the ``--explain`` table: Keras columns and the torch rows they fill.

    A Keras block is columns ``keras_start:keras_stop`` of ``keras_tensor`` (its row
    ``keras_row`` for a GRU's 2-D bias), transposed into torch's rows when ``transpose``;
    ``keras_tensor`` None means the torch rows are zeros (Keras has one bias, torch two).
    """

    direction: int
    keras_tensor: str | None  # kernel, recurrent_kernel, bias
    dataset: str | None  # its HDF5 path
    keras_gate: str | None
    keras_row: int | None
    keras_start: int
    keras_stop: int
    transpose: bool
    torch_parameter: str
    torch_gate: str | None
    torch_start: int
    torch_stop: int

    def keras_slice(self) -> str:
        if self.keras_tensor is None:
            return "0 (zeros)"
        cols = f"{self.keras_start}:{self.keras_stop}"
        if self.keras_tensor == "bias":
            return (
                f"bias[{self.keras_row}, {cols}]" if self.keras_row is not None else f"bias[{cols}]"
            )
        return f"{self.keras_tensor}[:, {cols}].T"

    def torch_slice(self) -> str:
        return torch_rows_text(self.torch_parameter, self.torch_start, self.torch_stop)

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "keras_tensor": self.keras_tensor,
            "dataset": self.dataset,
            "keras_gate": self.keras_gate,
            "keras_row": self.keras_row,
            "keras_columns": [self.keras_start, self.keras_stop],
            "keras": self.keras_slice(),
            "transpose": self.transpose,
            "torch_parameter": self.torch_parameter,
            "torch_gate": self.torch_gate,
            "torch_rows": [self.torch_start, self.torch_stop],
            "torch": self.torch_slice(),
        }


def gate_blocks(
    spec_cls: KerasClass,
    units: int,
    directions: Sequence[tuple[Dataset | None, Dataset | None, Dataset | None]],
    *,
    reset_after: bool | None,
) -> tuple[KerasBlock, ...]:
    """Where each Keras block of kernel, recurrent kernel and bias goes, per direction."""
    torch_order = spec_cls.mode.gates
    keras_gates: Sequence[str | None] = spec_cls.gates or (None,)
    torch_gates: Sequence[str | None] = spec_cls.torch_gates or (None,)
    gates = len(keras_gates)
    blocks: list[KerasBlock] = []
    for direction, (kernel, recurrent, bias) in enumerate(directions):
        suffix = "_l0_reverse" if direction else "_l0"
        sources: list[tuple[str, Dataset | None, str, int | None, int]] = [
            ("kernel", kernel, "weight_ih", None, 0),
            ("recurrent_kernel", recurrent, "weight_hh", None, 0),
        ]
        if bias is not None:
            if spec_cls.bias == "rows":
                sources += [("bias", bias, "bias_ih", 0, 0), ("bias", bias, "bias_hh", 1, 0)]
            elif spec_cls.bias == "concat":
                sources += [
                    ("bias", bias, "bias_ih", None, 0),
                    ("bias", bias, "bias_hh", None, gates),
                ]
            else:
                sources.append(("bias", bias, "bias_ih", None, 0))
        for tensor, dataset, parameter, row, offset in sources:
            for k, (keras_gate, torch_gate) in enumerate(
                zip(keras_gates, torch_gates, strict=True)
            ):
                j = torch_order.index(torch_gate) if torch_gate is not None else 0
                blocks.append(
                    KerasBlock(
                        direction, tensor, dataset.path if dataset else None, keras_gate, row,
                        (offset + k) * units, (offset + k + 1) * units, tensor != "bias",
                        parameter + suffix, torch_gate, j * units, (j + 1) * units,
                    )
                )  # fmt: skip
        if bias is not None and spec_cls.bias == "one":
            blocks.append(
                KerasBlock(
                    direction,
                    None,
                    None,
                    None,
                    None,
                    0,
                    0,
                    False,
                    "bias_hh" + suffix,
                    None,
                    0,
                    gates * units,
                )
            )
    return tuple(blocks)


def iter_blocks(module: InferredModule) -> Iterator[KerasBlock]:
    """The Keras explain blocks of a module (none for other formats)."""
    if module.keras is not None:
        yield from module.keras.blocks
