"""Load a TorchScript archive with torch (``--trust-torchscript``): this runs its code."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from rnnshape.text import one_line
from rnnshape.torchrun.device import torch_warnings

# What torch says about itself rather than about the archive (``torch.jit.load`` and the
# quantized tensor functions are deprecated): dropped.
_NOISE = ("deprecated",)
# c10's warnings, written by C++ straight to file descriptor 2, bypassing Python's warnings:
# "[W1201 00:56:05.36 Quantizer.cpp:111] Warning: <message> (function operator())".
_C10_WARNING = re.compile(r"\[W[^\]]*\] Warning: (.*?)(?: \(function [^)]*\))?$")


class TorchScriptLoadError(Exception):
    """``torch.jit.load`` (or reading the loaded module's state) failed; ``error`` is why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def load_state_shapes(
    path: str, notes: list[str] | None = None
) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each state-dict tensor's shape and dtype (torch's name, ``float32``), by name.

    torch's warnings (Python's and its C++ core's) never reach stderr raw: those worth
    telling are appended to ``notes`` as ``torch: <first line>`` (dropped when no list is
    given), its notes about itself are dropped. A missing torch raises ``ImportError`` as
    is; any failure of torch's own raises ``TorchScriptLoadError``.
    """
    caught: list[str] = []
    try:
        with torch_warnings(caught), _c10_warnings(caught):
            import torch

            try:
                module = torch.jit.load(path, map_location="cpu")
                return {
                    name: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
                    for name, t in module.state_dict().items()
                }
            except Exception as exc:  # torch raises many types for a bad archive
                raise TorchScriptLoadError(exc) from exc
    finally:
        if notes is not None:
            for note in caught:
                if not any(word in note for word in _NOISE) and note not in notes:
                    notes.append(note)


@contextmanager
def _c10_warnings(sink: list[str]) -> Iterator[None]:
    """Hold what is written to file descriptor 2 meanwhile: c10's warnings become
    ``torch: <message>`` in ``sink``, any other line goes on to stderr as it was."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to redirect
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            other = []
            for line in held.read().decode("utf-8", "replace").splitlines():
                match = _C10_WARNING.match(line)
                if match:
                    sink.append(f"torch: {match.group(1)}")
                elif line.strip():
                    other.append(one_line(line))
            if other:
                sys.stderr.write("\n".join(other) + "\n")
