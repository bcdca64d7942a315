"""Turn an InferResult into Rich tables, JSON text or specs for ``rnnshape check``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from rnnshape.checkpoint import CheckpointFormat, InferredModule, InferResult
from rnnshape.checkpoint.file_text import TEXT_CHARS, file_repr, file_str
from rnnshape.checkpoint.result import listed
from rnnshape.render.formats import OutputFormat, json_text
from rnnshape.render.keras import add_keras_rows
from rnnshape.render.tables import block_table, fitted, output_console
from rnnshape.text import omitted_text, one_line, plural

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_FORMAT_LABEL = {
    CheckpointFormat.TORCH: "torch checkpoint",
    CheckpointFormat.SAFETENSORS: "safetensors file",
    CheckpointFormat.TORCHSCRIPT: "TorchScript archive",
    CheckpointFormat.ONNX: "ONNX model",
    CheckpointFormat.KERAS: "Keras file",
}
# A YAML key needs quotes unless it is a plain name; YAML 1.1 reads these words as values.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = frozenset("y n yes no on off true false null".split())


def render_json(result: InferResult) -> str:
    """The JSON document, one trailing newline, ASCII only."""
    return json_text(result.to_dict())


def spec_names(result: InferResult) -> list[str]:
    """A name per module for the ``models:`` mapping: the prefix without its trailing dot."""
    names: list[str] = []
    taken: set[str] = set()  # a set: 30,000 modules must not cost 30,000² comparisons
    for module in result.modules:
        name = module.prefix.removesuffix(".") or "model"
        if name in taken and module.container is not None:
            name = f"{module.container}.{name}"
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
        taken.add(name)
    return names


def render_spec(result: InferResult) -> str:
    """YAML that ``rnnshape check`` accepts: a ``models:`` mapping, one spec per module."""
    lines = [
        f"# rnnshape infer {_comment(result.file)}: "
        f"{plural(len(result.modules), 'recurrent module')} ({result.format.value})",
        "# check with: rnnshape check <this file>",
        "models:",
    ]
    for name, module in zip(spec_names(result), result.modules, strict=True):
        where = module.prefix or "(top level)"
        if module.container is not None:
            where = f"{where} in {module.container!r}"
        lines.append(f"  # {_comment(where)}: {module.spec.constructor()}")
        lines.append(f"  {_yaml_key(name)}:")
        lines.append(f"    type: {module.spec.mode.value.replace('-', '_')}")
        for key, value in module.spec.torch_kwargs().items():
            note = "  # unknown: not stored in the weights (torch's default)"
            lines.append(f"    {key}: {_yaml_value(value)}{note if key in module.unknown else ''}")
        lines.append("    expect:")
        lines.append(f"      num_parameters: {module.num_parameters}")
    return "\n".join(lines) + "\n"


def _yaml_key(name: str) -> str:
    """A plain name as it is; any other through PyYAML's emitter, double-quoted, escaped."""
    if _PLAIN_KEY.match(name) and name.lower() not in _YAML_WORDS:
        return name
    import yaml

    return yaml.safe_dump(name, default_style='"', width=2**31 - 1).rstrip("\n")


