"""Find the state dicts in an unpickled object: dicts of tensors, at any depth."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .model import MAX_DEPTH, StateDict, TensorInfo


def find_state_dicts(obj: object) -> Iterator[StateDict]:
    """Every dict holding tensors under string keys, at any depth of dicts and lists."""
    yield from _walk(obj, (), set(), 0)


def _walk(obj: object, path: tuple[str, ...], seen: set[int], depth: int) -> Iterator[StateDict]:
    if depth > MAX_DEPTH or id(obj) in seen:
        return
    if isinstance(obj, Mapping):
        seen.add(id(obj))
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, TensorInfo)}
        if tensors:
            yield StateDict(".".join(path) or None, tensors)
        for key, value in obj.items():
            if isinstance(value, (Mapping, list, tuple)):
                yield from _walk(value, (*path, str(key)), seen, depth + 1)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for index, value in enumerate(obj):
            if isinstance(value, (Mapping, list, tuple)):
                yield from _walk(value, (*path, str(index)), seen, depth + 1)
