"""The Keras recurrent classes next to torch's, and reading a Keras model config.

Configs come from strangers: every reader here takes any JSON value and answers with a
default when the value is not what Keras writes.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from rnnshape.family import Mode


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


def to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: how Keras 3 names a layer's group in the file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def class_name(entry: object) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("class_name"), str):
        return str(entry["class_name"])
    return ""


def config_of(entry: object) -> dict[str, Any]:
    if isinstance(entry, dict):
        config = entry.get("config")
        if isinstance(config, dict):
            return config
    return {}


def sublayers(entry: object) -> list[Any] | None:
    """A model entry's layer list (Keras 2.2's Sequential config is the list itself)."""
    if not isinstance(entry, dict):
        return None
    config = entry.get("config")
    if isinstance(config, list):
        return config
    layers = config.get("layers") if isinstance(config, dict) else None
    return layers if isinstance(layers, list) else None


def entry_name(entry: object, fallback: str) -> str:
    config = config_of(entry)
    name = config.get("name")
    if isinstance(name, str):
        return name
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return str(entry["name"])
    return fallback


def join_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def activation_text(value: object) -> str | None:
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
