"""Parameter and tensor shapes as pure functions of a spec, in the PyTorch docs' symbols,
and the elision of long listings (first and last items kept, totals exact)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from math import prod
from typing import NamedTuple, TypeVar

from rnnshape.family import InputSpec, LayerSpec

# One dimension of a shape as the docs write it: a product of factors, each a symbol with its
# value for this run. A constant factor is its own symbol: ``(("4", 4), ("H", 20))`` is the
# docs' ``4·H``, 80 rows. Renderers spell it (``rnnshape.text.product_text``); nothing here
# builds display text.
Factor = tuple[str, int]
Dim = tuple[Factor, ...]

# A listing longer than LISTING_LIMIT items (parameters, batch_sizes, gate blocks, diagram
# layers) is elided: its first and last LISTING_EDGE items are kept, the gap sits at index
# LISTING_EDGE of what is shown, and every total stays exact (closed forms below).
LISTING_LIMIT = 1000
LISTING_EDGE = LISTING_LIMIT // 2

_T = TypeVar("_T")


def elide(items: Sequence[_T]) -> tuple[tuple[_T, ...], int]:
    """The items shown and how many were left out at index ``LISTING_EDGE``."""
    if len(items) <= LISTING_LIMIT:
        return tuple(items), 0
    shown = (*items[:LISTING_EDGE], *items[len(items) - LISTING_EDGE :])
    return shown, len(items) - LISTING_LIMIT


def elided_dict(shown: int, omitted: int) -> dict[str, int]:
    """The JSON marker of an elided listing: ``omitted`` items are missing at index ``at``
    of the list as shown, which holds ``shown`` of ``total`` items."""
    return {"at": LISTING_EDGE, "omitted": omitted, "total": shown + omitted}


def shown_indices(total: int) -> Iterator[int]:
    """Indices of the items shown of a ``total``-long listing (all, or first and last edge)."""
    if total <= LISTING_LIMIT:
        yield from range(total)
        return
    yield from range(LISTING_EDGE)
    yield from range(total - LISTING_EDGE, total)


def dim_size(dim: Dim) -> int:
    return prod(value for _, value in dim)


class ParameterShape(NamedTuple):
    """One entry of ``named_parameters()`` and where its shape comes from."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[Dim, ...]  # per dimension, e.g. (("4", 4), ("H", 20)) and (("H_in", 10),)
    gates: tuple[str, ...]  # gate blocks stacked in the rows, torch's order; () for one block
    role: str  # weight_ih, weight_hh, bias_ih, bias_hh, weight_hr
    layer: int | None  # None for a cell
    direction: str  # "forward" or "reverse"

    @property
    def numel(self) -> int:
        return prod(self.shape)


class TensorShape(NamedTuple):
    """One tensor going into or coming out of the forward pass."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[Dim, ...]  # the docs' symbols for each dimension, with their values
    direction: str  # "in" or "out"
    batch_sizes: tuple[int, ...] | None = None  # a PackedSequence's (elided), else None
    batch_sizes_omitted: int = 0  # steps left out of batch_sizes at index LISTING_EDGE

    @property
    def packed(self) -> bool:
        return self.batch_sizes is not None

    @property
    def numel(self) -> int:
        return prod(self.shape)


def _sym(name: str, value: int) -> Dim:
    return ((name, value),)


def _param(
    name: str,
    dims: tuple[Dim, ...],
    gates: tuple[str, ...],
    role: str,
    layer: int | None,
    direction: str,
) -> ParameterShape:
    return ParameterShape(
        name, tuple(dim_size(d) for d in dims), dims, gates, role, layer, direction
    )


def _tensor(
    name: str,
    dims: tuple[Dim, ...],
    direction: str,
    batch_sizes: tuple[tuple[int, ...], int] | None = None,
) -> TensorShape:
    shape = tuple(dim_size(d) for d in dims)
    if batch_sizes is None:
        return TensorShape(name, shape, dims, direction)
    return TensorShape(name, shape, dims, direction, *batch_sizes)


def parameter_shapes(spec: LayerSpec) -> list[ParameterShape]:
    """Every parameter in ``named_parameters()`` order, with its symbolic origin.

    The list grows with ``num_layers``; ``listed_parameters`` gives the bounded listing."""
    if spec.mode.family.cell:
        return _layer_parameters(spec, None)
    return [p for layer in range(spec.num_layers) for p in _layer_parameters(spec, layer)]


def parameters_per_direction(spec: LayerSpec) -> int:
    """Parameter tensors of one direction of one layer (or of the cell): ``weight_ih``,
    ``weight_hh``, the two biases, LSTM's projection ``weight_hr``."""
    return 2 + (2 if spec.bias else 0) + (1 if spec.proj_size > 0 else 0)


