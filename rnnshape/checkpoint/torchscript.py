"""TorchScript archives, read without running them: ``data.pkl`` pickles the module's
attributes as instances of ``__torch__`` classes, which are recorded, never built.

``--trust-torchscript`` is the one way out: ``torch.jit.load`` runs the archive's code,
and happens in ``rnnshape.torchrun``, imported only then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import IO

from .file_text import file_str
from .pickle_records import Refused, ScriptObject
from .records import Checkpoint, CheckpointError, CheckpointFormat, StateDict, TensorInfo
from .state_dicts import (
    MAX_PATH_CHARS,
    MAX_SEARCH_DEPTH,
    TextBudget,
    TooMuchText,
    too_much_text,
)
from .unpickler import StorageLoader, unpickle

# A scripted recurrent module's class, as the archive names it (a second variant of a class
# is "mangled": __torch__.torch.nn.modules.rnn.___torch_mangle_3.LSTM).
_RECURRENT_CLASS = re.compile(
    r"__torch__\.torch\.nn\.modules\.rnn\.(?:___torch_mangle_[0-9]+\.)?"
    r"(?:RNN|LSTM|GRU|RNNCell|LSTMCell|GRUCell)\Z"
)
# How the archive's code writes the constants weights do not record, in the class body:
# "  batch_first : Final[bool] = True", "  dropout : Final[float] = 0.5".
_CONSTANT = re.compile(
    r"^  (batch_first|dropout|nonlinearity) : Final\[(?:bool|float|str)\] = "
    r"(True|False|[0-9]*\.[0-9]*(?:e-?[0-9]+)?|\"(?:tanh|relu)\")$",
    re.MULTILINE,
)
CodeReader = Callable[[str], str | None]  # a code file by its path in the archive, if small


def read_script(
    path: str,
    data_pkl: IO[bytes],
    storage: StorageLoader,
    trust_torchscript: bool,
    size: int | None = None,
    code: CodeReader | None = None,
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
    try:
        tensors, unsearched, classes = _collect_script(obj, TextBudget(size or 0))
    except TooMuchText:
        raise too_much_text(path) from None
    known = _stored_constants(classes, code) if code is not None else {}
    return Checkpoint(
        path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors, known),), (), unsearched
    )


def _stored_constants(classes: dict[str, str], code: CodeReader) -> dict[str, dict[str, object]]:
    """What the archive's code states for each recurrent submodule (by prefix): its class
    body's ``batch_first``, ``dropout`` and ``nonlinearity`` constants, read as text."""
    known: dict[str, dict[str, object]] = {}
    bodies: dict[str, dict[str, object] | None] = {}
    for prefix, torch_class in classes.items():
        if torch_class not in bodies:
            bodies[torch_class] = _class_constants(torch_class, code)
        found = bodies[torch_class]
        if found:
            known[prefix] = found
    return known


def _class_constants(torch_class: str, code: CodeReader) -> dict[str, object] | None:
    module, _, name = torch_class.rpartition(".")
    source = code(module.replace(".", "/") + ".py")
    if source is None:
        return None
    start = source.find(f"\nclass {name}(")
    if start < 0 and source.startswith(f"class {name}("):
        start = 0
    if start < 0:
        return None
    end = source.find("\nclass ", start + 1)
    body = source[start : end if end >= 0 else len(source)]
    out: dict[str, object] = {}
    for key, raw in _CONSTANT.findall(body):
        if key == "batch_first":
            out[key] = raw == "True"
        elif key == "dropout" and raw not in ("True", "False") and raw.strip(".").strip("e-"):
            out[key] = float(raw)
        elif key == "nonlinearity" and raw.startswith('"'):
            out[key] = raw.strip('"')
    return out


def _collect_script(
    obj: object, budget: TextBudget
) -> tuple[dict[str, TensorInfo], tuple[tuple[str | None, str], ...], dict[str, str]]:
    """A scripted module's tensors by dotted name: its attributes, submodules at any depth up
    to ``MAX_SEARCH_DEPTH`` (where it stops, it says so), each object once; and the class of
    each recurrent submodule, by prefix."""
    out: dict[str, TensorInfo] = {}
    classes: dict[str, str] = {}
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
        if _RECURRENT_CLASS.match(item.torch_class):
            classes[prefix] = item.torch_class
        if not isinstance(item.state, dict):
            continue
        children = []
        for name, value in item.state.items():
            if not isinstance(name, str):
                continue
            if isinstance(value, TensorInfo):
                budget.spend(len(prefix) + len(name))
                out[f"{prefix}{name}"] = value
            elif isinstance(value, ScriptObject):
                children.append((value, f"{prefix}{name}.", depth + 1))
        stack += reversed(children)
    return out, tuple(stopped), classes


def read_torchscript_trusted(path: str) -> Checkpoint:
    """``--trust-torchscript``: let torch load the archive (it runs the archive's code)."""
    from rnnshape.torchrun.torchscript import TorchScriptLoadError, load_state_shapes

    try:
        shapes = load_state_shapes(path)
    except TorchScriptLoadError as exc:
        lines = [line.strip() for line in str(exc.error).splitlines() if line.strip()]
        reason = file_str(lines[0]) if lines else type(exc.error).__name__
        raise CheckpointError(f"{path}: torch.jit.load failed: {reason}") from None
    tensors = {name: TensorInfo(shape, dtype) for name, (shape, dtype) in shapes.items()}
    return Checkpoint(path, CheckpointFormat.TORCHSCRIPT, (StateDict(None, tensors),))
