"""What a run shows, as plain data; ``Report.to_dict()`` is the JSON contract (schema v1)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from rnnshape._version import __version__
from rnnshape.formulas import (
    Cost,
    Memory,
    ParameterShape,
    Symbol,
    TensorShape,
    cost,
    memory,
    row_steps,
)
from rnnshape.spec import Dtype, InputSpec, LayerSpec

if TYPE_CHECKING:
    from rnnshape.torchrun.run import BenchTimes

SCHEMA_VERSION = 1
# Forward plus backward is counted as three forward passes (the backward pass of a matrix
# multiply is two multiplies of the same size), the usual convention for training FLOP/s.
BACKWARD_FLOPS_FACTOR = 3


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
class BenchFigures:
    """The ``bench`` key of the JSON document."""

    runs: int
    warmup: int
    backward: bool
    median_ms: float
    min_ms: float
    sequences_per_s: float
    tokens_per_s: float
    device: str
    cudnn: bool | None
    achieved_flops_per_s: float


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
    bench: BenchTimes | None = None
    explain: bool = False  # add the equations, gate blocks and unrolled network

    @property
    def module(self) -> str:
        return self.spec.mode.torch_class

    @property
    def num_parameters(self) -> int:
        return sum(p.numel for p in self.parameters)

    @property
    def parameter_bytes(self) -> int:
        return self.num_parameters * Dtype(self.dtype).itemsize

    @property
    def cost(self) -> Cost:
        return cost(self.spec, self.input)

    @property
    def memory(self) -> Memory:
        return memory(self.spec, self.input, Dtype(self.dtype))

    @property
    def sequences(self) -> int:
        """Sequences in one pass: N, or 1 unbatched, or the number of lengths (rows for a cell)."""
        if self.input.lengths is not None:
            return len(self.input.lengths)
        return 1 if self.input.unbatched else (self.input.batch or 1)

    def bench_figures(self) -> BenchFigures | None:
        """Figures derived from the measured times and the exact cost; None without --bench."""
        if self.bench is None:
            return None
        times = self.bench.times_ms
        median_ms = statistics.median(times)
        seconds = max(median_ms / 1000.0, 1e-12)
        factor = BACKWARD_FLOPS_FACTOR if self.bench.backward else 1
        return BenchFigures(
            runs=len(times),
            warmup=self.bench.warmup,
            backward=self.bench.backward,
            median_ms=median_ms,
            min_ms=min(times),
            sequences_per_s=self.sequences / seconds,
            tokens_per_s=row_steps(self.spec, self.input) / seconds,
            device=self.bench.device,
            cudnn=self.bench.cudnn,
            achieved_flops_per_s=self.cost.flops * factor / seconds,
        )

    def tensor(self, name: str) -> TensorRow:
        return next(row for row in self.tensors if row.tensor.name == name)

    def to_dict(self) -> dict[str, object]:
        """The JSON document: deterministic (``bench`` aside), plain types only."""
        doc: dict[str, object] = {
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
            "cost": self.cost.to_dict(),
            "memory": self.memory.to_dict(),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "ran_forward": self.ran_forward,
        }
        if self.explain:
            from rnnshape.explain import explain

            doc["explain"] = explain(self.spec, self.input).to_dict()
        bench = self.bench_figures()
        if bench is not None:
            doc["bench"] = asdict(bench)
        return doc


def notes_for(spec: LayerSpec, inp: InputSpec) -> list[str]:
    """Short explanations of the things that most often confuse people about these shapes."""
    notes = []
    layer = not spec.mode.is_cell
    if layer and spec.batch_first and inp.unbatched:
        notes.append("batch_first is ignored for unbatched input: torch reads it as (L, H_in)")
    elif layer and spec.batch_first:
        notes.append(
            "batch_first=True changes input and output only: h_0/h_n"
            + (" and c_0/c_n" if spec.mode.family.recurrence.name == "lstm" else "")
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
    if spec.mode.family.recurrence.name == "rnn":
        notes.append(f"nonlinearity={spec.nonlinearity!r} (print(module) does not show it)")
    if layer and spec.dropout > 0 and spec.num_layers > 1:
        notes.append(
            f"dropout={spec.dropout} applies to the outputs of layers 0 to "
            f"{spec.num_layers - 2} in training mode; shapes are unchanged"
        )
    return notes
