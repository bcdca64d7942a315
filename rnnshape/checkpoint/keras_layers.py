"""Keras ``LSTM``/``GRU``/``SimpleRNN`` layers (and ``Bidirectional``, ``CuDNNLSTM``/``CuDNNGRU``)
as torch modules: the entry point of the Keras reader.

The reader's parts, one idea a module: ``keras_h5`` opens the file (bounded), ``keras_config``
holds the class table and reads configs, ``keras_find`` finds the layers as Keras loads them,
``keras_gates`` maps each weight block to torch's, ``keras_notes`` says what differs from torch,
``keras_stack`` joins consecutive layers into one multi-layer module. A GRU with
``reset_after=False`` computes what torch cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnshape.errors import SpecError
from rnnshape.family import Mode, make_spec
from rnnshape.text import shape_text

from .keras_config import KERAS_CLASSES, activation_text
from .keras_find import FoundLayer, find_layers
from .keras_gates import KerasBlock, gate_blocks
from .keras_h5 import Dataset, KerasFile, open_keras
from .keras_notes import layer_notes, not_equivalent
from .keras_stack import KerasStack, with_stacks
from .onnx_nodes import OnnxCheckpoint
from .records import CheckpointFormat
from .result import InferProblem, InferredModule


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


def read_keras(path: str, size: int) -> KerasCheckpoint:
    """Every recurrent layer of a Keras file as a torch module, or a problem naming why not."""
    with open_keras(path, size) as keras:
        found = find_layers(keras)
        modules: list[InferredModule] = []
        problems: list[InferProblem] = []
        chained: list[tuple[FoundLayer, InferredModule]] = []
        for layer in found:
            module, messages = _module(layer, keras)
            if module is not None:
                modules.append(module)
                chained.append((layer, module))
            problems += [InferProblem(layer.prefix, None, m) for m in messages]
        tensors = sum(sum(d is not None for triple in f.directions for d in triple) for f in found)
    modules = with_stacks(modules, chained)
    return KerasCheckpoint(
        path, CheckpointFormat.KERAS, (), modules=tuple(modules), problems=tuple(problems),
        initializers=tensors,
    )  # fmt: skip


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


def _module(layer: FoundLayer, keras: KerasFile) -> tuple[InferredModule | None, list[str]]:
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
    messages += not_equivalent(cls, options, wrapper, reset_after, known, len(layer.directions))
    if messages:
        return None, messages
    activation = activation_text(options.get("activation")) if known else None
    recurrent_activation = (
        activation_text(options.get("recurrent_activation")) if known and gates > 1 else None
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
    notes = layer_notes(cls, options, wrapper, known, reset_after, bias is not None, keras)
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
        merge_mode=activation_text(wrapper.get("merge_mode", "concat"))
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
