"""Find the recurrent modules in a state dict and recover their configurations; no torch.

Tensors are grouped by the names torch gives recurrent parameters (``weight_ih_l0``,
``weight_hh``, ...) under any prefix. Each group's class and sizes come from its shapes,
and the config is then checked the other way round: the formulas must give exactly the
names and shapes found, or the group is reported as a problem instead of a module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rnnshape.errors import SpecError
from rnnshape.family import LAYER_MODES, LayerSpec, Mode, make_spec
from rnnshape.formulas import parameter_shapes
from rnnshape.text import shape_text

from .onnx_nodes import OnnxCheckpoint
from .records import Checkpoint, TensorInfo
from .result import InferProblem, InferredModule, InferResult
from .sniff import read_checkpoint

_LAYER = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<role>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
    r"_l(?P<layer>0|[1-9][0-9]{0,99})(?P<reverse>_reverse)?\Z",
    re.DOTALL,  # a prefix may hold any character, a line break too
)
_CELL = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<role>weight_ih|weight_hh|bias_ih|bias_hh)\Z", re.DOTALL
)


def _or(words: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    items = list(words)
    return " or ".join(filter(None, [", ".join(items[:-1]), items[-1]]))


# More missing layers than this between the ones present: one message, no per-layer work
# (a file naming weight_ih_l100000000000 must not make us loop over the layers between).
MAX_MISSING_LAYERS = 64

# For messages, from the family table: the layer classes by the gate blocks their weights
# stack ("1, 3 or 4", "RNN, GRU or LSTM"; a cell's rows are worded the same way), and the
# classes that project ("LSTM").
_BY_GATES = sorted(LAYER_MODES, key=lambda m: m.gate_count)
_GATE_COUNTS = _or(str(m.gate_count) for m in _BY_GATES)
_GATE_CLASSES = _or(m.torch_class for m in _BY_GATES)
_PROJECTING = _or(m.torch_class for m in LAYER_MODES if "proj_size" in m.kwargs)


def infer_checkpoint(path: str, *, trust_torchscript: bool = False) -> InferResult:
    """Read ``path`` (any supported format) and infer every recurrent module in it."""
    return infer_from(read_checkpoint(path, trust_torchscript=trust_torchscript))


def infer_from(checkpoint: Checkpoint) -> InferResult:
    """Infer the modules of every state dict in an already-read checkpoint."""
    if isinstance(checkpoint, OnnxCheckpoint):
        return checkpoint.infer()  # an ONNX model's nodes were read as modules already
    modules: list[InferredModule] = []
    problems: list[InferProblem] = []
    for state in checkpoint.state_dicts:
        found, wrong = infer_state_dict(state.tensors, state.container, state.known)
        modules += found
        problems += wrong
    problems += [InferProblem("", where, why) for where, why in checkpoint.unsearched]
    return InferResult(
        checkpoint.path,
        checkpoint.format,
        tuple(modules),
        tuple(problems),
        checkpoint.num_tensors,
        checkpoint.skipped_objects,
    )


def infer_state_dict(
    tensors: Mapping[str, TensorInfo],
    container: str | None = None,
    known: Mapping[str, Mapping[str, object]] | None = None,
) -> tuple[list[InferredModule], list[InferProblem]]:
    """Group recurrent parameters by prefix; each group becomes a module or problems.

    ``known`` holds, by prefix, what a pickled module stores that weights do not
    (``batch_first``, ``dropout``, ``nonlinearity``): used where torch would accept it."""
    groups: dict[tuple[str, bool], dict[str, TensorInfo]] = {}
    for name, info in tensors.items():
        match = _LAYER.match(name) or _CELL.match(name)
        if match is None:
            continue
        prefix = match["prefix"]
        is_cell = match.re is _CELL
        groups.setdefault((prefix, is_cell), {})[name[len(prefix) :]] = info
    modules: list[InferredModule] = []
    problems: list[InferProblem] = []
    for (prefix, is_cell), group in groups.items():
        spec, messages = _infer_cell(group) if is_cell else _infer_layer(group)
        if messages or spec is None:
            problems += [InferProblem(prefix, container, m) for m in messages]
            continue
        dtypes = {info.dtype for info in group.values()}
        dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
        spec, stored = _with_stored(spec, (known or {}).get(prefix, {}))
        modules.append(InferredModule(prefix, container, spec, dtype, known=stored))
    return modules, problems


def _with_stored(
    spec: LayerSpec, stored: Mapping[str, object]
) -> tuple[LayerSpec, tuple[str, ...]]:
    """The spec with what the file stores for it, each value kept only if torch accepts it."""
    kept: dict[str, object] = {}
    for key, value in stored.items():
        if key not in spec.mode.kwargs:
            continue
        try:
            make_spec(spec.mode, spec.input_size, spec.hidden_size, **_kwargs(spec), **{key: value})
        except SpecError:
            continue
        kept[key] = value
    if not kept:
        return spec, ()
    merged = make_spec(spec.mode, spec.input_size, spec.hidden_size, **_kwargs(spec), **kept)
    return merged, tuple(kept)


def _kwargs(spec: LayerSpec) -> dict[str, object]:
    """The constructor arguments inferred from weights alone."""
    out: dict[str, object] = {"bias": spec.bias}
    if not spec.mode.is_cell:
        out |= {"num_layers": spec.num_layers, "bidirectional": spec.bidirectional}
        if "proj_size" in spec.mode.kwargs:
            out["proj_size"] = spec.proj_size or None
    return out


def _gates(
    hh_name: str, hh: TensorInfo, hidden: int | None, *, cell: bool
) -> tuple[Mode | None, int, str | None]:
    """The class and hidden_size from a ``weight_hh``'s rows (and ``weight_hr``)."""
    if len(hh.shape) != 2:
        return None, 0, f"{hh_name} has shape {shape_text(hh.shape)}: a weight must be 2-D"
    rows, cols = hh.shape
    hidden = cols if hidden is None else hidden
    mode = Mode.with_gates(rows // hidden, cell=cell) if hidden >= 1 and not rows % hidden else None
    if mode is None:
        return (
            None,
            0,
            f"{hh_name} has shape {shape_text(hh.shape)}: its {rows} rows are not "
            f"{_GATE_COUNTS} times hidden_size {hidden} ({_GATE_CLASSES})",
        )
    return mode, hidden, None


def _infer_layer(group: Mapping[str, TensorInfo]) -> tuple[LayerSpec | None, list[str]]:
    parsed = {name: _LAYER.match(name) for name in group}
    layers = sorted({int(m["layer"]) for m in parsed.values() if m})
    reverse_layers = {int(m["layer"]) for m in parsed.values() if m and m["reverse"]}
    roles = {m["role"] for m in parsed.values() if m}
    missing = layers[-1] + 1 - len(layers) if layers else 0
    if missing > MAX_MISSING_LAYERS:
        first = next(k for k in range(len(layers) + 1) if k >= len(layers) or layers[k] != k)
        return None, [
            f"layers are numbered up to {layers[-1]:,}, but only {len(layers):,} are present: "
            f"{missing:,} layers are missing (the first is layer {first})"
        ]
    hh_names = [n for n in sorted(group, key=_layer_order) if n.startswith("weight_hh_")]
    if not hh_names:
        return None, ["no weight_hh_l* tensor: cannot tell hidden_size (weight_hh_l0 is missing)"]
    hidden: int | None = None
    proj = 0
    if "weight_hr" in roles:
        hr_name = next(n for n in sorted(group, key=_layer_order) if n.startswith("weight_hr_"))
        hr = group[hr_name]
        if len(hr.shape) != 2:
            return None, [f"{hr_name} has shape {shape_text(hr.shape)}: a weight must be 2-D"]
        proj, hidden = hr.shape
    mode, hidden_size, why = _gates(hh_names[0], group[hh_names[0]], hidden, cell=False)
    if mode is None:
        return None, [why or "cannot tell the class"]
    projects = "proj_size" in mode.kwargs
    if proj and not projects:
        return None, [
            f"weight_hr_l* (a projection) found, but {hh_names[0]} has the rows of a "
            f"{mode.torch_class} and only {_PROJECTING} projects"
        ]
    ih = group.get("weight_ih_l0", group.get("weight_ih_l0_reverse"))
    if 0 not in layers:
        return None, [f"layer 0 is missing (no {', '.join(_layer_names(0, '', proj))})"]
    if ih is None or len(ih.shape) != 2:
        what = "is missing" if ih is None else f"has shape {shape_text(ih.shape)}"
        return None, [f"weight_ih_l0 {what}: cannot tell input_size"]
    try:
        spec = make_spec(
            mode,
            ih.shape[1],
            hidden_size,
            layers[-1] + 1,
            bias=bool(roles & {"bias_ih", "bias_hh"}),
            bidirectional=bool(reverse_layers),
            proj_size=proj if projects else None,
        )
    except SpecError as exc:
        return None, [f"the shapes give {exc.message}, which torch does not allow"]
    messages: list[str] = []
    explained: set[str] = set()
    for layer in range(spec.num_layers):
        if layer not in layers:
            names = _layer_names(layer, "", proj, bias=spec.bias)
            messages.append(f"layer {layer} is missing (no {', '.join(names)})")
            explained.update(names)
    if reverse_layers:
        without = [k for k in layers if k not in reverse_layers]
        if without:
            names = [n for k in without for n in _layer_names(k, "_reverse", proj, spec.bias)]
            messages.append(
                f"the reverse direction is on layer{_s(sorted(reverse_layers))} "
                f"{_join(sorted(reverse_layers))} only, not on layer{_s(without)} "
                f"{_join(without)} (no {', '.join(names)})"
            )
            explained.update(names)
    return spec, messages + _compare(spec, group, explained)


def _infer_cell(group: Mapping[str, TensorInfo]) -> tuple[LayerSpec | None, list[str]]:
    hh = group.get("weight_hh")
    if hh is None:
        return None, ["weight_hh is missing: cannot tell hidden_size"]
    mode, hidden_size, why = _gates("weight_hh", hh, None, cell=True)
    if mode is None:
        return None, [why or "cannot tell the class"]
    ih = group.get("weight_ih")
    if ih is None or len(ih.shape) != 2:
        what = "is missing" if ih is None else f"has shape {shape_text(ih.shape)}"
        return None, [f"weight_ih {what}: cannot tell input_size"]
    try:
        spec = make_spec(
            mode, ih.shape[1], hidden_size, bias=bool({"bias_ih", "bias_hh"} & set(group))
        )
    except SpecError as exc:
        return None, [f"the shapes give {exc.message}, which torch does not allow"]
    return spec, _compare(spec, group, set())


def _compare(spec: LayerSpec, group: Mapping[str, TensorInfo], explained: set[str]) -> list[str]:
    """Every way the tensors found differ from what the inferred torch module holds."""
    expected = {p.name: p.shape for p in parameter_shapes(spec)}
    messages = []
    for name, shape in expected.items():
        if name not in group:
            if name not in explained:
                messages.append(f"{name} is missing")
        elif group[name].shape != shape:
            messages.append(
                f"{name} has shape {shape_text(group[name].shape)}, but "
                f"{spec.constructor()} holds {shape_text(shape)}"
            )
    for name in group:
        if name not in expected:
            messages.append(f"{name} does not belong in {spec.constructor()}")
    return messages


def _layer_names(layer: int, suffix: str, proj: int, bias: bool = True) -> list[str]:
    roles = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    if proj:
        roles.append("weight_hr")
    return [f"{role}_l{layer}{suffix}" for role in roles]


def _layer_order(name: str) -> tuple[int, bool, str]:
    match = _LAYER.match(name)
    assert match is not None
    return int(match["layer"]), bool(match["reverse"]), name


def _s(items: list[int]) -> str:
    return "s" if len(items) > 1 else ""


def _join(items: list[int]) -> str:
    return ", ".join(map(str, items))
