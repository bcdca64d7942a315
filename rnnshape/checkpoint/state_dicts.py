"""Find the state dicts in an unpickled object: dicts of tensors, at any depth, also inside
the placeholders of objects that were not loaded (a pickled ``nn.Module``'s parameters are
named as its ``state_dict()`` would name them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from .model import MAX_DEPTH, SkippedObject, StateDict, TensorInfo
from .unpickler import Placeholder

_MODULE_STATE = ("_parameters", "_buffers", "_modules")


class _Walk:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.skipped: Counter[str] = Counter()

    def walk(
        self, obj: object, path: tuple[str, ...], depth: int, inside: bool
    ) -> Iterator[StateDict]:
        if depth > MAX_DEPTH or id(obj) in self.seen:
            return
        if isinstance(obj, Mapping):
            self.seen.add(id(obj))
            yield from self._mapping(obj.items(), path, depth, inside)
        elif isinstance(obj, (list, tuple)):
            self.seen.add(id(obj))
            for index, value in enumerate(obj):
                yield from self._child(value, (*path, str(index)), depth, inside)
        elif isinstance(obj, Placeholder):
            self.seen.add(id(obj))
            if not inside:  # what the file holds, counted once, not its parts
                self.skipped[obj.kind] += 1
            yield from self._placeholder(obj, path, depth)

    def _mapping(
        self,
        items: Iterable[tuple[object, object]],
        path: tuple[str, ...],
        depth: int,
        inside: bool,
    ) -> Iterator[StateDict]:
        pairs = list(items)
        tensors = {k: v for k, v in pairs if isinstance(k, str) and isinstance(v, TensorInfo)}
        if tensors:
            yield StateDict(".".join(path) or None, tensors)
        for key, value in pairs:
            yield from self._child(value, (*path, str(key)), depth, inside)

    def _child(
        self, value: object, path: tuple[str, ...], depth: int, inside: bool
    ) -> Iterator[StateDict]:
        if isinstance(value, (Mapping, list, tuple, Placeholder)):
            yield from self.walk(value, path, depth + 1, inside)

    def _placeholder(
        self, obj: Placeholder, path: tuple[str, ...], depth: int
    ) -> Iterator[StateDict]:
        attributes = obj.attributes()
        if all(isinstance(attributes.get(k), Mapping) for k in _MODULE_STATE):
            tensors: dict[str, TensorInfo] = {}
            self._module_tensors(obj, "", tensors, 0)
            if tensors:
                yield StateDict(".".join(path) or None, tensors)
            return
        yield from self._mapping(attributes.items(), path, depth, True)
        yield from self._mapping(zip(obj.keys, obj.values, strict=True), path, depth, True)
        for index, value in enumerate((*obj.args, *obj.items)):
            yield from self._child(value, (*path, str(index)), depth, True)

    def _module_tensors(
        self, obj: object, prefix: str, out: dict[str, TensorInfo], depth: int
    ) -> None:
        """A pickled ``nn.Module``'s parameters and buffers, named as ``state_dict()`` does."""
        if not isinstance(obj, Placeholder) or depth > MAX_DEPTH:
            return
        if depth and id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        attributes = obj.attributes()
        for part in ("_parameters", "_buffers"):
            store = attributes.get(part)
            if isinstance(store, Mapping):
                for name, value in store.items():
                    if isinstance(name, str) and isinstance(value, TensorInfo):
                        out[f"{prefix}{name}"] = value
        children = attributes.get("_modules")
        if isinstance(children, Mapping):
            for name, child in children.items():
                self._module_tensors(child, f"{prefix}{name}.", out, depth + 1)


def find_state_dicts(obj: object) -> Iterator[StateDict]:
    """Every dict holding tensors under string keys, at any depth of dicts and lists."""
    yield from _Walk().walk(obj, (), 0, False)


def scan(obj: object) -> tuple[tuple[StateDict, ...], tuple[SkippedObject, ...]]:
    """The state dicts in ``obj``, and the objects not loaded, by type, sorted by type."""
    walk = _Walk()
    found = tuple(walk.walk(obj, (), 0, False))
    skipped = tuple(SkippedObject(kind, n) for kind, n in sorted(walk.skipped.items()))
    return found, skipped
