"""Consecutive Keras layers that are one torch module with ``num_layers=k``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rnnshape.family import make_spec

from .keras_find import FoundLayer
from .result import InferredModule, command_line


@dataclass(frozen=True)
class KerasStack:
    """Consecutive layers that chain into one torch module with ``num_layers=k``."""

    layers: tuple[str, ...]  # the modules' prefixes, first to last
    constructor: str
    command: str

    def to_dict(self) -> dict[str, object]:
        return {
            "layers": list(self.layers),
            "constructor": self.constructor,
            "command": self.command,
        }


def with_stacks(
    modules: list[InferredModule], chained: list[tuple[FoundLayer, InferredModule]]
) -> list[InferredModule]:
    """Mark runs of layers a config proves consecutive that equal one multi-layer module."""
    runs: list[list[InferredModule]] = []
    previous: tuple[FoundLayer, InferredModule] | None = None
    for layer, module in chained:
        if previous is not None and _chains(previous, (layer, module)):
            runs[-1].append(module)
        else:
            runs.append([module])
        previous = (layer, module)
    stacks: dict[str, KerasStack] = {}
    for run in runs:
        if len(run) < 2:
            continue
        first = run[0].spec
        sizes = ("input_size", "hidden_size", "num_layers")
        options = {k: v for k, v in first.torch_kwargs().items() if k not in sizes}
        spec = make_spec(first.mode, first.input_size, first.hidden_size, len(run), **options)
        stacks[run[0].prefix] = KerasStack(
            tuple(m.prefix for m in run), spec.constructor(), command_line(spec)
        )
    out = []
    for module in modules:
        stack = stacks.get(module.prefix)
        if stack is not None and module.keras is not None:
            module = replace(module, keras=replace(module.keras, stack=stack))
        out.append(module)
    return out


def _chains(a: tuple[FoundLayer, InferredModule], b: tuple[FoundLayer, InferredModule]) -> bool:
    """True when ``b`` directly follows ``a`` in one model and takes its whole output."""
    (la, ma), (lb, mb) = a, b
    if la.chain is None or lb.chain is None or la.chain[0] != lb.chain[0]:
        return False
    if lb.chain[1] != la.chain[1] + 1 or ma.keras is None or mb.keras is None:
        return False
    if not ma.keras.return_sequences or ma.keras.class_name != mb.keras.class_name:
        return False
    if ma.keras.merge_mode not in (None, "concat") or mb.keras.merge_mode not in (None, "concat"):
        return False
    sa, sb = ma.spec, mb.spec
    width = sa.hidden_size * (2 if sa.bidirectional else 1)
    same = (sa.bias, sa.bidirectional, sa.batch_first, sa.nonlinearity) == (
        sb.bias, sb.bidirectional, sb.batch_first, sb.nonlinearity,
    )  # fmt: skip
    return (
        same and sb.input_size == width and sa.hidden_size == sb.hidden_size and _inbound_is(lb, la)
    )


def _inbound_is(layer: FoundLayer, previous: FoundLayer) -> bool:
    """A Functional layer's input must be the previous layer's output (Sequential: always)."""
    return layer.inbound == "" or (layer.inbound is not None and layer.inbound == previous.name)
