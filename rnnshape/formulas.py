"""Parameter and tensor shapes as pure functions of a spec, in the PyTorch docs' symbols.

Nothing here imports torch: ``--dry-run`` and ``rnnshape check`` answer from these alone,
and every real run checks them against the module and its forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from rnnshape.spec import Dtype, InputSpec, LayerSpec

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
    lstm = spec.mode.family.recurrence.name == "lstm"
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
    if spec.mode.family.recurrence.name == "lstm":
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


# Element-wise FLOPs per hidden unit of one step, one row, one direction, by the equations
# of the PyTorch docs: every add, multiply and nonlinearity counts as one FLOP.
#   without bias / per bias vector pair
_ELEMENTWISE = {
    # h' = act(W_ih x + b_ih + W_hh h + b_hh): 1 add, 1 activation; 2 bias adds
    "rnn": (2, 2),
    # 4 gate sums + 4 activations + c' = f*c + i*g (3) + h' = o*tanh(c') (2); 8 bias adds
    "lstm": (13, 8),
    # r, z: sum + sigmoid (2 each); n: r*(W_hn h) + W_in x, tanh (3);
    # h' = (1 - z)*n + z*h (4); 6 bias adds
    "gru": (11, 6),
}


@dataclass(frozen=True)
class Cost:
    """Exact integer cost of one forward pass (1 MAC = one multiply-add = 2 FLOPs)."""

    input_projection_macs: int
    recurrent_projection_macs: int
    output_projection_macs: int
    elementwise_flops: int

    @property
    def macs(self) -> int:
        return (
            self.input_projection_macs
            + self.recurrent_projection_macs
            + self.output_projection_macs
        )

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise_flops

    def to_dict(self) -> dict[str, object]:
        return {
            "macs": self.macs,
            "flops": self.flops,
            "terms": {
                "input_projection": {"macs": self.input_projection_macs},
                "recurrent_projection": {"macs": self.recurrent_projection_macs},
                "output_projection": {"macs": self.output_projection_macs},
                "elementwise": {"flops": self.elementwise_flops},
            },
        }


def row_steps(spec: LayerSpec, inp: InputSpec) -> int:
    """Rows times time steps that really run: L·N padded, L unbatched, sum(lengths) packed,
    N (or 1) for a cell."""
    if spec.mode.is_cell:
        return 1 if inp.unbatched else _batch(inp)
    if inp.lengths is not None:
        return sum(inp.lengths)
    return _seq(inp) * (1 if inp.unbatched else _batch(inp))


def cost(spec: LayerSpec, inp: InputSpec) -> Cost:
    """MACs of the matrix multiplies and FLOPs of the element-wise work, per the equations."""
    steps = row_steps(spec, inp)
    g_h = spec.gate_rows
    d = 1 if spec.mode.is_cell else spec.num_directions
    per_layer_in = [spec.input_size] + [d * spec.h_out] * (spec.num_layers - 1)
    base, per_bias = _ELEMENTWISE[spec.mode.family.recurrence.name]
    elementwise_per_unit = base + (per_bias if spec.bias else 0)
    return Cost(
        input_projection_macs=steps * d * g_h * sum(per_layer_in),
        recurrent_projection_macs=steps * d * spec.num_layers * g_h * spec.h_out,
        output_projection_macs=steps * d * spec.num_layers * spec.proj_size * spec.hidden_size,
        elementwise_flops=steps * d * spec.num_layers * spec.hidden_size * elementwise_per_unit,
    )


# Values autograd keeps per step, row and direction, in units of H (hidden_size), besides
# h_t itself (H_out wide): LSTM's four gate activations, c_t and tanh(c_t); GRU's r, z, n and
# W_hn·h + b_hn (needed for r's gradient); an RNN's activation output is h_t. With a
# projection, LSTM also keeps the H-wide o_t ⊙ tanh(c_t) that W_hr multiplies.
_SAVED_PER_STEP = {"rnn": 0, "lstm": 6, "gru": 4}


@dataclass(frozen=True)
class Memory:
    """Bytes at the run's dtype (see the README for each formula)."""

    parameter_bytes: int
    input_bytes: int
    state_bytes: int
    output_bytes: int
    training_activation_bytes: int

    def to_dict(self) -> dict[str, int]:
        return {
            "parameter_bytes": self.parameter_bytes,
            "input_bytes": self.input_bytes,
            "state_bytes": self.state_bytes,
            "output_bytes": self.output_bytes,
            "training_activation_bytes": self.training_activation_bytes,
        }


def memory(spec: LayerSpec, inp: InputSpec, dtype: Dtype) -> Memory:
    """Parameter, input, state and output bytes, and autograd's saved activations."""
    size = dtype.itemsize
    tensors = {t.name: t.numel for t in tensor_shapes(spec, inp)}
    outputs = [n for n in ("h_1", "c_1") if n in tensors] if spec.mode.is_cell else ["output"]
    states = [n for n in tensors if n not in outputs and n != "input"]
    steps = row_steps(spec, inp)
    d = 1 if spec.mode.is_cell else spec.num_directions
    per_step = _SAVED_PER_STEP[spec.mode.family.recurrence.name] * spec.hidden_size + spec.h_out
    if spec.proj_size > 0:
        per_step += spec.hidden_size
    layer_inputs = spec.input_size + (spec.num_layers - 1) * d * spec.h_out
    # Dropout between layers keeps one mask per element of every non-final layer's output.
    masks = (spec.num_layers - 1) * d * spec.h_out if spec.dropout > 0 else 0
    saved = steps * (layer_inputs + d * spec.num_layers * per_step + masks)
    return Memory(
        parameter_bytes=num_parameters(spec) * size,
        input_bytes=tensors["input"] * size,
        state_bytes=sum(tensors[n] for n in states) * size,
        output_bytes=sum(tensors[n] for n in outputs) * size,
        training_activation_bytes=saved * size,
    )
