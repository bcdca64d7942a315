"""Load a TorchScript archive with torch (``--trust-torchscript``): this runs its code."""

from __future__ import annotations

import warnings


class TorchScriptLoadError(Exception):
    """``torch.jit.load`` (or reading the loaded module's state) failed; ``error`` is why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def load_state_shapes(path: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each state-dict tensor's shape and dtype (torch's name, ``float32``), by name.

    A missing torch raises ``ImportError`` as is; any failure of torch's own raises
    ``TorchScriptLoadError``.
    """
    import torch

    try:
        with warnings.catch_warnings():
            # torch >= 2.13 deprecates torch.jit.load (a DeprecationWarning, a FutureWarning
            # from 2.14): advice for code that writes TorchScript, not for a user reading an
            # archive that exists, which only torch.jit.load can do.
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated")
            module = torch.jit.load(path, map_location="cpu")
        return {
            name: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
            for name, t in module.state_dict().items()
        }
    except Exception as exc:  # torch raises many types for a bad archive
        raise TorchScriptLoadError(exc) from exc
