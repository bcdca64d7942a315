"""``rnnshape convert SRC OUT``: torch weights for every equivalent module ``infer`` finds.

The map is ``infer``'s: a Keras layer's or an ONNX node's ``explain`` blocks say which
columns (rows) of which source tensor fill which rows of which torch parameter, and the
torch files' parameters are renamed only. Modules with problems are refused and named; the
others are written as one flat state dict, keyed ``<module>.weight_ih_l0`` and so on. Keras
datasets are read through the bounded HDF5 reader, ONNX initializers with the onnx package;
torch is imported only to write (and to load torch checkpoints), in ``rnnshape.torchrun``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnshape._version import __version__
from rnnshape.checkpoint import (
    CheckpointFormat,
    InferProblem,
    InferredModule,
    InferResult,
    infer_checkpoint,
)
from rnnshape.errors import RnnShapeError, UsageError
from rnnshape.formulas import parameter_shapes
from rnnshape.text import one_line

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OUTPUT_FORMATS", "ConvertResult", "convert", "convert_weights", "module_names"]

OUTPUT_FORMATS = {".safetensors": "safetensors", ".pt": "pt", ".pth": "pt"}


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert`` wrote: the modules converted (with their names), those refused."""

    source: InferResult
    output: str
    names: tuple[str, ...]  # the state-dict prefix of each converted module
    converted: tuple[InferredModule, ...]
    refused: tuple[InferProblem, ...]
    written: bool

    @property
    def modules_result(self) -> InferResult:
        """The infer result of the converted modules only (for ``--spec``)."""
        return InferResult(
            self.source.file, self.source.format, self.converted, (), self.source.num_tensors
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "rnnshape_version": __version__,
            "source": self.source.file,
            "output": self.output,
            "converted": [
                {"name": n, "module": m.module, "constructor": m.spec.constructor()}
                for n, m in zip(self.names, self.converted, strict=True)
            ],
            "refused": [p.to_dict() for p in self.refused],
        }


def module_names(result: InferResult) -> list[str]:
    """The state-dict prefix of each module: its infer name (``--spec``'s key)."""
    names: list[str] = []
    taken: set[str] = set()
    for module in result.modules:
        name = module.prefix.removesuffix(".") or "model"
        if name in taken and module.container is not None:
            name = f"{module.container}.{name}"
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
        taken.add(name)
    return names


