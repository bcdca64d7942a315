"""Devices and memory: which device a run uses, whether it fits, importing torch quietly.

``available_memory_bytes`` needs no torch; the rest receive the torch module from
``import_torch``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rnnshape.errors import SpecError, UsageError
from rnnshape.formulas import LISTING_LIMIT, memory, parameter_count, run_memory_bytes
from rnnshape.spec import Dtype, InputSpec, LayerSpec, check_device_name
from rnnshape.text import human_bytes

# torch warnings that say nothing about the user's layer: silenced. Anything else becomes
# one clean "warning:" line. Dropout-with-one-layer is reported from the spec instead.
_IRRELEVANT = (
    "Failed to initialize NumPy",
    "numpy",
    "oneDNN",
    "mkldnn",
    "TypedStorage",
    "dropout option adds dropout",
    "not part of single contiguous chunk",
)


def available_memory_bytes(device: str) -> int | None:
    """Free memory on the host (for cpu), read without torch; None where it cannot be told."""
    if device not in ("cpu", "mps"):
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    device: str,
    free: int | None,
    training: bool = False,
) -> None:
    """Refuse, before allocating, a run that would not fit in the device's free memory, or
    whose module has more parameter tensors than a run verifies (``LISTING_LIMIT``)."""
    tensors = parameter_count(spec)
    if tensors > LISTING_LIMIT:
        raise UsageError(
            f"{spec.constructor()} has {tensors:,} parameter tensors; a real run builds and "
            f"verifies each one, up to {LISTING_LIMIT:,}: use --dry-run for its counts, "
            "shapes and cost"
        )
    if free is None:
        return
    need = run_memory_bytes(spec, inp, dtype)
    if training:  # autograd's saved activations and one gradient per parameter
        mem = memory(spec, inp, dtype)
        need += mem.training_activation_bytes + mem.parameter_bytes
    if need > free * 0.9:
        raise UsageError(
            f"this run needs about {human_bytes(need)} ({spec.constructor()} at {dtype.value}) "
            f"but {device} has {human_bytes(free)} free; use --dry-run to see the shapes "
            "and counts without allocating"
        )


@contextmanager
def torch_warnings(sink: list[str]) -> Iterator[None]:
    """Collect torch's warnings as ``torch: <first line>`` (once each), minus the noise."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        if text and not any(key in text for key in _IRRELEVANT):
            line = f"torch: {text}"
            if line not in sink:
                sink.append(line)


def import_torch(sink: list[str]) -> Any:
    try:
        with torch_warnings(sink):
            import torch
    except ImportError as exc:
        raise UsageError(
            f"a real run needs PyTorch, which cannot be imported here ({exc}); install it "
            "(https://pytorch.org) or use --dry-run for the shapes and counts without torch"
        ) from exc
    return torch


def resolve_device(torch: Any, device: str) -> str:
    """Turn cpu/cuda/cuda:N/mps/auto into a device that exists here, or explain why not."""
    check_device_name(device)
    cuda_ok = bool(torch.cuda.is_available())
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if device == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if device.startswith("cuda"):
        if not cuda_ok:
            build = torch.__version__
            raise SpecError(
                "device",
                f"{device}: CUDA is not available on this machine (torch {build}); "
                "use {device} cpu",
            )
        if ":" in device:
            index, count = int(device.split(":")[1]), torch.cuda.device_count()
            if index >= count:
                raise SpecError(
                    "device",
                    f"{device}: this machine has {count} CUDA device(s), "
                    f"cuda:0 to cuda:{count - 1}",
                )
    if device == "mps" and not mps_ok:
        raise SpecError(
            "device", "mps: Apple's MPS backend is not available here; use {device} cpu"
        )
    return device


def check_device_fits(
    torch: Any,
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    requested: str,
    resolved: str,
    training: bool,
) -> None:
    """The checks that need the resolved device: CUDA's free memory, MPS's dtypes."""
    if resolved.startswith("cuda"):
        free = int(torch.cuda.mem_get_info(torch.device(resolved))[0])
        check_fits(spec, inp, dtype, resolved, free, training)
    elif resolved == "mps":
        if dtype is Dtype.FLOAT64:
            raise SpecError(
                "dtype",
                "float64 cannot run on mps: Apple's MPS has no float64; use {dtype} float32",
            )
        if requested == "auto":
            check_fits(spec, inp, dtype, resolved, available_memory_bytes("cpu"), training)
