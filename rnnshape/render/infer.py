"""Turn an InferResult into Rich tables, JSON text or specs for ``rnnshape check``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from rnnshape.checkpoint import CheckpointFormat, InferredModule, InferResult
from rnnshape.render.formats import OutputFormat
from rnnshape.text import one_line, plural

if TYPE_CHECKING:
    from rich.console import Console

_FORMAT_LABEL = {
    CheckpointFormat.TORCH: "torch checkpoint",
    CheckpointFormat.SAFETENSORS: "safetensors file",
    CheckpointFormat.TORCHSCRIPT: "TorchScript archive",
}
# A YAML key needs quotes unless it is a plain name; YAML 1.1 reads these words as values.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = frozenset("y n yes no on off true false null".split())


def render_json(result: InferResult) -> str:
    """The JSON document, one trailing newline, ASCII only."""
    return json.dumps(result.to_dict(), indent=2) + "\n"


def spec_names(result: InferResult) -> list[str]:
    """A name per module for the ``models:`` mapping: the prefix without its trailing dot."""
    names: list[str] = []
    for module in result.modules:
        name = module.prefix.removesuffix(".") or "model"
        if name in names and module.container is not None:
            name = f"{module.container}.{name}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def render_spec(result: InferResult) -> str:
    """YAML that ``rnnshape check`` accepts: a ``models:`` mapping, one spec per module."""
    lines = [
        f"# rnnshape infer {result.file}: {plural(len(result.modules), 'recurrent module')} "
        f"({result.format.value})",
        "# check with: rnnshape check <this file>",
        "models:",
    ]
    for name, module in zip(spec_names(result), result.modules, strict=True):
        where = module.prefix or "(top level)"
        if module.container is not None:
            where = f"{where} in {module.container!r}"
        lines.append(f"  # {where}: {module.spec.constructor()}")
        lines.append(f"  {_yaml_key(name)}:")
        lines.append(f"    type: {module.spec.mode.value.replace('-', '_')}")
        for key, value in module.spec.torch_kwargs().items():
            note = "  # unknown: not stored in the weights (torch's default)"
            lines.append(f"    {key}: {_yaml_value(value)}{note if key in module.unknown else ''}")
        lines.append("    expect:")
        lines.append(f"      num_parameters: {module.num_parameters}")
    return "\n".join(lines) + "\n"


def _yaml_key(name: str) -> str:
    if _PLAIN_KEY.match(name) and name.lower() not in _YAML_WORDS:
        return name
    return json.dumps(name)  # a JSON string is a YAML double-quoted scalar


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
    for module in result.modules:
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
        rows = [("prefix", repr(module.prefix))]
        if module.container is not None:
            rows.append(("container", repr(module.container)))
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
        console.print(table)


def _title(module: InferredModule) -> str:
    return one_line(f"{module.prefix.removesuffix('.') or '(top level)'} · {module.module}")


def _render_table(result: InferResult, stream: TextIO) -> None:
    from rich.console import Console

    render_tables(result, Console(file=stream, soft_wrap=False))


def _render_json(result: InferResult, stream: TextIO) -> None:
    stream.write(render_json(result))


def _render_spec(result: InferResult, stream: TextIO) -> None:
    stream.write(render_spec(result))


RENDERERS: dict[OutputFormat, Callable[[InferResult, TextIO], None]] = {
    OutputFormat.TABLE: _render_table,
    OutputFormat.JSON: _render_json,
    OutputFormat.SPEC: _render_spec,
}
