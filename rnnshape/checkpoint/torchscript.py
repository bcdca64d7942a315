"""TorchScript archives, read without running them: ``data.pkl`` pickles the module's
attributes as instances of ``__torch__`` classes, which are recorded, never built.

``--trust-torchscript`` is the one way out: ``torch.jit.load`` runs the archive's code,
and happens in ``rnnshape.torchrun``, imported only then.
"""

from __future__ import annotations

from typing import IO

from .file_text import file_str
from .model import Checkpoint, CheckpointError, CheckpointFormat, StateDict, TensorInfo
from .pickle_records import Refused, ScriptObject
from .state_dicts import MAX_PATH_CHARS, MAX_SEARCH_DEPTH
from .unpickler import StorageLoader, unpickle


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
    tensors, unsearched = _collect_script(obj)
    return Checkpoint(
        path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),), (), unsearched
    )


def _collect_script(
    obj: object,
) -> tuple[dict[str, TensorInfo], tuple[tuple[str | None, str], ...]]:
    """A scripted module's tensors by dotted name: its attributes, submodules at any depth up
    to ``MAX_SEARCH_DEPTH`` (where it stops, it says so), each object once."""
    out: dict[str, TensorInfo] = {}
    stopped: list[tuple[str | None, str]] = []
    seen: set[int] = set()
    stack: list[tuple[object, str, int]] = [(obj, "", 0)]
    while stack:
        item, prefix, depth = stack.pop()
        if not isinstance(item, ScriptObject) or id(item) in seen:
            continue
        if depth > MAX_SEARCH_DEPTH or len(prefix) > MAX_PATH_CHARS:
            if not stopped:
                stopped.append(
                    (
                        file_str(prefix.removesuffix("."), 200),
                        f"submodules nested more than {MAX_SEARCH_DEPTH:,} levels deep: "
                        "the search for tensors stopped here",
                    )
                )
            continue
        seen.add(id(item))
        if not isinstance(item.state, dict):
            continue
        children = []
        for name, value in item.state.items():
            if not isinstance(name, str):
                continue
            if isinstance(value, TensorInfo):
                out[f"{prefix}{name}"] = value
            elif isinstance(value, ScriptObject):
                children.append((value, f"{prefix}{name}.", depth + 1))
        stack += reversed(children)
    return out, tuple(stopped)


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
