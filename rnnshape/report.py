"""What a run shows, as plain data; ``Report.to_dict()`` is the JSON contract (schema v1)."""

from __future__ import annotations

from dataclasses import dataclass

from ._version import __version__
from .formulas import ParameterShape, Symbol, TensorShape
from .spec import Dtype, InputSpec, LayerSpec

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TensorRow:
    """A tensor of the forward pass with the dtype and device it had (or would have)."""

    tensor: TensorShape
    dtype: str
    device: str

    def to_dict(self) -> dict[str, object]:
        t = self.tensor
        out: dict[str, object] = {
            "shape": list(t.shape),
            "dims": list(t.dims),
            "numel": t.numel,
            "direction": t.direction,
            "dtype": self.dtype,
            "device": self.device,
            "packed": t.packed,
        }
        if t.batch_sizes is not None:
            out["batch_sizes"] = list(t.batch_sizes)
        return out


@dataclass(frozen=True)
class Report:
    """Everything ``rnnshape <mode>`` shows for one layer and one input."""

    spec: LayerSpec
    input: InputSpec
    device: str
    dtype: str
    parameters: tuple[ParameterShape, ...]
    tensors: tuple[TensorRow, ...]
    symbols: tuple[Symbol, ...]
    ran_forward: bool
    seed: int | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.spec.mode.torch_class

    @property
    def num_parameters(self) -> int:
        return sum(p.numel for p in self.parameters)

    @property
    def parameter_bytes(self) -> int:
        return self.num_parameters * Dtype(self.dtype).itemsize

    def tensor(self, name: str) -> TensorRow:
        return next(row for row in self.tensors if row.tensor.name == name)

    def to_dict(self) -> dict[str, object]:
        """The JSON document: deterministic, plain types only."""
        return {
            "schema_version": SCHEMA_VERSION,
            "rnnshape_version": __version__,
            "module": self.module,
            "constructor": self.spec.constructor(),
            "config": self.spec.torch_kwargs(),
            "device": self.device,
            "dtype": self.dtype,
            "seed": self.seed,
            "input": {
                "seq": self.input.seq,
                "batch": self.input.batch,
                "unbatched": self.input.unbatched,
                "lengths": list(self.input.lengths) if self.input.lengths is not None else None,
            },
            "parameters": [
                {
                    "name": p.name,
                    "shape": list(p.shape),
                    "numel": p.numel,
                    "symbols": list(p.symbols),
                    "values": list(p.values),
                    "gates": list(p.gates),
                    "role": p.role,
                    "layer": p.layer,
                    "direction": p.direction,
                }
                for p in self.parameters
            ],
            "num_parameters": self.num_parameters,
            "parameter_bytes": self.parameter_bytes,
            "tensors": {row.tensor.name: row.to_dict() for row in self.tensors},
            "symbols": {s.name: s.value for s in self.symbols},
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "ran_forward": self.ran_forward,
        }


def notes_for(spec: LayerSpec, inp: InputSpec) -> list[str]:
    """Short explanations of the things that most often confuse people about these shapes."""
    notes = []
    layer = not spec.mode.is_cell
    if layer and spec.batch_first and inp.unbatched:
        notes.append("batch_first is ignored for unbatched input: torch reads it as (L, H_in)")
    elif layer and spec.batch_first:
        notes.append(
            "batch_first=True changes input and output only: h_0/h_n"
            + (" and c_0/c_n" if spec.mode.family == "lstm" else "")
            + " stay (D·num_layers, N, H_out)"
        )
    if inp.lengths is not None:
        notes.append(
            "input is a PackedSequence (enforce_sorted=False): data holds the "
            f"sum(lengths) = {sum(inp.lengths)} real time steps; batch_sizes[t] counts the "
            "sequences still running at step t; h_n holds each sequence's last real step"
        )
    if spec.proj_size > 0:
        notes.append(
            f"proj_size={spec.proj_size}: h and output are {spec.proj_size} wide (H_out), "
            f"c stays hidden_size {spec.hidden_size} (H_cell); weight_hr_l[k] projects h"
        )
    if layer and spec.bidirectional:
        notes.append(
            f"bidirectional: output[..., :{spec.h_out}] is the forward direction and "
            f"output[..., {spec.h_out}:] the reverse; h_n[2k] and h_n[2k+1] are layer k's "
            "forward and reverse final states"
        )
    if spec.mode.family == "rnn":
        notes.append(f"nonlinearity={spec.nonlinearity!r} (print(module) does not show it)")
    if layer and spec.dropout > 0 and spec.num_layers > 1:
        notes.append(
            f"dropout={spec.dropout} applies to the outputs of layers 0 to "
            f"{spec.num_layers - 2} in training mode; shapes are unchanged"
        )
    return notes
