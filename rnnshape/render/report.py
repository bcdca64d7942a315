"""Turn a Report into Rich tables or JSON text; decides nothing about the content."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rnnshape.errors import SpecError
from rnnshape.render.display import document_display, emitter
from rnnshape.render.formats import OutputFormat, json_text
from rnnshape.render.tables import Prose, fitted, section_table
from rnnshape.report import (
    LISTING_EDGE,
    Dim,
    Report,
    dim_symbol,
    dim_value,
    register_display,
)
from rnnshape.text import (
    duration_text,
    human_bytes,
    listing_text,
    omitted_text,
    shape_text,
    short_count,
    tuple_text,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table


def _dims_text(dims: tuple[Dim, ...], spell: Callable[[Dim], str]) -> str:
    return tuple_text([spell(d) for d in dims])


def _gates_text(gates: tuple[str, ...], role: str) -> str:
    if role == "weight_hr":
        return "projection"
    return "|".join(gates) if gates else "one block"


def render_json(report: Report) -> str:
    """The JSON document, one trailing newline, ASCII only (safe on any terminal encoding)."""
    return json_text(report.to_dict())


def sections(report: Report) -> list[RenderableType]:
    """Header, parameters, tensors, cost, memory, bench and legend: what ``render_tables``
    prints, built first so that a pipe can be laid out as wide as they are; each table fits
    the width it gets (``fitted``: narrowed, else stacked, never a word or number cut)."""
    from rich.table import Table
    from rich.text import Text

    status = (
        "forward pass run and verified against torch" + _run_text(report)
        if report.ran_forward
        else ("dry run: computed from the formulas, nothing allocated")
    )
    header = Text()
    header.append(report.spec.constructor(), style="bold")
    header.append(f"\ndevice {report.device} · dtype {report.dtype}")
    if report.seed is not None and report.ran_forward:
        header.append(f" · seed {report.seed}")
    header.append(f"\n{status}", style="dim")

    params = _parameter_table(report)

    tensors = section_table("Tensors of one forward pass")
    tensors.add_column("tensor", no_wrap=True, style="cyan")
    tensors.add_column("", no_wrap=True)
    tensors.add_column("shape", overflow="fold")
    tensors.add_column("dims", overflow="fold")
    tensors.add_column("dtype", no_wrap=True)
    tensors.add_column("device", no_wrap=True)
    for row in report.tensors:
        t = row.tensor
        shape = shape_text(t.shape)
        dims = _dims_text(t.dims, dim_symbol)
        if t.batch_sizes is not None:
            shape = f"{shape}\npacked"
            sizes = listing_text(t.batch_sizes, t.batch_sizes_omitted, LISTING_EDGE)
            dims = f"{dims}\nbatch_sizes {sizes}"
        tensors.add_row(t.name, t.direction, shape, dims, row.dtype, row.device)

    legend = Table(
        title="Symbols", box=None, title_justify="left", show_header=False, pad_edge=False
    )
    legend.add_column(no_wrap=True, style="cyan")
    legend.add_column(justify="right", no_wrap=True)
    legend.add_column(overflow="fold", style="dim")
    for s in report.symbols:
        legend.add_row(s.name, str(s.value), s.meaning)
    content: list[RenderableType] = [header, "", params, "", tensors, ""]
    content += _cost_sections(report)
    content.append(legend)
    content += [Prose(f"note: {note}") for note in report.notes]
    return [fitted(c) if isinstance(c, Table) else c for c in content]


def _parameter_table(report: Report) -> Table:
    params = section_table("Parameters (named_parameters() order)")
    params.add_column("name", no_wrap=True, style="cyan")
    # The shape may wrap between its numbers, the gates never ("project/ion").
    params.add_column("shape", overflow="fold")
    params.add_column("from", overflow="fold")
    params.add_column("gates", overflow="fold", no_wrap=True)
    params.add_column("numel", justify="right", no_wrap=True)
    for i, p in enumerate(report.parameters):
        if report.parameters_omitted and i == LISTING_EDGE:
            params.add_row(omitted_text(report.parameters_omitted, "parameters"), "", "", "", "")
        origin = f"{_dims_text(p.dims, dim_symbol)} = {_dims_text(p.dims, dim_value)}"
        params.add_row(
            p.name, shape_text(p.shape), origin, _gates_text(p.gates, p.role), f"{p.numel:,}"
        )
    params.caption = (
        f"{report.num_parameters:,} parameters · "
        f"{human_bytes(report.parameter_bytes)} at {report.dtype}"
    )
    params.caption_justify = "left"
    return params


def render_tables(report: Report, console: Console) -> None:
    """Header, parameters, tensors, legend and notes as Rich renderables."""
    draw(report, sections(report), console)


def draw(report: Report, content: list[RenderableType], console: Console) -> None:
    """Print ``content`` (the report's sections), then the explanation if any."""
    for section in content:
        console.print(section)
    if report.explanation is not None:
        from rnnshape.render.explain import render_explain

        console.print()
        render_explain(report.explanation, report.spec, report.input, console)


def _cost_sections(report: Report) -> list[RenderableType]:
    sections: list[RenderableType] = []
    c = report.cost
    table = section_table("Cost of one forward pass (1 MAC = 2 FLOPs)")
    table.add_column("term", overflow="fold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("", justify="right", no_wrap=True, style="dim")
    table.add_column("unit", no_wrap=True)
    rows = [
        ("input projections W_ih·x", c.input_projection_macs, "MACs"),
        ("recurrent projections W_hh·h", c.recurrent_projection_macs, "MACs"),
        # LSTM only: no other family has a projection (and GRU's W_hr is its reset gate).
        *(
            (("output projection W_proj·h", c.output_projection_macs, "MACs"),)
            if "proj_size" in report.spec.mode.kwargs
            else ()
        ),
        ("element-wise (gates, states)", c.elementwise_flops, "FLOPs"),
        ("total matrix multiplies", c.macs, "MACs"),
        ("total", c.flops, "FLOPs"),
    ]
    for term, count, unit in rows:
        table.add_row(term, f"{count:,}", short_count(count), unit)
    sections += [table, ""]

    m = report.memory
    states, outputs = report.memory_tensors
    mem = section_table(f"Memory at {report.dtype}")
    mem.add_column("what", overflow="fold")
    mem.add_column("bytes", justify="right", no_wrap=True)
    mem.add_column("", justify="right", no_wrap=True, style="dim")
    for what, size in (
        ("parameters", m.parameter_bytes),
        ("input", m.input_bytes),
        (_named("states", states), m.state_bytes),
        (_named("output", outputs), m.output_bytes),
        ("training activations (estimate)", m.training_activation_bytes),
        ("peak (estimate)", m.peak_bytes),
        *(
            (("peak (measured)", m.measured_peak_bytes),)
            if m.measured_peak_bytes is not None
            else ()
        ),
    ):
        mem.add_row(what, f"{size:,}", human_bytes(size))
    sections += [mem, ""]

    bench = report.bench
    if bench is None:
        return sections
    kind = "forward + backward" if bench.backward else "forward"
    timing = section_table(
        f"Bench: {bench.runs} {kind} passes after {bench.warmup} warm-up", show_header=False
    )
    timing.add_column(overflow="fold")
    timing.add_column(justify="right", no_wrap=True)
    cudnn = "" if bench.cudnn is None else f" (cuDNN {'used' if bench.cudnn else 'not used'})"
    for what, value in (
        ("median latency", f"{bench.median_ms:.3f} ms"),
        ("min latency", f"{bench.min_ms:.3f} ms"),
        ("max latency", f"{bench.max_ms:.3f} ms ({_ratio(bench.max_ms, bench.min_ms)} min)"),
        ("spread (IQR)", f"{bench.iqr_ms:.3f} ms{' (unstable)' if bench.unstable else ''}"),
        ("sequences per second", f"{bench.sequences_per_s:,.1f}"),
        ("time steps per second", f"{bench.tokens_per_s:,.1f}"),
        ("achieved FLOP/s", f"{short_count(int(bench.achieved_flops_per_s))}FLOP/s"),
        ("device", f"{bench.device}{cudnn}"),
        *(
            (("threads", f"{bench.threads}{' (oversubscribed)' if bench.oversubscribed else ''}"),)
            if bench.threads is not None
            else ()
        ),
    ):
        timing.add_row(what, value)
    sections += [timing, ""]
    return sections


def _named(what: str, names: tuple[str, ...]) -> str:
    """``states (h_0, h_n)``; ``output`` alone where the one tensor is the row's name."""
    return what if names == (what,) else f"{what} ({', '.join(names)})"


_BACKENDS = {"cudnn": "cuDNN", "onednn": "oneDNN", "miopen": "MIOpen", "native": "native kernels"}


def _run_text(report: Report) -> str:
    """`` · oneDNN · took 0.4 s (estimated 0.5 s)``: the kernel and the time guard's figures."""
    run = report.run
    if run is None:
        return ""
    parts = [_BACKENDS.get(run.backend, run.backend)] if run.backend else []
    took = f"took {duration_text(run.measured_seconds)}"
    if run.estimated_seconds is not None:
        took += f" (estimated {duration_text(run.estimated_seconds)})"
    return " · " + " · ".join([*parts, took])


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "n/a"


# The tables on a stream, laid out for it (see ``output_console``).
emit_tables = emitter(sections, draw)


def emit_json(report: Report, out: TextIO) -> None:
    out.write(render_json(report))


RENDERERS: dict[OutputFormat, Callable[[Report, TextIO], None]] = {
    OutputFormat.TABLE: emit_tables,
    OutputFormat.JSON: emit_json,
}


def save_svg(report: Report, path: Path, width: int | None = None) -> None:
    """Save the tables as an SVG picture (``width`` columns; default: the terminal's).

    Written to a new file beside the target, then renamed into place: a write that fails
    (a full disk) leaves whatever was at ``path`` untouched.
    """
    import io

    from rich.console import Console

    # Without a width, lay the tables out as the terminal on stdout would.
    columns = width if width is not None else Console().width
    console = Console(file=io.StringIO(), width=columns, record=True, soft_wrap=False)
    render_tables(report, console)
    picture = console.export_svg(title=f"rnnshape: {report.spec.constructor()}")
    try:
        write_replacing(path, picture)
    except OSError as exc:
        raise SpecError("svg", f"{str(path)!r} cannot be written: {exc.strerror or exc}") from exc


def write_replacing(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) onto ``path`` all or nothing (``rnnshape.files.replace_file``)."""
    from rnnshape.files import replace_file

    replace_file(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


register_display(document_display(sections, draw))
