"""Draw an Explanation with Rich: equations with shapes, gate blocks, the unrolled network.

Every line fits ``console.width`` (from 60 columns up): long text wraps, and the diagram
elides middle time steps and middle layers with ``…`` when they would not fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnshape.render.tables import fitted, section_table
from rnnshape.report import InputSpec, LayerSpec
from rnnshape.text import shape_text

if TYPE_CHECKING:
    from rich.console import Console

    from rnnshape.report import Equation, Explanation, GateBlock

MAX_LAYERS = 4  # more layers than this: show 0, 1 and the last, elide the middle
CONNECTOR = {"forward": " → ", "reverse": " ← ", "none": "   "}
# How each backend of explain.kernel.BACKENDS is named on screen, with the op that shows it.
BACKEND_TITLES = {
    "cudnn": "cuDNN (aten::_cudnn_rnn)",
    "onednn": "oneDNN (aten::mkldnn_rnn_layer)",
    "miopen": "MIOpen (aten::miopen_rnn)",
    "mps": "MPS (aten::_lstm_mps)",
    "native": "native (torch's plain per-step kernels)",
}


def _layers_title(layers: tuple[int, int] | None, num_layers: int) -> str:
    if layers is None:
        return "one step"
    first, last = layers
    if first == last:
        return f"layer {first}"
    if (first, last) == (0, num_layers - 1):
        return "every layer"
    return f"layers {first}–{last}"


def render_explain(
    explanation: Explanation, spec: LayerSpec, inp: InputSpec, console: Console
) -> None:
    """Print the equations, the gate-block table and the unrolled diagram."""
    from rich.padding import Padding
    from rich.text import Text

    console.print(Text(f"Equations of nn.{spec.mode.torch_class} (PyTorch docs)", style="bold"))
    group: tuple[int, int] | None | str = "unset"
    for eq in explanation.equations:
        if eq.layers != group and not spec.mode.is_cell:
            group = eq.layers
            console.print(Text(_layers_title(eq.layers, spec.num_layers), style="underline"))
        _print_equation(eq, console)
    for note in explanation.notes:
        console.print(Padding(Text(note, style="dim"), (0, 0, 0, 2)))
    console.print()
    _print_gates(explanation.gates, spec, console)
    console.print()
    title = "One step" if spec.mode.is_cell else "Unrolled (time →, layers stacked, output on top)"
    console.print(Text(title, style="bold"))
    for line in diagram_lines(spec, inp, console.width):
        console.print(Text(line, no_wrap=True, overflow="ellipsis"), highlight=False)
    for line in _pack(_flow_legend(explanation), console.width - 2):
        console.print(Padding(Text(line, style="dim"), (0, 0, 0, 2)))
    if explanation.kernel is not None:
        console.print()
        _print_kernel(explanation, console)


def _print_kernel(explanation: Explanation, console: Console) -> None:
    """The kernel torch picks, torch's rule that decided it, and its notes."""
    from rich.padding import Padding
    from rich.text import Text

    kernel = explanation.kernel
    assert kernel is not None
    title = Text("Kernel" + (" (predicted)" if kernel.predicted else "") + ": ", style="bold")
    title.append(BACKEND_TITLES.get(kernel.backend, kernel.backend), style="bold cyan")
    console.print(title)
    console.print(Padding(Text(kernel.rule), (0, 0, 0, 2)))
    for note in kernel.notes:
        console.print(Padding(Text(f"note: {note}", style="dim"), (0, 0, 0, 2)))


def _print_equation(eq: Equation, console: Console) -> None:
    from rich.padding import Padding
    from rich.text import Text

    line = Text()
    line.append(eq.lhs, style="bold cyan")
    line.append(f" = {eq.rhs}")
    console.print(Padding(line, (0, 0, 0, 2)))
    tokens = [f"{eq.lhs} {shape_text(eq.shape)}:"]
    tokens += [f"{t.symbol} {shape_text(t.shape)}" for t in eq.terms]
    for text in _pack(tokens, console.width - 6):
        console.print(Padding(Text(text, style="dim"), (0, 0, 0, 6)))
    if eq.note:
        console.print(Padding(Text(f"note: {eq.note}", style="dim"), (0, 0, 0, 6)))


