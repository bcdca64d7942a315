"""What ``rnnshape convert`` prints: the torch constructor of each module written, or specs."""

from __future__ import annotations

from typing import TextIO

from rnnshape.convert import ConvertResult
from rnnshape.render.infer import render_spec
from rnnshape.text import one_line, plural


def render_constructors(result: ConvertResult, stream: TextIO) -> None:
    """One Python line per module written: the module, and how its weights load."""
    if not result.converted:
        return
    stream.write(
        f"# {one_line(result.output)}: {plural(len(result.converted), 'module')} from "
        f"{one_line(result.source.file)}\n"
    )
    for name, module in zip(result.names, result.converted, strict=True):
        stream.write(f"{one_line(name)!r}: {module.spec.constructor()}\n")
    example = one_line(repr(result.names[0]))
    stream.write(
        f"# load: state = load_file(OUT) (or torch.load); module.load_state_dict("
        f"{{k.removeprefix({example} + '.'): v for k, v in state.items() "
        f"if k.startswith({example} + '.')}})\n"
    )


def render_convert_spec(result: ConvertResult, stream: TextIO) -> None:
    """YAML that ``rnnshape check`` accepts, for the modules written."""
    stream.write(render_spec(result.modules_result))
