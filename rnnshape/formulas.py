"""Parameter and tensor shapes as pure functions of a spec, in the PyTorch docs' symbols.

Nothing here imports torch: ``--dry-run`` and ``rnnshape check`` answer from these alone,
and every real run checks them against the module and its forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from .spec import Dtype, InputSpec, LayerSpec

DOT = "·"  # the docs' D * H_out, written as a product


@dataclass(frozen=True)
class ParameterShape:
    """One entry of ``named_parameters()`` and where its shape comes from."""

    name: str
    shape: tuple[int, ...]
    symbols: tuple[str, ...]  # per dimension, e.g. ("4·H", "H_in")
    values: tuple[str, ...]  # the same with numbers, e.g. ("4·20", "10")
    gates: tuple[str, ...]  # gate blocks stacked in the rows, torch's order; () for one block
    role: str  # weight_ih, weight_hh, bias_ih, bias_hh, weight_hr
    layer: int | None  # None for a cell
    direction: str  # "forward" or "reverse"

    @property
    def numel(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class TensorShape:
    """One tensor going into or coming out of the forward pass."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]  # the docs' symbol for each dimension
    direction: str  # "in" or "out"
    batch_sizes: tuple[int, ...] | None = None  # a PackedSequence's, else None

    @property
    def packed(self) -> bool:
        return self.batch_sizes is not None

    @property
    def numel(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Symbol:
    """A symbol of the PyTorch docs with its value for this run."""

    name: str
    value: int
    meaning: str


def parameter_shapes(spec: LayerSpec) -> list[ParameterShape]:
    """Every parameter in ``named_parameters()`` order, with its symbolic origin."""
    g = spec.mode.gate_count
    gates = spec.mode.gates
    rows_sym = f"{g}{DOT}H" if g > 1 else "H"
    rows_val = f"{g}{DOT}{spec.hidden_size}" if g > 1 else str(spec.hidden_size)
    rows = spec.gate_rows
    projected = spec.proj_size > 0
    if spec.mode.is_cell:
        return _block(
            spec,
            "",
            None,
            "forward",
            rows,
            rows_sym,
            rows_val,
            gates,
            in_width=spec.input_size,
            in_sym="H_in",
            in_val=str(spec.input_size),
        )
    out: list[ParameterShape] = []
    d = spec.num_directions
    for layer in range(spec.num_layers):
        if layer == 0:
            in_width, in_sym, in_val = spec.input_size, "H_in", str(spec.input_size)
        else:
            in_width = d * spec.h_out
            in_sym, in_val = f"D{DOT}H_out", f"{d}{DOT}{spec.h_out}"
        for direction in ("forward", "reverse")[:d]:
            suffix = f"_l{layer}" + ("_reverse" if direction == "reverse" else "")
            out += _block(
                spec,
                suffix,
                layer,
                direction,
                rows,
                rows_sym,
                rows_val,
                gates,
                in_width=in_width,
                in_sym=in_sym,
                in_val=in_val,
            )
            if projected:
                out.append(
                    ParameterShape(
                        f"weight_hr{suffix}",
                        (spec.proj_size, spec.hidden_size),
                        ("H_out", "H"),
                        (str(spec.proj_size), str(spec.hidden_size)),
                        (),
                        "weight_hr",
                        layer,
                        direction,
                    )
                )
    return out


def _block(
    spec: LayerSpec,
    suffix: str,
    layer: int | None,
    direction: str,
    rows: int,
    rows_sym: str,
    rows_val: str,
    gates: tuple[str, ...],
    *,
    in_width: int,
    in_sym: str,
    in_val: str,
) -> list[ParameterShape]:
    # The recurrent weight multiplies h, which is H_out wide (proj_size when projecting).
    h_sym = "H_out" if spec.proj_size > 0 else "H"
    params = [
        ParameterShape(
            f"weight_ih{suffix}",
            (rows, in_width),
            (rows_sym, in_sym),
            (rows_val, in_val),
            gates,
            "weight_ih",
            layer,
            direction,
        ),
        ParameterShape(
            f"weight_hh{suffix}",
            (rows, spec.h_out),
            (rows_sym, h_sym),
            (rows_val, str(spec.h_out)),
            gates,
            "weight_hh",
            layer,
            direction,
        ),
    ]
    if spec.bias:
        for role in ("bias_ih", "bias_hh"):
            params.append(
                ParameterShape(
                    f"{role}{suffix}",
                    (rows,),
                    (rows_sym,),
                    (rows_val,),
                    gates,
                    role,
                    layer,
                    direction,
                )
            )
    return params


def num_parameters(spec: LayerSpec) -> int:
    """Total number of parameter elements."""
    return sum(p.numel for p in parameter_shapes(spec))


def batch_sizes(lengths: tuple[int, ...]) -> tuple[int, ...]:
    """A PackedSequence's ``batch_sizes``: how many sequences are still running at each step."""
    return tuple(sum(1 for n in lengths if n > t) for t in range(max(lengths)))


def tensor_shapes(spec: LayerSpec, inp: InputSpec) -> list[TensorShape]:
    """Every tensor in and out of the forward pass, in the docs' order."""
    lstm = spec.mode.family == "lstm"
    h, c = spec.h_out, spec.hidden_size
    if spec.mode.is_cell:
        lead: tuple[int, ...] = () if inp.unbatched else (_batch(inp),)
        lead_sym: tuple[str, ...] = () if inp.unbatched else ("N",)
        cell = [
            TensorShape("input", (*lead, spec.input_size), (*lead_sym, "H_in"), "in"),
            TensorShape("h_0", (*lead, h), (*lead_sym, "H_out"), "in"),
        ]
        if lstm:
            cell.append(TensorShape("c_0", (*lead, c), (*lead_sym, "H_cell"), "in"))
        cell.append(TensorShape("h_1", (*lead, h), (*lead_sym, "H_out"), "out"))
        if lstm:
            cell.append(TensorShape("c_1", (*lead, c), (*lead_sym, "H_cell"), "out"))
        return cell

    d = spec.num_directions
    states = d * spec.num_layers
    state_lead: tuple[int, ...] = (states,) if inp.unbatched else (states, _batch(inp))
    state_sym: tuple[str, ...] = (
        (f"D{DOT}num_layers",) if inp.unbatched else (f"D{DOT}num_layers", "N")
    )
    out_sym = f"D{DOT}H_out"
    if inp.lengths is not None:
        sizes = batch_sizes(inp.lengths)
        total = sum(inp.lengths)
        x = TensorShape("input", (total, spec.input_size), ("sum(lengths)", "H_in"), "in", sizes)
        y = TensorShape("output", (total, d * h), ("sum(lengths)", out_sym), "out", sizes)
    else:
        seq = _seq(inp)
        if inp.unbatched:
            steps: tuple[int, ...] = (seq,)
            steps_sym: tuple[str, ...] = ("L",)
        elif spec.batch_first:
            steps, steps_sym = (_batch(inp), seq), ("N", "L")
        else:
            steps, steps_sym = (seq, _batch(inp)), ("L", "N")
        x = TensorShape("input", (*steps, spec.input_size), (*steps_sym, "H_in"), "in")
        y = TensorShape("output", (*steps, d * h), (*steps_sym, out_sym), "out")
    tensors = [x, TensorShape("h_0", (*state_lead, h), (*state_sym, "H_out"), "in")]
    if lstm:
        tensors.append(TensorShape("c_0", (*state_lead, c), (*state_sym, "H_cell"), "in"))
    tensors += [y, TensorShape("h_n", (*state_lead, h), (*state_sym, "H_out"), "out")]
    if lstm:
        tensors.append(TensorShape("c_n", (*state_lead, c), (*state_sym, "H_cell"), "out"))
    return tensors


def _batch(inp: InputSpec) -> int:
    assert inp.batch is not None
    return inp.batch


def _seq(inp: InputSpec) -> int:
    assert inp.seq is not None
    return inp.seq


def symbols(spec: LayerSpec, inp: InputSpec) -> list[Symbol]:
    """The legend: each symbol used in the tables with its value for this run."""
    out = []
    if not spec.mode.is_cell:
        meaning = "sequence length" + (" (the longest of lengths)" if inp.packed else "")
        out.append(Symbol("L", _seq(inp), meaning))
    if not inp.unbatched:
        out.append(Symbol("N", _batch(inp), "batch size"))
    if not spec.mode.is_cell:
        out.append(Symbol("D", spec.num_directions, "2 if bidirectional else 1"))
        out.append(Symbol("num_layers", spec.num_layers, "stacked layers"))
    out.append(Symbol("H_in", spec.input_size, "input_size"))
    out.append(Symbol("H", spec.hidden_size, "hidden_size (rows per gate block)"))
    if spec.mode.family == "lstm":
        out.append(Symbol("H_cell", spec.hidden_size, "hidden_size (width of c)"))
    out.append(
        Symbol(
            "H_out",
            spec.h_out,
            "proj_size (width of h)" if spec.proj_size > 0 else "hidden_size (width of h)",
        )
    )
    return out


def parameter_bytes(spec: LayerSpec, dtype: Dtype) -> int:
    return num_parameters(spec) * dtype.itemsize


def run_memory_bytes(spec: LayerSpec, inp: InputSpec, dtype: Dtype) -> int:
    """A generous estimate of what one inference forward pass allocates.

    Parameters, every tensor in and out, and per layer and direction the work buffers of
    the fused kernels: the gate pre-activations for every step (G·H per row) and the layer's
    output that feeds the next layer.
    """
    tensors = sum(t.numel for t in tensor_shapes(spec, inp))
    if spec.mode.is_cell:
        rows = 1 if inp.unbatched else _batch(inp)
        work = 2 * rows * spec.gate_rows
    else:
        steps = sum(inp.lengths) if inp.lengths else _seq(inp) * (inp.batch or 1)
        per_layer = steps * spec.num_directions * (spec.gate_rows + spec.h_out + spec.hidden_size)
        work = per_layer * spec.num_layers
    return (num_parameters(spec) + tensors + work) * dtype.itemsize
