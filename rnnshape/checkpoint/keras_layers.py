"""Keras ``LSTM``/``GRU``/``SimpleRNN`` layers (and ``Bidirectional``, ``CuDNNLSTM``/``CuDNNGRU``)
as torch modules, and where each block of kernel, recurrent kernel and bias goes.

Layers are found the way Keras loads their weights:

- Keras 3 (``.keras`` and ``.weights.h5``): a model's layers are saved under
  ``layers/<snake_case(class)>[_<n>]`` in the order of its layer list (``gru``, ``gru_1``,
  ``bidirectional``), not under their names; an RNN layer's variables are
  ``cell/vars/0..2`` (kernel, recurrent kernel, bias), a Bidirectional's are under
  ``forward_layer`` and ``backward_layer``. Groups no config entry claims (a weights-only
  file, a subclassed model) are found by walking the file and read from their shapes.
- Legacy Keras 2 HDF5: the root (or ``model_weights``) lists ``layer_names``; each layer's
  group lists its ``weight_names`` in the order Keras assigns them (kernel, recurrent kernel,
  bias; a Bidirectional's forward weights first). A nested model's group holds its layers'
  weights, named after each layer.

Keras's equations (keras/src/layers/rnn) against torch's docs: a kernel is
``[input, gates·units]`` (torch's ``weight_ih`` transposed); LSTM stacks ``i f c o`` like
torch's ``i f g o``; GRU stacks ``z r h`` where torch stacks ``r z n``; LSTM and SimpleRNN
have one bias (torch's ``bias_ih``, with ``bias_hh`` zero); a GRU with ``reset_after=True``
has a ``[2, 3·units]`` bias (input, recurrent), one with ``reset_after=False`` computes
what torch cannot; CuDNNLSTM/CuDNNGRU concatenate the input and recurrent biases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rnnshape.errors import SpecError
from rnnshape.spec import Mode, make_spec
from rnnshape.text import shape_text

from .keras_h5 import Dataset, KerasFile, open_keras
from .model import MAX_DEPTH, CheckpointError, CheckpointFormat
from .onnx_nodes import OnnxCheckpoint
from .result import InferProblem, InferredModule


class KerasClass(NamedTuple):
    """How one Keras recurrent class stacks its weights, next to its torch class."""

    mode: Mode
    gates: tuple[str, ...]  # Keras's gate blocks in kernel columns, Keras's order
    torch_gates: tuple[str, ...]  # the torch gate each of those blocks is, same order
    bias: str  # "one": torch's bias_ih (bias_hh zero); "rows": [2, G·u]; "concat": [2·G·u]


KERAS_CLASSES: dict[str, KerasClass] = {
    "LSTM": KerasClass(Mode.LSTM, ("i", "f", "c", "o"), ("i", "f", "g", "o"), "one"),
    "GRU": KerasClass(Mode.GRU, ("z", "r", "h"), ("z", "r", "n"), "rows"),
    "SimpleRNN": KerasClass(Mode.RNN, (), (), "one"),
    "CuDNNLSTM": KerasClass(Mode.LSTM, ("i", "f", "c", "o"), ("i", "f", "g", "o"), "concat"),
    "CuDNNGRU": KerasClass(Mode.GRU, ("z", "r", "h"), ("z", "r", "n"), "concat"),
}
_CONTAINERS = frozenset({"Functional", "Sequential", "Model"})
_WEIGHTS_ONLY_NOTE = (
    "the file records no activations: this assumes Keras's current defaults "
    "(activation=tanh, recurrent_activation=sigmoid{extra}); Keras 2.2 and earlier defaulted "
    "LSTM and GRU to recurrent_activation=hard_sigmoid, which torch does not have: check "
    "the model's code"
)


@dataclass(frozen=True)
class KerasBlock:
    """One row of the ``--explain`` table: Keras columns and the torch rows they fill.

    A Keras block is columns ``keras_start:keras_stop`` of ``keras_tensor`` (its row
    ``keras_row`` for a GRU's 2-D bias), transposed into torch's rows when ``transpose``;
    ``keras_tensor`` None means the torch rows are zeros (Keras has one bias, torch two).
    """

    direction: int
    keras_tensor: str | None  # kernel, recurrent_kernel, bias
    dataset: str | None  # its HDF5 path
    keras_gate: str | None
    keras_row: int | None
    keras_start: int
    keras_stop: int
    transpose: bool
    torch_parameter: str
    torch_gate: str | None
    torch_start: int
    torch_stop: int

    def keras_slice(self) -> str:
        if self.keras_tensor is None:
            return "0 (zeros)"
        cols = f"{self.keras_start}:{self.keras_stop}"
        if self.keras_tensor == "bias":
            return (
                f"bias[{self.keras_row}, {cols}]" if self.keras_row is not None else f"bias[{cols}]"
            )
        return f"{self.keras_tensor}[:, {cols}].T"

    def torch_slice(self) -> str:
        rest = "" if self.torch_parameter.startswith("bias") else ", :"
        return f"{self.torch_parameter}[{self.torch_start}:{self.torch_stop}{rest}]"

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "keras_tensor": self.keras_tensor,
            "dataset": self.dataset,
            "keras_gate": self.keras_gate,
            "keras_row": self.keras_row,
            "keras_columns": [self.keras_start, self.keras_stop],
            "keras": self.keras_slice(),
            "transpose": self.transpose,
            "torch_parameter": self.torch_parameter,
            "torch_gate": self.torch_gate,
            "torch_rows": [self.torch_start, self.torch_stop],
            "torch": self.torch_slice(),
        }


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


@dataclass(frozen=True)
class KerasLayer:
    """The Keras side of an inferred module: the layer, its options, the gate mapping."""

    class_name: str  # LSTM, GRU, SimpleRNN, CuDNNLSTM, CuDNNGRU
    layer: str | None  # its name in the config (None in a weights-only file)
    weights: str  # the HDF5 group of its weights
    wrapper: str | None  # "Bidirectional"
    activation: str | None  # None when the file does not record it
    recurrent_activation: str | None
    reset_after: bool | None
    go_backwards: bool | None
    return_sequences: bool | None
    merge_mode: str | None
    time_major: bool | None
    keras_version: str | None
    gate_order: str
    torch_gate_order: str
    blocks: tuple[KerasBlock, ...]
    notes: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    stack: KerasStack | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "class_name": self.class_name,
            "layer": self.layer,
            "weights": self.weights,
            "wrapper": self.wrapper,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "reset_after": self.reset_after,
            "go_backwards": self.go_backwards,
            "return_sequences": self.return_sequences,
            "merge_mode": self.merge_mode,
            "time_major": self.time_major,
            "keras_version": self.keras_version,
            "gate_order": self.gate_order,
            "torch_gate_order": self.torch_gate_order,
            "notes": list(self.notes),
        }
        if self.stack is not None:
            out["stack"] = self.stack.to_dict()
        return out


@dataclass(frozen=True)
class KerasCheckpoint(OnnxCheckpoint):
    """A Keras file: its recurrent layers already read as modules (as an ONNX model's nodes)."""


# -- finding the layers ------------------------------------------------------------------


@dataclass
class _Found:
    """A recurrent layer's weights in the file, with its config entry when there is one."""

    prefix: str  # the module's name: Keras layer names joined with "."
    weights: str  # the HDF5 group
    directions: list[tuple[Dataset | None, Dataset | None, Dataset | None]]
    config: Mapping[str, Any] | None = None  # the RNN layer's own config
    class_name: str | None = None
    wrapper: Mapping[str, Any] | None = None  # the Bidirectional's config
    problems: list[str] = field(default_factory=list)
    chain: tuple[int, int] | None = None  # (container id, position) when a config proves order
    name: str | None = None  # the Keras layer's own name (a Bidirectional's, not its layer's)
    inbound: str | None = None  # the one layer whose output it takes ("" in a Sequential)


def read_keras(path: str, size: int) -> KerasCheckpoint:
    """Every recurrent layer of a Keras file as a torch module, or a problem naming why not."""
    with open_keras(path, size) as keras:
        found = find_layers(keras)
        modules: list[InferredModule] = []
        problems: list[InferProblem] = []
        chained: list[tuple[_Found, InferredModule]] = []
        for layer in found:
            module, messages = _module(layer, keras)
            if module is not None:
                modules.append(module)
                chained.append((layer, module))
            problems += [InferProblem(layer.prefix, None, m) for m in messages]
        tensors = sum(sum(d is not None for triple in f.directions for d in triple) for f in found)
    modules = _with_stacks(modules, chained)
    return KerasCheckpoint(
        path, CheckpointFormat.KERAS, (), modules=tuple(modules), problems=tuple(problems),
        initializers=tensors,
    )  # fmt: skip


def find_layers(keras: KerasFile) -> list[_Found]:
    """The recurrent layers as Keras would load them; then any group no config claims."""
    if keras.kind in ("h5 model", "h5 weights"):
        return _legacy_layers(keras)
    found: list[_Found] = []
    if isinstance(keras.config, dict):
        found += _keras3_config_layers(keras, keras.config, "", "", 0, [0])
    claimed = {f.weights for f in found}
    found += _keras3_unclaimed(keras, claimed)
    return found


def to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: how Keras 3 names a layer's group in the file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _class_name(entry: object) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("class_name"), str):
        return str(entry["class_name"])
    return ""


def _config(entry: object) -> dict[str, Any]:
    if isinstance(entry, dict):
        config = entry.get("config")
        if isinstance(config, dict):
            return config
    return {}


def _sublayers(entry: object) -> list[Any] | None:
    """A model entry's layer list (Keras 2.2's Sequential config is the list itself)."""
    if not isinstance(entry, dict):
        return None
    config = entry.get("config")
    if isinstance(config, list):
        return config
    layers = config.get("layers") if isinstance(config, dict) else None
    return layers if isinstance(layers, list) else None


def _name(entry: object, fallback: str) -> str:
    config = _config(entry)
    name = config.get("name")
    if isinstance(name, str):
        return name
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return str(entry["name"])
    return fallback


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _keras3_config_layers(
    keras: KerasFile, model: dict[str, Any], h5: str, prefix: str, depth: int, ids: list[int]
) -> list[_Found]:
    """Walk a Keras 3 model config, naming each layer's group as Keras's saver does."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{keras.path}: models nested more than {MAX_DEPTH} deep")
    layers = _sublayers(model)
    if layers is None:
        return []
    if _class_name(model) == "Sequential" and layers and _class_name(layers[0]) == "InputLayer":
        layers = layers[1:]  # Sequential.layers leaves its InputLayer out
    ids[0] += 1
    container = ids[0]
    used: dict[str, int] = {}
    found: list[_Found] = []
    for position, entry in enumerate(layers):
        cls = _class_name(entry)
        key = to_snake_case(cls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        group = f"{h5}/layers/{key}" if h5 else f"layers/{key}"
        name = _join(prefix, _name(entry, key))
        if _sublayers(entry) is not None:
            found += _keras3_config_layers(keras, entry, group, name, depth + 1, ids)
        elif cls in KERAS_CLASSES:
            layer = _Found(name, group, [_keras3_vars(keras, group)], _config(entry), cls)
            _place(layer, model, entry, container, position)
            found.append(layer)
        elif cls == "Bidirectional":
            wrapper = _config(entry)
            inner = wrapper.get("layer")
            inner_cls = _class_name(inner)
            directions = [
                _keras3_vars(keras, f"{group}/{side}")
                for side in ("forward_layer", "backward_layer")
            ]
            layer = _Found(name, group, directions, _config(inner), inner_cls, wrapper)
            if inner_cls not in KERAS_CLASSES:
                layer.problems.append(
                    f"Bidirectional wraps {inner_cls or 'an unnamed layer'!r}, not an LSTM, "
                    "GRU or SimpleRNN"
                )
            _place(layer, model, entry, container, position)
            found.append(layer)
    return found


def _keras3_vars(
    keras: KerasFile, group: str
) -> tuple[Dataset | None, Dataset | None, Dataset | None]:
    """A Keras 3 RNN layer's kernel, recurrent kernel and bias (``cell/vars/0..2``)."""
    node = keras.group(f"{group}/cell/vars")
    if node is None:
        return None, None, None
    kernel, recurrent, bias = (keras.dataset(node, str(i)) for i in range(3))
    return kernel, recurrent, bias


def _keras3_unclaimed(keras: KerasFile, claimed: set[str]) -> list[_Found]:
    """Groups shaped like an RNN layer (``cell/vars``) that no config entry named."""
    found: list[_Found] = []
    taken = set(claimed)
    for path, _group in keras.walk():
        parts = path.split("/")
        if any("/".join(parts[:n]) in taken for n in range(1, len(parts) + 1)):
            continue  # inside a layer already found (depth is bounded: no pairwise search)
        sides = [
            keras.group(f"{path}/{side}/cell/vars") for side in ("forward_layer", "backward_layer")
        ]
        if all(s is not None for s in sides):
            directions = [
                _keras3_vars(keras, f"{path}/{side}")
                for side in ("forward_layer", "backward_layer")
            ]
            found.append(_Found(path, path, directions, name=_saved_name(keras, path)))
            taken.add(path)
        elif keras.group(f"{path}/cell/vars") is not None and not path.endswith(
            ("forward_layer", "backward_layer")
        ):
            layer = _Found(path, path, [_keras3_vars(keras, path)], name=_saved_name(keras, path))
            found.append(layer)
            taken.add(path)
    return found


def _saved_name(keras: KerasFile, path: str) -> str | None:
    """The layer's name, which recent Keras 3 versions record on its ``vars`` group."""
    group = keras.group(f"{path}/vars")
    return keras.text_attribute(group, "name") if group is not None else None


def _legacy_layers(keras: KerasFile) -> list[_Found]:
    """Keras 2 HDF5: each layer's group and ``weight_names``, with the model config if any."""
    root = keras.group("model_weights") if keras.kind == "h5 model" else keras.h5
    if root is None:
        raise CheckpointError(f"{keras.path}: a Keras model file without model_weights")
    names = keras.names_attribute(root, "layer_names") or []
    layers = _sublayers(keras.config) if keras.config is not None else None
    entries = {_name(e, ""): e for e in layers or []}
    positions = {id(e): i for i, e in enumerate(layers or [])}
    found: list[_Found] = []
    for name in names:
        group = keras.group(f"{root.name.strip('/')}/{name}" if root.name != "/" else name)
        if group is None:
            continue
        weight_names = keras.names_attribute(group, "weight_names") or []
        entry = entries.get(name)
        position = positions.get(id(entry), -1) if entry is not None else -1
        found += _legacy_layer(keras, group, name, name, weight_names, entry, 0, position)
    return found


def _legacy_layer(
    keras: KerasFile,
    group: Any,
    prefix: str,
    name: str,
    weight_names: Sequence[str],
    entry: object,
    depth: int,
    position: int,
) -> list[_Found]:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{keras.path}: models nested more than {MAX_DEPTH} deep")
    cls = _class_name(entry)
    where = group.name.strip("/")
    if entry is None:
        return _legacy_unconfigured(keras, group, prefix, weight_names)
    sub = _sublayers(entry)
    if sub is not None:
        # Each sublayer's weights are named after it: first by the first component, else by
        # any component (indexed once: no search per sublayer).
        by_first: dict[str, list[str]] = {}
        by_part: dict[str, list[str]] = {}
        for w in weight_names:
            components = w.split("/")[:-1]
            by_first.setdefault(components[0] if components else "", []).append(w)
            for part in dict.fromkeys(components):
                by_part.setdefault(part, []).append(w)
        found: list[_Found] = []
        for child in sub:
            child_name = _name(child, "")
            mine = by_first.get(child_name) or by_part.get(child_name, [])
            found += _legacy_layer(
                keras, group, _join(prefix, child_name), child_name, mine, child, depth + 1, -1
            )
        return found
    if cls in KERAS_CLASSES:
        datasets = [keras.dataset(group, w) for w in weight_names]
        layer = _Found(prefix, where, [_triple(datasets, weight_names)], _config(entry), cls)
    elif cls == "Bidirectional":
        wrapper = _config(entry)
        inner = wrapper.get("layer")
        half = len(weight_names) // 2
        datasets = [keras.dataset(group, w) for w in weight_names]
        layer = _Found(
            prefix,
            where,
            [
                _triple(datasets[:half], weight_names[:half]),
                _triple(datasets[half:], weight_names[half:]),
            ],
            _config(inner),
            _class_name(inner),
            wrapper,
        )
        if layer.class_name not in KERAS_CLASSES:
            layer.problems.append(
                f"Bidirectional wraps {layer.class_name!r}, not an LSTM, GRU or SimpleRNN"
            )
    else:
        return []
    layer.name = name
    if position >= 0:
        _place(layer, keras.config, entry, 0, position)
    return [layer]


def _triple(
    datasets: Sequence[Dataset | None], names: Sequence[str]
) -> tuple[Dataset | None, Dataset | None, Dataset | None]:
    """kernel, recurrent kernel and bias, in the order Keras assigns weights by position."""
    items = list(datasets[:3]) + [None] * (3 - min(3, len(datasets)))
    return items[0], items[1], items[2]


def _legacy_unconfigured(
    keras: KerasFile, group: Any, prefix: str, weight_names: Sequence[str]
) -> list[_Found]:
    """A weights-only layer group: its weights grouped by the path that holds them."""
    by_parent: dict[str, dict[str, Dataset | None]] = {}
    for w in weight_names:
        parent, _, leaf = w.rpartition("/")
        role = leaf.split(":")[0]
        if role in ("kernel", "recurrent_kernel", "bias"):
            by_parent.setdefault(parent, {})[role] = keras.dataset(group, w)
    pairs: list[tuple[str, list[tuple[Dataset | None, Dataset | None, Dataset | None]]]] = []
    done: set[str] = set()
    for parent, roles in by_parent.items():
        if parent in done or "recurrent_kernel" not in roles:
            continue
        triple = (roles.get("kernel"), roles.get("recurrent_kernel"), roles.get("bias"))
        parts = parent.split("/")
        swapped = "/".join(_swap_direction(parts))  # a dict lookup: no pairwise search
        if swapped != parent and swapped in by_parent and swapped not in done:
            other = by_parent[swapped]
            done.update({parent, swapped})
            reverse = (other.get("kernel"), other.get("recurrent_kernel"), other.get("bias"))
            pairs.append((parts[0], [triple, reverse]))
        elif not any(p.startswith("backward_") for p in parts):
            done.add(parent)
            pairs.append((parts[0], [triple]))
    where = group.name.strip("/")
    if len(pairs) == 1:  # the layer's own weights: named after its group
        return [_Found(prefix, where, pairs[0][1])]
    return [_Found(_join(prefix, first), where, directions) for first, directions in pairs]


def _swap_direction(parts: list[str]) -> list[str]:
    return [("backward_" + p[len("forward_") :]) if p.startswith("forward_") else p for p in parts]


# -- a layer as a torch module --------------------------------------------------------------


def _text(value: object) -> str | None:
    """An activation as a config gives it: a name, or a serialized function's name."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, str):
            return inner
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return str(inner["name"])
        if isinstance(value.get("class_name"), str):
            return str(value["class_name"])
    return None if value is None else str(value)


def _shape_class(
    kernel: Dataset, recurrent: Dataset, bias: Dataset | None, named: str | None
) -> tuple[str | None, bool | None, str | None]:
    """The Keras class the shapes say (and a GRU's reset_after), or why they say none."""
    if len(recurrent.shape) != 2 or len(kernel.shape) != 2:
        bad = recurrent if len(recurrent.shape) != 2 else kernel
        return None, None, f"{bad.path} has shape {shape_text(bad.shape)}: a kernel must be 2-D"
    units, columns = recurrent.shape
    if units < 1 or columns % units or columns // units not in (1, 3, 4):
        return (
            None,
            None,
            (
                f"{recurrent.path} has shape {shape_text(recurrent.shape)}: its {columns} "
                f"columns are not 1, 3 or 4 times its {units} rows (SimpleRNN, GRU or LSTM)"
            ),
        )
    gates = columns // units
    cls = {1: "SimpleRNN", 3: "GRU", 4: "LSTM"}[gates]
    reset_after: bool | None = None
    if bias is not None:
        if bias.shape == (2 * columns,) and gates > 1:
            cls = "CuDNN" + cls
        elif gates == 3 and bias.shape == (2, columns):
            reset_after = True
        elif gates == 3 and bias.shape == (columns,):
            reset_after = False
    if (
        named is not None
        and named.startswith("CuDNN")
        and not cls.startswith("CuDNN")
        and named.endswith(cls)
    ):
        cls = named  # a CuDNN layer's config without its concatenated bias: shapes say below
    return cls, reset_after, None


def _module(layer: _Found, keras: KerasFile) -> tuple[InferredModule | None, list[str]]:
    messages = list(layer.problems)
    if messages:
        return None, messages
    first = layer.directions[0]
    for d, (kernel, recurrent, _) in enumerate(layer.directions):
        side = ("forward_layer", "backward_layer")[d] if len(layer.directions) == 2 else ""
        where = f"{layer.weights}/{side}" if side else layer.weights
        if kernel is None or recurrent is None:
            missing = "kernel" if kernel is None else "recurrent kernel"
            return None, [f"{where}: the {missing} is missing (no dataset where Keras keeps it)"]
    kernel, recurrent, bias = first
    assert kernel is not None and recurrent is not None
    shape_cls, reset_after, why = _shape_class(kernel, recurrent, bias, layer.class_name)
    if why is not None or shape_cls is None:
        return None, [why or "cannot tell the class"]
    cls = layer.class_name or shape_cls
    spec_cls = KERAS_CLASSES.get(cls)
    if spec_cls is None:
        return None, [f"{cls!r} is not a Keras LSTM, GRU or SimpleRNN"]
    units, columns = recurrent.shape
    gates = max(1, len(spec_cls.gates))
    if columns != gates * units:
        return None, [
            f"{recurrent.path} has shape {shape_text(recurrent.shape)}, but a {cls} with "
            f"{units} units needs {shape_text((units, gates * units))}"
        ]
    if (
        layer.class_name is not None
        and shape_cls != cls
        and not (cls.startswith("CuDNN") and bias is None)
    ):
        return None, [f"the config says {cls}, but the weights' shapes are a {shape_cls}'s"]
    config = layer.config
    known = config is not None
    options = dict(config or {})
    wrapper = dict(layer.wrapper or {})
    if known and cls == "GRU":
        reset_after = bool(options.get("reset_after", True))
    input_size = kernel.shape[0]
    expected_bias = {
        "one": (columns,),
        "rows": (2, columns),
        "concat": (2 * columns,),
    }[spec_cls.bias]
    use_bias = bias is not None
    if known and "use_bias" in options and bool(options["use_bias"]) != use_bias:
        messages.append(
            f"use_bias={options['use_bias']}, but the weights "
            f"{'hold' if use_bias else 'hold no'} bias"
        )
    for k, r, b in layer.directions:
        assert k is not None and r is not None
        want: dict[str, tuple[Dataset, tuple[int, ...]]] = {
            "kernel": (k, (input_size, columns)),
            "recurrent kernel": (r, (units, columns)),
        }
        if b is not None:
            shape = (columns,) if cls == "GRU" and reset_after is False else expected_bias
            want["bias"] = (b, shape)
        elif use_bias:
            messages.append(f"{k.path.rpartition('/')[0]}: the bias is missing")
        for role, (dataset, shape) in want.items():
            if dataset.shape != shape:
                messages.append(
                    f"{dataset.path} ({role}) has shape {shape_text(dataset.shape)}, but a {cls} "
                    f"with {units} units and input size {input_size} needs {shape_text(shape)}"
                )
    messages += _not_equivalent(cls, options, wrapper, reset_after, known, len(layer.directions))
    if messages:
        return None, messages
    activation = _text(options.get("activation")) if known else None
    recurrent_activation = (
        _text(options.get("recurrent_activation")) if known and gates > 1 else None
    )
    time_major = bool(options.get("time_major", False)) if known else None
    kwargs: dict[str, object] = {
        "bias": use_bias,
        "batch_first": not time_major,
        "bidirectional": len(layer.directions) == 2,
    }
    if spec_cls.mode is Mode.RNN:
        kwargs["nonlinearity"] = activation if activation in ("tanh", "relu") else "tanh"
    try:
        spec = make_spec(spec_cls.mode, input_size, units, 1, **kwargs)
    except SpecError as exc:
        return None, [f"the shapes give {exc.message}, which torch does not allow"]
    blocks = gate_blocks(spec_cls, units, layer.directions, reset_after=reset_after)
    notes = _notes(cls, options, wrapper, known, reset_after, bias is not None, keras)
    unknown: tuple[str, ...] = ()
    if not known and spec_cls.mode is Mode.RNN:
        unknown = ("nonlinearity",)
    info = KerasLayer(
        class_name=cls,
        layer=layer.name,
        weights=layer.weights,
        wrapper="Bidirectional" if len(layer.directions) == 2 else None,
        activation=activation,
        recurrent_activation=recurrent_activation,
        reset_after=reset_after if spec_cls.mode is Mode.GRU else None,
        go_backwards=bool(options.get("go_backwards", False)) if known else None,
        return_sequences=bool(options.get("return_sequences", False)) if known else None,
        merge_mode=_text(wrapper.get("merge_mode", "concat"))
        if layer.wrapper is not None
        else None,
        time_major=time_major,
        keras_version=keras.keras_version,
        gate_order="".join(spec_cls.gates),
        torch_gate_order="".join(spec_cls.mode.gates),
        blocks=blocks,
        notes=notes,
        unknown=unknown,
    )
    dtypes = {d.dtype for triple in layer.directions for d in triple if d is not None}
    dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
    return InferredModule(layer.prefix, None, spec, dtype, keras=info), []


def _not_equivalent(
    cls: str,
    options: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    reset_after: bool | None,
    known: bool,
    directions: int,
) -> list[str]:
    """Each option that makes the layer compute what no torch class does."""
    spec_cls = KERAS_CLASSES[cls]
    torch_class = f"nn.{spec_cls.mode.torch_class}"
    messages = []
    if cls == "GRU" and reset_after is False:
        default = "" if "reset_after" in options else " (Keras 2.2's default)"
        messages.append(
            f"reset_after=False{default}: the reset gate multiplies h before the recurrent "
            f"kernel; {torch_class} applies it after (reset_after=True)"
        )
    if not known:
        return messages
    activation = _text(options.get("activation", "tanh"))
    if spec_cls.mode is Mode.RNN:
        if activation not in ("tanh", "relu"):
            messages.append(f"activation={activation!r}: {torch_class} has tanh or relu only")
    elif activation != "tanh":
        messages.append(f"activation={activation!r}: {torch_class} uses tanh")
    if spec_cls.mode is not Mode.RNN and not cls.startswith("CuDNN"):
        recurrent_activation = _text(options.get("recurrent_activation", "sigmoid"))
        if recurrent_activation != "sigmoid":
            messages.append(
                f"recurrent_activation={recurrent_activation!r}: {torch_class} uses sigmoid"
            )
    if directions == 2 and options.get("go_backwards"):
        messages.append(
            "go_backwards=True on the layer a Bidirectional wraps: its forward direction reads "
            f"the sequence reversed, which {torch_class}(bidirectional=True) never does"
        )
    backward = _config(wrapper.get("backward_layer")) if wrapper else {}
    for key in ("units", "activation", "recurrent_activation", "use_bias", "reset_after"):
        if key in backward and key in options and backward[key] != options[key]:
            messages.append(
                f"backward_layer {key}={backward[key]!r}, but the forward layer has "
                f"{options[key]!r}: {torch_class} runs one configuration in both directions"
            )
    if directions == 1 and options.get("go_backwards"):
        messages.append(
            f"go_backwards=True: the layer reads the sequence reversed and returns it "
            f"reversed; {torch_class} runs a reverse direction only next to the forward one "
            "(bidirectional=True)"
        )
    return messages


def gate_blocks(
    spec_cls: KerasClass,
    units: int,
    directions: Sequence[tuple[Dataset | None, Dataset | None, Dataset | None]],
    *,
    reset_after: bool | None,
) -> tuple[KerasBlock, ...]:
    """Where each Keras block of kernel, recurrent kernel and bias goes, per direction."""
    torch_order = spec_cls.mode.gates
    keras_gates: Sequence[str | None] = spec_cls.gates or (None,)
    torch_gates: Sequence[str | None] = spec_cls.torch_gates or (None,)
    gates = len(keras_gates)
    blocks: list[KerasBlock] = []
    for direction, (kernel, recurrent, bias) in enumerate(directions):
        suffix = "_l0_reverse" if direction else "_l0"
        sources: list[tuple[str, Dataset | None, str, int | None, int]] = [
            ("kernel", kernel, "weight_ih", None, 0),
            ("recurrent_kernel", recurrent, "weight_hh", None, 0),
        ]
        if bias is not None:
            if spec_cls.bias == "rows":
                sources += [("bias", bias, "bias_ih", 0, 0), ("bias", bias, "bias_hh", 1, 0)]
            elif spec_cls.bias == "concat":
                sources += [
                    ("bias", bias, "bias_ih", None, 0),
                    ("bias", bias, "bias_hh", None, gates),
                ]
            else:
                sources.append(("bias", bias, "bias_ih", None, 0))
        for tensor, dataset, parameter, row, offset in sources:
            for k, (keras_gate, torch_gate) in enumerate(
                zip(keras_gates, torch_gates, strict=True)
            ):
                j = torch_order.index(torch_gate) if torch_gate is not None else 0
                blocks.append(
                    KerasBlock(
                        direction, tensor, dataset.path if dataset else None, keras_gate, row,
                        (offset + k) * units, (offset + k + 1) * units, tensor != "bias",
                        parameter + suffix, torch_gate, j * units, (j + 1) * units,
                    )
                )  # fmt: skip
        if bias is not None and spec_cls.bias == "one":
            blocks.append(
                KerasBlock(
                    direction,
                    None,
                    None,
                    None,
                    None,
                    0,
                    0,
                    False,
                    "bias_hh" + suffix,
                    None,
                    0,
                    gates * units,
                )
            )
    return tuple(blocks)


def _notes(
    cls: str,
    options: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    known: bool,
    reset_after: bool | None,
    bias: bool,
    keras: KerasFile,
) -> tuple[str, ...]:
    """What else differs from torch's call, for whoever ports the model."""
    notes: list[str] = []
    if not known:
        extra = ""
        if cls == "GRU" and reset_after is None:
            extra = ", reset_after=True: without a bias the weights do not tell"
        notes.append(_WEIGHTS_ONLY_NOTE.format(extra=extra))
    if bias and KERAS_CLASSES[cls].bias == "one":
        notes.append("Keras has one bias: it goes to bias_ih; torch's bias_hh is zero")
    if known:
        if options.get("time_major"):
            notes.append(
                "time_major=True: the input is [time, batch, features] (batch_first=False)"
            )
        else:
            notes.append("Keras takes [batch, time, features]: batch_first=True")
        if not options.get("return_sequences", False) and wrapper:
            notes.append(
                "return_sequences=False: Keras returns both directions' final states, torch's "
                "torch.cat([h_n[0], h_n[1]], -1) (not output[:, -1], whose backward half has "
                "seen one step)"
            )
        elif not options.get("return_sequences", False):
            notes.append(
                "return_sequences=False: Keras returns the last step's output, torch's h_n[-1]"
            )
        if options.get("return_state"):
            notes.append(
                "return_state=True: Keras also returns the final states (torch's h_n, c_n)"
            )
        if options.get("stateful"):
            notes.append(
                "stateful=True: Keras carries the state between batches; pass h_0 yourself"
            )
        dropouts = [k for k in ("dropout", "recurrent_dropout") if options.get(k)]
        if dropouts:
            notes.append(
                f"{' and '.join(f'{k}={options[k]}' for k in dropouts)}: applied in training only "
                "(torch's dropout is between layers, not inside one)"
            )
    if wrapper:
        merge = _text(wrapper.get("merge_mode", "concat"))
        if merge != "concat":
            notes.append(
                f"merge_mode={merge!r}: torch concatenates the two directions' outputs; "
                "combine output[..., :H] and output[..., H:] yourself (the weights map as they "
                "are)"
            )
    return tuple(notes)


# -- consecutive layers that are one torch module ---------------------------------------------


def _with_stacks(
    modules: list[InferredModule], chained: list[tuple[_Found, InferredModule]]
) -> list[InferredModule]:
    """Mark runs of layers a config proves consecutive that equal one multi-layer module."""
    from dataclasses import replace

    runs: list[list[InferredModule]] = []
    previous: tuple[_Found, InferredModule] | None = None
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
        words = [
            "rnnshape",
            spec.mode.value,
            str(spec.input_size),
            str(spec.hidden_size),
            str(len(run)),
        ]
        if not spec.bias:
            words.append("--no-bias")
        if spec.bidirectional:
            words.append("--bidirectional")
        if spec.batch_first:
            words.append("--batch-first")
        if "nonlinearity" in spec.mode.kwargs and spec.nonlinearity != "tanh":
            words += ["--nonlinearity", spec.nonlinearity]
        stacks[run[0].prefix] = KerasStack(
            tuple(m.prefix for m in run), spec.constructor(), " ".join(words)
        )
    out = []
    for module in modules:
        stack = stacks.get(module.prefix)
        if stack is not None and module.keras is not None:
            module = replace(module, keras=replace(module.keras, stack=stack))
        out.append(module)
    return out


def _chains(a: tuple[_Found, InferredModule], b: tuple[_Found, InferredModule]) -> bool:
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


def _inbound_is(layer: _Found, previous: _Found) -> bool:
    """A Functional layer's input must be the previous layer's output (Sequential: always)."""
    return layer.inbound == "" or (layer.inbound is not None and layer.inbound == previous.name)


def _place(layer: _Found, model: object, entry: object, container: int, position: int) -> None:
    """Where the layer sits in its model, and the one layer whose output it takes."""
    layer.chain = (container, position)
    layer.name = _name(entry, "") or None
    if (
        _class_name(model) == "Sequential"
        or isinstance(_sublayers(model), list)
        and not any(isinstance(e, dict) and "inbound_nodes" in e for e in _sublayers(model) or [])
    ):
        layer.inbound = ""
        return
    nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
    if not isinstance(nodes, list) or len(nodes) != 1:
        return
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [keras tensor], "kwargs": {...}}
        args, kwargs = node.get("args"), node.get("kwargs") or {}
        if not isinstance(args, list) or len(args) != 1 or not isinstance(kwargs, dict):
            return
        if any(v is not None and k != "training" for k, v in kwargs.items()):
            return  # a mask or an initial state comes in too
        history = _config(args[0]).get("keras_history")
        if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
            if history[1:] == [0, 0]:
                layer.inbound = history[0]
    elif isinstance(node, list) and len(node) == 1:  # Keras 2: [[name, node, tensor, kwargs]]
        item = node[0]
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            if item[1:3] == [0, 0] and not (len(item) > 3 and item[3]):
                layer.inbound = item[0]


def iter_blocks(module: InferredModule) -> Iterator[KerasBlock]:
    """The Keras explain blocks of a module (none for other formats)."""
    if module.keras is not None:
        yield from module.keras.blocks
