"""A Keras file's modules: their layer rows in the infer table, and the ``--explain`` tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from rnnshape.checkpoint import InferredModule, InferResult
from rnnshape.render.tables import block_table, output_console
from rnnshape.text import one_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def add_keras_rows(table: Table, module: InferredModule) -> None:
    """A Keras layer's class, options and notes, under the module's own rows."""
    layer = module.keras
    if layer is None:
        return
    from rich.text import Text

    name = layer.class_name if layer.wrapper is None else f"{layer.wrapper}({layer.class_name})"
    if layer.layer is not None:
        name += f" {layer.layer!r}"
    table.add_row("keras layer", Text(one_line(name)))
    table.add_row("weights", Text(one_line(repr(layer.weights))))
    options = [
        f"{key}={value}"
        for key, value in (
            ("activation", layer.activation),
            ("recurrent_activation", layer.recurrent_activation),
            ("reset_after", layer.reset_after),
            ("go_backwards", layer.go_backwards),
            ("return_sequences", layer.return_sequences),
            ("merge_mode", layer.merge_mode),
        )
        if value is not None
    ]
    if options:
        table.add_row("options", Text(one_line(", ".join(options))))
    if layer.gate_order:
        table.add_row("gate order", f"Keras {layer.gate_order} · torch {layer.torch_gate_order}")
    if layer.keras_version is not None:
        table.add_row("keras", Text(one_line(layer.keras_version)))
    if layer.stack is not None:
        table.add_row(
            "stacked",
            Text(one_line(f"{layer.stack.constructor} ({' + '.join(layer.stack.layers)})")),
        )
    for i, note in enumerate(layer.notes):
        table.add_row("notes" if i == 0 else "", Text(one_line(note)))


def render_keras_explain(result: InferResult, stream: TextIO) -> None:
    """Per Keras module, where each block of kernel, recurrent kernel and bias goes in torch."""
    with output_console(stream) as console:
        _explain_tables(result, console)


def _explain_tables(result: InferResult, console: Console) -> None:
    from rich.text import Text

    for module in result.modules:
        layer = module.keras
        if layer is None:
            continue
        console.print()
        title = f"{module.prefix or '(top level)'} · {module.module} · Keras blocks → torch"
        rows = [
            (
                "reverse" if block.direction else "forward",
                "" if block.keras_gate is None else f"{block.keras_gate} → {block.torch_gate}",
                block.keras_slice(),
                block.torch_slice(),
            )
            for block in layer.blocks
        ]
        console.print(block_table(one_line(title), "Keras", rows))
        console.print(
            Text("note: .T is a transpose: Keras kernels are [input, gates·units]"), soft_wrap=True
        )