def _comment(text: str) -> str:
    """File text for a ``#`` comment: every line break and control character escaped, so
    nothing ends the comment (YAML also breaks lines at U+0085, U+2028 and U+2029)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def render_tables(result: InferResult, console: Console) -> None:
    """A header line, then one table per module found."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    header = Text()
    header.append(one_line(result.file), style="bold")
    header.append(
        f": {_FORMAT_LABEL[result.format]} · {result.num_tensors} tensors · "
        f"{plural(len(result.modules), 'recurrent module')}"
    )
    if result.problems:
        header.append(f" · {plural(len(result.problems), 'problem')} (on stderr)")
    console.print(header, soft_wrap=True)  # a long path stays on one line
    if result.skipped_objects:
        before, after, left_out = listed(result.skipped_objects)
        held = ", ".join(f"{file_str(s.type, 100)} ×{s.count:,}" for s in before)
        if left_out:
            held += f", {omitted_text(left_out, 'more types')}, "
            held += ", ".join(f"{file_str(s.type, 100)} ×{s.count:,}" for s in after)
        console.print(
            Text(one_line(f"also holds (not loaded, nothing run): {held}")), soft_wrap=True
        )
    first, last, omitted = listed(result.modules)
    for index, module in enumerate((*first, *last)):
        if omitted and index == len(first):
            # Past LISTING_LIMIT modules the middle is left out (Rich takes ~2.5 ms a table);
            # the header's totals and the JSON stay complete.
            console.print()
            console.print(Text(omitted_text(omitted, "modules")), soft_wrap=True)
        console.print()
        table = Table(
            title=Text(_title(module), style="bold cyan"),
            box=box.SIMPLE_HEAD,
            title_justify="left",
            show_header=False,
            show_edge=False,
            pad_edge=False,
        )
        table.add_column(no_wrap=True, style="dim")
        table.add_column(overflow="fold")
        rows = [("prefix", file_repr(module.prefix, TEXT_CHARS))]
        if module.container is not None:
            rows.append(("container", file_repr(module.container, TEXT_CHARS)))
        rows += [
            ("constructor", module.spec.constructor()),
            ("command", module.command()),
            ("parameters", f"{module.num_parameters:,}"),
            ("dtype", module.dtype),
        ]
        if module.unknown:
            rows.append(
                ("unknown", f"{', '.join(module.unknown)}: not stored in the weights (defaults)")
            )
        for label, value in rows:
            # Text, not a str: what the file says is never read as Rich markup or emoji codes.
            table.add_row(label, Text(one_line(value)))
        _add_onnx_rows(table, module)
        add_keras_rows(table, module)
        console.print(fitted(table))


def _add_onnx_rows(table: Table, module: InferredModule) -> None:
    """An ONNX node's graph, attributes and inputs, under the module's own rows."""
    node = module.onnx
    if node is None:
        return
    from rich.text import Text

    graph = file_repr(node.graph, TEXT_CHARS)
    table.add_row("graph", Text(graph + (" (main)" if not node.graph else "")))
    attributes = [f"direction={node.direction}", f"layout={node.layout}"]
    if node.linear_before_reset is not None:
        attributes.append(f"linear_before_reset={node.linear_before_reset}")
    table.add_row("onnx node", f"{node.op} ({', '.join(attributes)})")
    gates = (
        f"ONNX {node.gate_order or '(one block)'} · torch {node.torch_gate_order or '(one block)'}"
    )
    table.add_row("gate order", gates)
    inputs = ", ".join(
        f"{role}={file_repr(name, TEXT_CHARS)}" for role, name in node.inputs.items() if name
    )
    table.add_row("inputs", Text(one_line(inputs)))


def render_onnx_explain(result: InferResult, stream: TextIO) -> None:
    """Per ONNX module, where each block of W, R and B lands in torch's parameters."""
    with output_console(stream) as console:
        _onnx_explain_tables(result, console)


def _onnx_explain_tables(result: InferResult, console: Console) -> None:
    from rich.text import Text

    for module in result.modules:
        node = module.onnx
        if node is None:
            continue
        console.print()
        rows = [
            (
                "reverse" if block.direction else "forward",
                "" if block.onnx_gate is None else f"{block.onnx_gate} → {block.torch_gate}",
                block.onnx_slice(),
                block.torch_slice(),
            )
            for block in node.blocks
        ]
        console.print(block_table(f"{_title(module)} · ONNX gate blocks → torch", "ONNX", rows))
        for note in node.notes:
            console.print(Text(f"note: {note}"), soft_wrap=True)


def _title(module: InferredModule) -> str:
    return f"{file_str(module.prefix.removesuffix('.'), 100) or '(top level)'} · {module.module}"


def _render_table(result: InferResult, stream: TextIO) -> None:
    """Laid out for ``stream``: a terminal's width, or, piped, no wrapping and no trailing
    spaces (``COLUMNS`` if set)."""
    with output_console(stream) as console:
        render_tables(result, console)


def _render_json(result: InferResult, stream: TextIO) -> None:
    stream.write(render_json(result))


def _render_spec(result: InferResult, stream: TextIO) -> None:
    stream.write(render_spec(result))


RENDERERS: dict[OutputFormat, Callable[[InferResult, TextIO], None]] = {
    OutputFormat.TABLE: _render_table,
    OutputFormat.JSON: _render_json,
    OutputFormat.SPEC: _render_spec,
}