def _per_layer(spec: LayerSpec) -> int:
    """Parameters per layer (both directions), or of the cell."""
    return parameters_per_direction(spec) * (1 if spec.mode.is_cell else spec.num_directions)


def parameter_count(spec: LayerSpec) -> int:
    """How many entries ``named_parameters()`` has (closed form)."""
    return _per_layer(spec) * (1 if spec.mode.is_cell else spec.num_layers)


def listed_parameters(spec: LayerSpec) -> tuple[list[ParameterShape], int]:
    """The parameters shown (every one, or the first and last ``LISTING_EDGE``) and how many
    were left out; costs O(LISTING_LIMIT) whatever ``num_layers``."""
    total = parameter_count(spec)
    if total <= LISTING_LIMIT:
        return parameter_shapes(spec), 0
    per = _per_layer(spec)
    cache: dict[int, list[ParameterShape]] = {}
    shown = []
    for i in shown_indices(total):
        layer = i // per
        if layer not in cache:
            cache[layer] = _layer_parameters(spec, layer)
        shown.append(cache[layer][i % per])
    return shown, total - LISTING_LIMIT


def _layer_parameters(spec: LayerSpec, layer: int | None) -> list[ParameterShape]:
    """The parameters of one layer (both directions), or of the cell for ``None``."""
    family = spec.mode.family
    g = family.gate_count
    rows: Dim = ((str(g), g), ("H", spec.hidden_size)) if g > 1 else _sym("H", spec.hidden_size)
    # The recurrent weight multiplies h, which is H_out wide (proj_size when projecting).
    h_cols = _sym("H_out" if spec.proj_size > 0 else "H", spec.h_out)
    if layer is None:
        return _block(spec, "", None, "forward", rows, _sym("H_in", spec.input_size), h_cols)
    out: list[ParameterShape] = []
    d = spec.num_directions
    layer_in = _sym("H_in", spec.input_size) if layer == 0 else (("D", d), ("H_out", spec.h_out))
    for direction in ("forward", "reverse")[:d]:
        suffix = f"_l{layer}" + ("_reverse" if direction == "reverse" else "")
        out += _block(spec, suffix, layer, direction, rows, layer_in, h_cols)
        if spec.proj_size > 0:
            out.append(
                _param(
                    f"weight_hr{suffix}",
                    (_sym("H_out", spec.proj_size), _sym("H", spec.hidden_size)),
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
    rows: Dim,
    in_cols: Dim,
    h_cols: Dim,
) -> list[ParameterShape]:
    gates = spec.mode.gates
    params = [
        _param(f"weight_ih{suffix}", (rows, in_cols), gates, "weight_ih", layer, direction),
        _param(f"weight_hh{suffix}", (rows, h_cols), gates, "weight_hh", layer, direction),
    ]
    if spec.bias:
        for role in ("bias_ih", "bias_hh"):
            params.append(_param(f"{role}{suffix}", (rows,), gates, role, layer, direction))
    return params


def num_parameters(spec: LayerSpec) -> int:
    """Total number of parameter elements (closed form: O(1) in ``num_layers``)."""
    g_h, h_out = spec.gate_rows, spec.h_out
    per_direction_tail = 2 * g_h * (1 if spec.bias else 0) + spec.proj_size * spec.hidden_size
    first = g_h * (spec.input_size + h_out) + per_direction_tail
    if spec.mode.is_cell:
        return first
    d = spec.num_directions
    above = g_h * (d * h_out + h_out) + per_direction_tail
    return d * (first + (spec.num_layers - 1) * above)


def batch_sizes(lengths: Sequence[int]) -> tuple[int, ...]:
    """A PackedSequence's ``batch_sizes``: how many sequences are still running at each step.

    As long as the longest sequence; ``listed_batch_sizes`` gives the bounded listing."""
    ordered = sorted(lengths)
    return tuple(len(ordered) - bisect_right(ordered, t) for t in range(ordered[-1]))


def listed_batch_sizes(lengths: Sequence[int]) -> tuple[tuple[int, ...], int]:
    """``batch_sizes`` shown (all, or the first and last ``LISTING_EDGE`` steps) and how many
    steps were left out; O(n log n) in the number of sequences, whatever their lengths."""
    ordered = sorted(lengths)
    count = len(ordered)
    steps = ordered[-1]
    shown = tuple(count - bisect_right(ordered, t) for t in shown_indices(steps))
    return shown, max(0, steps - LISTING_LIMIT)


def tensor_shapes(spec: LayerSpec, inp: InputSpec) -> list[TensorShape]:
    """Every tensor in and out of the forward pass, in the docs' order: the input, each
    initial state (``h_0``, ``c_0``), the output, each final state."""
    family = spec.mode.family
    # h is H_out wide (proj_size when projecting); LSTM's c stays hidden_size (H_cell).
    width = {"h": _sym("H_out", spec.h_out), "c": _sym("H_cell", spec.hidden_size)}
    if family.cell:
        lead: tuple[Dim, ...] = () if inp.unbatched else (_sym("N", _batch(inp)),)
        x = _tensor("input", (*lead, _sym("H_in", spec.input_size)), "in")
        initial = [_tensor(f"{s}_0", (*lead, width[s]), "in") for s in family.states]
        final = [_tensor(f"{s}_1", (*lead, width[s]), "out") for s in family.states]
        return [x, *initial, *final]

    d = spec.num_directions
    stacked: Dim = (("D", d), ("num_layers", spec.num_layers))
    state_lead = (stacked,) if inp.unbatched else (stacked, _sym("N", _batch(inp)))
    out_cols: Dim = (("D", d), ("H_out", spec.h_out))
    if inp.lengths is not None:
        sizes = listed_batch_sizes(inp.lengths)
        rows = _sym("sum(lengths)", sum(inp.lengths))
        x = _tensor("input", (rows, _sym("H_in", spec.input_size)), "in", sizes)
        y = _tensor("output", (rows, out_cols), "out", sizes)
    else:
        seq = _sym("L", _seq(inp))
        steps: tuple[Dim, ...]
        if inp.unbatched:
            steps = (seq,)
        elif spec.batch_first:
            steps = (_sym("N", _batch(inp)), seq)
        else:
            steps = (seq, _sym("N", _batch(inp)))
        x = _tensor("input", (*steps, _sym("H_in", spec.input_size)), "in")
        y = _tensor("output", (*steps, out_cols), "out")
    initial = [_tensor(f"{s}_0", (*state_lead, width[s]), "in") for s in family.states]
    final = [_tensor(f"{s}_n", (*state_lead, width[s]), "out") for s in family.states]
    return [x, *initial, y, *final]


def _batch(inp: InputSpec) -> int:
    assert inp.batch is not None
    return inp.batch


def _seq(inp: InputSpec) -> int:
    assert inp.seq is not None
    return inp.seq
