"""Finding a Keras file's recurrent layers the way Keras loads their weights.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .keras_config import (
    KERAS_CLASSES,
    class_name,
    config_of,
    entry_name,
    join_name,
    sublayers,
    to_snake_case,
)
from .keras_h5 import Dataset, KerasFile
from .records import MAX_DEPTH, CheckpointError


@dataclass
class FoundLayer:
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


def find_layers(keras: KerasFile) -> list[FoundLayer]:
    """The recurrent layers as Keras would load them; then any group no config claims."""
    if keras.kind in ("h5 model", "h5 weights"):
        return _legacy_layers(keras)
    found: list[FoundLayer] = []
    if isinstance(keras.config, dict):
        found += _keras3_config_layers(keras, keras.config, "", "", 0, [0])
    claimed = {f.weights for f in found}
    found += _keras3_unclaimed(keras, claimed)
    return found


def _keras3_config_layers(
    keras: KerasFile, model: dict[str, Any], h5: str, prefix: str, depth: int, ids: list[int]
) -> list[FoundLayer]:
    """Walk a Keras 3 model config, naming each layer's group as Keras's saver does."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{keras.path}: models nested more than {MAX_DEPTH} deep")
    layers = sublayers(model)
    if layers is None:
        return []
    if class_name(model) == "Sequential" and layers and class_name(layers[0]) == "InputLayer":
        layers = layers[1:]  # Sequential.layers leaves its InputLayer out
    ids[0] += 1
    container = ids[0]
    used: dict[str, int] = {}
    found: list[FoundLayer] = []
    for position, entry in enumerate(layers):
        cls = class_name(entry)
        key = to_snake_case(cls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        group = f"{h5}/layers/{key}" if h5 else f"layers/{key}"
        name = join_name(prefix, entry_name(entry, key))
        if sublayers(entry) is not None:
            found += _keras3_config_layers(keras, entry, group, name, depth + 1, ids)
        elif cls in KERAS_CLASSES:
            layer = FoundLayer(name, group, [_keras3_vars(keras, group)], config_of(entry), cls)
            place(layer, model, entry, container, position)
            found.append(layer)
        elif cls == "Bidirectional":
            wrapper = config_of(entry)
            inner = wrapper.get("layer")
            inner_cls = class_name(inner)
            directions = [
                _keras3_vars(keras, f"{group}/{side}")
                for side in ("forward_layer", "backward_layer")
            ]
            layer = FoundLayer(name, group, directions, config_of(inner), inner_cls, wrapper)
            if inner_cls not in KERAS_CLASSES:
                layer.problems.append(
                    f"Bidirectional wraps {inner_cls or 'an unnamed layer'!r}, not an LSTM, "
                    "GRU or SimpleRNN"
                )
            place(layer, model, entry, container, position)
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


def _keras3_unclaimed(keras: KerasFile, claimed: set[str]) -> list[FoundLayer]:
    """Groups shaped like an RNN layer (``cell/vars``) that no config entry named."""
    found: list[FoundLayer] = []
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
            found.append(FoundLayer(path, path, directions, name=_saved_name(keras, path)))
            taken.add(path)
        elif keras.group(f"{path}/cell/vars") is not None and not path.endswith(
            ("forward_layer", "backward_layer")
        ):
            name = _saved_name(keras, path)
            layer = FoundLayer(path, path, [_keras3_vars(keras, path)], name=name)
            found.append(layer)
            taken.add(path)
    return found


def _saved_name(keras: KerasFile, path: str) -> str | None:
    """The layer's name, which recent Keras 3 versions record on its ``vars`` group."""
    group = keras.group(f"{path}/vars")
    return keras.text_attribute(group, "name") if group is not None else None


def _legacy_layers(keras: KerasFile) -> list[FoundLayer]:
    """Keras 2 HDF5: each layer's group and ``weight_names``, with the model config if any."""
    root = keras.group("model_weights") if keras.kind == "h5 model" else keras.h5
    if root is None:
        raise CheckpointError(f"{keras.path}: a Keras model file without model_weights")
    names = keras.names_attribute(root, "layer_names") or []
    layers = sublayers(keras.config) if keras.config is not None else None
    entries = {entry_name(e, ""): e for e in layers or []}
    positions = {id(e): i for i, e in enumerate(layers or [])}
    found: list[FoundLayer] = []
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
) -> list[FoundLayer]:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{keras.path}: models nested more than {MAX_DEPTH} deep")
    cls = class_name(entry)
    where = group.name.strip("/")
    if entry is None:
        return _legacy_unconfigured(keras, group, prefix, weight_names)
    sub = sublayers(entry)
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
        found: list[FoundLayer] = []
        for child in sub:
            child_name = entry_name(child, "")
            mine = by_first.get(child_name) or by_part.get(child_name, [])
            found += _legacy_layer(
                keras, group, join_name(prefix, child_name), child_name, mine, child, depth + 1, -1
            )
        return found
    if cls in KERAS_CLASSES:
        datasets = [keras.dataset(group, w) for w in weight_names]
        layer = FoundLayer(prefix, where, [_triple(datasets, weight_names)], config_of(entry), cls)
    elif cls == "Bidirectional":
        wrapper = config_of(entry)
        inner = wrapper.get("layer")
        half = len(weight_names) // 2
        datasets = [keras.dataset(group, w) for w in weight_names]
        layer = FoundLayer(
            prefix,
            where,
            [
                _triple(datasets[:half], weight_names[:half]),
                _triple(datasets[half:], weight_names[half:]),
            ],
            config_of(inner),
            class_name(inner),
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
        place(layer, keras.config, entry, 0, position)
    return [layer]


def _triple(
    datasets: Sequence[Dataset | None], names: Sequence[str]
) -> tuple[Dataset | None, Dataset | None, Dataset | None]:
    """kernel, recurrent kernel and bias, in the order Keras assigns weights by position."""
    items = list(datasets[:3]) + [None] * (3 - min(3, len(datasets)))
    return items[0], items[1], items[2]


def _legacy_unconfigured(
    keras: KerasFile, group: Any, prefix: str, weight_names: Sequence[str]
) -> list[FoundLayer]:
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
        return [FoundLayer(prefix, where, pairs[0][1])]
    return [FoundLayer(join_name(prefix, first), where, directions) for first, directions in pairs]


def _swap_direction(parts: list[str]) -> list[str]:
    return [("backward_" + p[len("forward_") :]) if p.startswith("forward_") else p for p in parts]


def place(layer: FoundLayer, model: object, entry: object, container: int, position: int) -> None:
    """Where the layer sits in its model, and the one layer whose output it takes."""
    layer.chain = (container, position)
    layer.name = entry_name(entry, "") or None
    if (
        class_name(model) == "Sequential"
        or isinstance(sublayers(model), list)
        and not any(isinstance(e, dict) and "inbound_nodes" in e for e in sublayers(model) or [])
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
        history = config_of(args[0]).get("keras_history")
        if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
            if history[1:] == [0, 0]:
                layer.inbound = history[0]
    elif isinstance(node, list) and len(node) == 1:  # Keras 2: [[name, node, tensor, kwargs]]
        item = node[0]
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            if item[1:3] == [0, 0] and not (len(item) > 3 and item[3]):
                layer.inbound = item[0]
