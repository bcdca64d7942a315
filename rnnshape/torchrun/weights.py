"""torch's side of ``rnnshape convert``: load a torch checkpoint's tensors, write state dicts.

Loading uses ``torch.load(weights_only=True)`` (torch's own restricted unpickler) or the
safetensors package; writing is atomic (a temporary file in the target's folder, renamed
onto it) in ``.safetensors`` or ``.pt`` (``torch.save``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rnnshape.errors import RnnShapeError, UsageError
from rnnshape.files import replace_file


def load_tensors(path: str, safetensors: bool) -> dict[tuple[str | None, str], Any]:
    """Every tensor in the file by (dotted container path or None, name), as torch tensors."""
    import torch

    if safetensors:
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise UsageError(
                "converting a safetensors file needs the safetensors package: "
                "pip install safetensors"
            ) from None
        return {(None, k): v for k, v in load_file(path).items()}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch's unpickler refuses with many classes
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RnnShapeError(
            f"{path}: torch.load(weights_only=True) cannot load it ({text[:200]}); convert "
            "reads checkpoints that hold plain tensors and containers"
        ) from None
    return dict(_tensors(obj, None, 0))


def _tensors(
    obj: object, container: str | None, depth: int
) -> Iterator[tuple[tuple[str | None, str], Any]]:
    import torch

    if depth > 64:
        return
    items: list[tuple[object, object]] = []
    if isinstance(obj, Mapping):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        items = list(enumerate(obj))
    for key, value in items:
        text = key if isinstance(key, str) else repr(key)
        if isinstance(value, torch.Tensor) and isinstance(key, str):
            yield (container, key), value
        else:
            yield from _tensors(value, f"{container}.{text}" if container else text, depth + 1)


def save_state_dicts(path: str, tensors: Mapping[str, Any], *, fmt: str) -> None:
    """Write ``tensors`` (numpy arrays or torch tensors) atomically as ``fmt`` (safetensors, pt)."""
    import torch

    state = {
        name: (value if isinstance(value, torch.Tensor) else torch.from_numpy(value)).contiguous()
        for name, value in tensors.items()
    }
    if fmt == "safetensors":
        try:
            from safetensors.torch import save_file
        except ImportError:
            raise UsageError(
                "writing .safetensors needs the safetensors package: pip install safetensors "
                "(or write .pt)"
            ) from None
        replace_file(path, lambda temporary: save_file(state, str(temporary)))
    else:
        replace_file(path, lambda temporary: torch.save(state, temporary))