def check_output_path(out: str, force: bool) -> str:
    """The output format from the suffix; refuse a path that exists (unless ``force``)."""
    shown = one_line(repr(out))
    suffix = Path(out).suffix.lower()
    fmt = OUTPUT_FORMATS.get(suffix)
    if fmt is None:
        raise UsageError(f"OUT {shown} must end in .safetensors or .pt")
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        mode = None
    except (OSError, ValueError) as exc:
        raise UsageError(f"OUT {shown} cannot be a file name here ({exc})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"OUT {shown} is a directory")
    if mode is not None and not force:
        raise UsageError(f"OUT {shown} exists; give --force to replace it")
    folder = Path(os.path.realpath(out)).parent
    if not folder.is_dir():
        raise UsageError(f"OUT {shown}: the folder {one_line(str(folder))!r} does not exist")
    return fmt


def convert(source: str, out: str, *, force: bool = False) -> ConvertResult:
    """Write torch weights for every equivalent module of ``source`` to ``out``."""
    fmt = check_output_path(out, force)
    result = infer_checkpoint(source)
    if result.format is CheckpointFormat.TORCHSCRIPT:
        raise UsageError(
            f"{source} is a TorchScript archive: its parameters already have torch's layout "
            "(load it with torch.jit.load if you trust it, and save its state_dict())"
        )
    names = module_names(result)
    refused = list(result.problems)
    converted: list[InferredModule] = []
    kept: list[str] = []
    tensors: dict[str, Any] = {}
    if result.modules:
        for name, module, state in zip(names, result.modules, _states(result), strict=True):
            if isinstance(state, str):
                refused.append(InferProblem(module.prefix, module.container, state))
                continue
            converted.append(module)
            kept.append(name)
            tensors.update({f"{name}.{k}": v for k, v in state.items()})
    written = False
    if converted:
        from rnnshape.torchrun.weights import save_state_dicts

        save_state_dicts(out, tensors, fmt=fmt)
        written = True
    return ConvertResult(result, out, tuple(kept), tuple(converted), tuple(refused), written)


def _states(result: InferResult) -> list[dict[str, Any] | str]:
    """Each module's torch parameters (by name), or why they cannot be built."""
    if result.format is CheckpointFormat.KERAS:
        return _keras_states(result)
    if result.format is CheckpointFormat.ONNX:
        return _onnx_states(result)
    return _torch_states(result)


def _expected(module: InferredModule) -> dict[str, tuple[int, ...]]:
    return {p.name: tuple(p.shape) for p in parameter_shapes(module.spec)}


def _keras_states(result: InferResult) -> list[dict[str, Any] | str]:
    import numpy as np

    from rnnshape.checkpoint.keras_h5 import open_keras

    states: list[dict[str, Any] | str] = []
    size = os.stat(result.file).st_size
    with open_keras(result.file, size) as keras:
        for module in result.modules:
            cache: dict[str, np.ndarray] = {}  # one module's datasets: memory stays per module
            layer = module.keras
            assert layer is not None
            shapes = _expected(module)
            dtype = _numpy_dtype(module.dtype)
            params = {n: np.zeros(s, dtype=dtype) for n, s in shapes.items()}
            for block in layer.blocks:
                if block.keras_tensor is None or block.dataset is None:
                    continue  # torch's second bias: zeros
                if block.dataset not in cache:
                    cache[block.dataset] = keras.read(_dataset(keras, block.dataset))
                source = cache[block.dataset]
                if block.keras_row is not None:
                    source = source[block.keras_row]
                value = source[..., block.keras_start : block.keras_stop]
                if block.transpose:
                    value = value.T
                params[block.torch_parameter][block.torch_start : block.torch_stop] = value
            states.append(params)
    return states


def _dataset(keras: Any, path: str) -> Any:
    dataset = keras.dataset(keras.h5, path)
    if dataset is None:
        raise RnnShapeError(f"{keras.path}: dataset {path!r} is gone")
    return dataset


def _numpy_dtype(name: str) -> Any:
    import numpy as np

    return {"float16": np.float16, "float64": np.float64}.get(name, np.float32)


def _onnx_states(result: InferResult) -> list[dict[str, Any] | str]:
    """ONNX initializers, read with the onnx package, placed as the explain blocks say."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(result.file, load_external_data=False)
    initializers: dict[tuple[str, str], Any] = {}

    def collect(graph: onnx.GraphProto, path: str) -> None:
        for tensor in graph.initializer:
            initializers[(path, tensor.name)] = tensor
        for index, node in enumerate(graph.node):
            name = node.name or next((o for o in node.output if o), f"{node.op_type}_{index}")
            here = f"{path}/{name}" if path else name
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    collect(attr.g, f"{here}/{attr.name}")
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for i, sub in enumerate(attr.graphs):
                        collect(sub, f"{here}/{attr.name}/{i}")

    collect(model.graph, "")
    states: list[dict[str, Any] | str] = []
    for module in result.modules:
        node = module.onnx
        assert node is not None
        arrays: dict[str, np.ndarray] = {}
        missing = None
        for role, value in node.inputs.items():
            if not value:
                continue
            tensor = _find_initializer(initializers, node.graph, value)
            if tensor is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
                missing = f"{role} ({value!r})"
                break
            arrays[role] = numpy_helper.to_array(tensor)
        if missing is not None:
            states.append(
                f"{missing} is not an initializer stored in the file (computed at run time or "
                "external data): its values are not known without running the graph"
            )
            continue
        dtype = _numpy_dtype(module.dtype)
        params = {n: np.zeros(s, dtype=dtype) for n, s in _expected(module).items()}
        for block in node.blocks:
            source = arrays[block.onnx_tensor][block.direction]
            params[block.torch_parameter][block.torch_start : block.torch_stop] = source[
                block.onnx_start : block.onnx_stop
            ]
        states.append(params)
    return states


def _find_initializer(initializers: Mapping[tuple[str, str], Any], graph: str, name: str) -> Any:
    """The initializer ``name`` as seen from subgraph ``graph`` (its own, then outer scopes)."""
    path = graph
    while True:
        found = initializers.get((path, name))
        if found is not None or not path:
            return found
        parts = path.split("/")
        path = "/".join(parts[:-2]) if len(parts) > 2 else ""


def _torch_states(result: InferResult) -> list[dict[str, Any] | str]:
    from rnnshape.torchrun.weights import load_tensors

    tensors = load_tensors(result.file, safetensors=result.format is CheckpointFormat.SAFETENSORS)
    states: list[dict[str, Any] | str] = []
    for module in result.modules:
        params: dict[str, Any] = {}
        for name, shape in _expected(module).items():
            value = tensors.get((module.container, module.prefix + name))
            if value is None or tuple(value.shape) != shape:
                params = {}
                break
            params[name] = value
        states.append(
            params
            or f"torch.load(weights_only=True) does not give {module.prefix}* with the shapes read"
        )
    return states


# The public API's name (``rnnshape.convert_weights``): ``rnnshape.convert`` is this package.
convert_weights = convert