def _pack(tokens: list[str], width: int) -> list[str]:
    """Greedy lines of whole tokens two spaces apart, so no shape is split across lines."""
    lines: list[str] = []
    for token in tokens:
        if lines and len(lines[-1]) + 2 + len(token) <= width:
            lines[-1] += "  " + token
        else:
            lines.append(token)
    return lines


def _print_gates(gates: tuple[GateBlock, ...], spec: LayerSpec, console: Console) -> None:
    table = section_table("Gate blocks (torch's row order)")
    table.add_column("block", no_wrap=True, style="cyan")
    table.add_column("lives in", overflow="fold")
    table.add_column("shape", overflow="fold")
    layers = spec.num_layers
    elide = not spec.mode.is_cell and layers > MAX_LAYERS
    shown = {0, 1, layers - 1} if elide else set(range(layers))
    group: tuple[int | None, str] | None = None
    for gate in gates:
        layer = gate.layer
        if layer is not None and layer not in shown:
            if layer == 2 and group != (2, "elided"):
                group = (2, "elided")
                table.add_section()
                table.add_row(
                    "…",
                    f"layers 2–{layers - 2}: as layer 1, in _l2 … _l{layers - 2}",
                    "",
                    style="dim",
                )
            continue
        key = (layer, gate.direction)
        if key != group and layer is not None:
            group = key
            table.add_section()
            table.add_row("", f"layer {layer}, {gate.direction}", "", style="bold")
        table.add_row(gate.name, gate.index, shape_text(gate.shape))
    console.print(fitted(table))


def _flow_legend(explanation: Explanation) -> list[str]:
    """What travels along the diagram's arrows, with shapes, read from its edges."""
    seen: dict[str, str] = {}
    nodes = {n.id: n for n in explanation.diagram.nodes}
    for edge in explanation.diagram.edges:
        source = nodes[edge.source]
        if edge.recurrent:
            key = f"{edge.label} along → / ←"
        elif source.kind == "input":
            key = f"{edge.label} into the first layer"
        elif source.kind in ("layer_output", "dropout"):
            key = "x_t between layers ↑"
        elif source.kind == "initial_state":
            key = edge.label.split("[")[0] + ("[k]" if "[" in edge.label else "")
        elif nodes[edge.target].kind == "final_state":
            key = edge.label.split("[")[0] + ("[k]" if "[" in edge.label else "")
        else:
            continue
        seen.setdefault(key, shape_text(edge.shape))
    for node in explanation.diagram.nodes:
        if node.kind == "layer_output" and node.id == "output" and node.shape is not None:
            seen["output"] = shape_text(node.shape)
        if node.kind == "dropout":
            seen.setdefault("dropout", f"p={dict(node.extra)['p']} (training mode only)")
    return [f"{k}: {v}" for k, v in seen.items()]


def _state_labels(spec: LayerSpec, slot: int | None, initial: bool, full: bool) -> str:
    lstm = spec.mode.family.has_cell_state
    if slot is None:  # a cell
        names = ("h_0", "c_0") if initial else ("h_1", "c_1")
        return ",".join(names[: 2 if lstm else 1])
    names = ("h_0", "c_0") if initial else ("h_n", "c_n")
    labels = [f"{n}[{slot}]" for n in names[: 2 if lstm and full else 1]]
    return ",".join(labels)


