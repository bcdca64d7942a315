"""What ``rnnshape convert`` prints: the torch constructor of each module written, or specs."""

from __future__ import annotations

from typing import TextIO

from rnnshape.convert import ConvertResult
from rnnshape.render.infer import render_spec
from rnnshape.text import one_line, plural


def render_constructors(result: ConvertResult, stream: TextIO) -> None:
    """One line per module written (its name and torch constructor), then how to load one."""
    if not result.converted:
        return
    stream.write(
        f"# {one_line(result.output)}: {plural(len(result.converted), 'module')} from "
        f"{one_line(result.source.file)}\n"
    )
    for name, module in zip(result.names, result.converted, strict=True):
        stream.write(f"{one_line(repr(name))}: {module.spec.constructor()}\n")
    name, module = result.names[0], result.converted[0]
    key = one_line(repr(name + "."))
    stream.write(
        "# each module's parameters are keyed <name>.<parameter>, e.g. "
        f"m = {module.spec.constructor()}; m.load_state_dict({{k.removeprefix({key}): v for "
        f"k, v in state.items() if k.startswith({key})}})\n"
    )


def render_convert_spec(result: ConvertResult, stream: TextIO) -> None:
    """YAML that ``rnnshape check`` accepts, for the modules written."""
    stream.write(render_spec(result.modules_result))
