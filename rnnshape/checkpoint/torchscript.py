"""TorchScript archives, read without running them: ``data.pkl`` pickles the module's
attributes as instances of ``__torch__`` classes, which are recorded, never built.

``--trust-torchscript`` is the one way out: ``torch.jit.load`` runs the archive's code,
and happens in ``rnnshape.torchrun``, imported only then.
"""

from __future__ import annotations

from typing import IO

from .model import MAX_DEPTH, Checkpoint, CheckpointError, CheckpointFormat, StateDict, TensorInfo
from .unpickler import Refused, ScriptObject, StorageLoader, unpickle


def read_script(
    path: str,
    data_pkl: IO[bytes],
    storage: StorageLoader,
    trust_torchscript: bool,
    size: int | None = None,
) -> Checkpoint:
    """A scripted module's tensors from its archive's ``data.pkl``, by dotted name."""
    try:
        obj = unpickle(path, data_pkl, storage, script=True, what="data.pkl", size=size)
    except Refused as exc:
        if trust_torchscript:
            return read_torchscript_trusted(path)
        raise CheckpointError(
            f"{path}: cannot read this TorchScript archive without running its code "
            f"(data.pkl holds {exc.what}); pass --trust-torchscript to load it with "
            "torch.jit.load if you trust where it came from"
        ) from None
    tensors: dict[str, TensorInfo] = {}
    _collect_script(obj, "", tensors, set(), 0)
    return Checkpoint(path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),))


def _collect_script(
    obj: object, prefix: str, out: dict[str, TensorInfo], seen: set[int], depth: int
) -> None:
    """A scripted module's tensors by dotted name: its attributes, submodules recursively."""
    if not isinstance(obj, ScriptObject) or id(obj) in seen or depth > MAX_DEPTH:
        return
    seen.add(id(obj))
    if not isinstance(obj.state, dict):
        return
    for name, value in obj.state.items():
        if not isinstance(name, str):
            continue
        if isinstance(value, TensorInfo):
            out[f"{prefix}{name}"] = value
        elif isinstance(value, ScriptObject):
            _collect_script(value, f"{prefix}{name}.", out, seen, depth + 1)


def read_torchscript_trusted(path: str) -> Checkpoint:
    """``--trust-torchscript``: let torch load the archive (it runs the archive's code)."""
    from rnnshape.torchrun.torchscript import TorchScriptLoadError, load_state_shapes

    try:
        shapes = load_state_shapes(path)
    except TorchScriptLoadError as exc:
        lines = [line.strip() for line in str(exc.error).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc.error).__name__
        raise CheckpointError(f"{path}: torch.jit.load failed: {reason}") from None
    tensors = {name: TensorInfo(shape, dtype) for name, (shape, dtype) in shapes.items()}
    return Checkpoint(path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),))