def _pick_steps(length: int, fit: int) -> list[int | None]:
    """Time steps to draw, ``None`` for the elided middle."""
    if length <= fit:
        return list(range(length))
    first = max(1, fit // 2)
    last = max(1, fit - 1 - first)
    return [*range(first), None, *range(length - last, length)]


def diagram_lines(spec: LayerSpec, inp: InputSpec, width: int) -> list[str]:
    """The unrolled network as plain lines, none wider than ``width``."""
    lines = _cell_lines(spec) if spec.mode.is_cell else _layer_lines(spec, inp, width)
    return [_clip(line, width) for line in lines]


def _clip(line: str, width: int) -> str:
    line = line.rstrip()
    return line if len(line) <= width else line[: width - 1] + "…"


def _row(left: str, tokens: list[str], conn: str, right: str, wl: int, cw: int) -> str:
    mid = conn.join(t.center(cw) for t in tokens)
    return f"{left.rjust(wl)}{conn}{mid}{conn}{right}"


def _cell_lines(spec: LayerSpec) -> list[str]:
    left = _state_labels(spec, None, True, True)
    right = _state_labels(spec, None, False, True)
    token = f"[{spec.mode.torch_class}]"
    wl, cw = max(len(left), len("input")), len(token)
    return [
        _row(left, [token], CONNECTOR["forward"], right, wl, cw),
        _row("", ["↑"], CONNECTOR["none"], "", wl, cw),
        _row("input", ["x"], CONNECTOR["none"], "", wl, cw),
    ]


def _layer_lines(spec: LayerSpec, inp: InputSpec, width: int) -> list[str]:
    seq = inp.seq
    assert seq is not None
    d, layers = spec.num_directions, spec.num_layers
    cw = len(str(seq - 1)) + 3  # "[t12]" and "x_12"
    # Prefer labels with c (LSTM) and a layer tag; drop them only to draw more steps.
    top = d * layers - 1
    layouts = []
    for full, tagged in ((True, True), (False, True), (False, False)):
        wl = max(len("output"), len("dropout"), len(_state_labels(spec, top, True, full)))
        wr = len(_state_labels(spec, top, False, full))
        tag = len(f" layer {layers - 1}") if tagged else 0
        layouts.append((full, tagged, wl, wr, (width - wl - wr - tag - 3) // (cw + 3)))
    full, tagged, wl, wr, fit = next(
        (lay for lay in layouts if lay[4] >= seq),
        next((lay for lay in layouts if lay[4] >= 3), layouts[-1]),
    )
    steps = _pick_steps(seq, max(fit, 1))
    cells = ["…" if t is None else f"[t{t}]" for t in steps]
    arrows = ["⋮" if t is None else "↑" for t in steps]
    xs = ["…" if t is None else f"x_{t}" for t in steps]
    none = CONNECTOR["none"]
    shown: list[int | None] = [0, 1, None, layers - 1]  # None: the elided middle
    if layers <= MAX_LAYERS:
        shown = list(range(layers))
    lines = [_row("output", arrows, none, "", wl, cw)]
    for k in reversed(shown):
        if k is None:
            elided = f"… layers 2–{layers - 2} elided: each like layer 1"
            lines.append(_row("", ["⋮" for _ in steps], none, "", wl, cw))
            lines.append(" " * (wl + 3) + elided)
            lines.append(_row("", ["⋮" for _ in steps], none, "", wl, cw))
            continue
        for di, direction in enumerate(("forward", "reverse")[:d]):
            slot = k * d + di
            start = _state_labels(spec, slot, True, full)
            end = _state_labels(spec, slot, False, full)
            left, right = (start, end) if direction == "forward" else (end, start)
            layer_tag = f" layer {k}" if tagged else ""
            row = _row(left, cells, CONNECTOR[direction], right.ljust(wr), wl, cw) + layer_tag
            lines.append(row)
        below = "dropout" if k > 0 and spec.dropout > 0 else ""
        lines.append(_row(below, arrows, none, "", wl, cw))
    lines.append(_row("input", xs, none, "", wl, cw))
    if not full and spec.mode.family.has_cell_state:
        lines.append(" " * (wl + 3) + "c_0[k] and c_n[k] travel with h_0[k] and h_n[k]")
    return lines
