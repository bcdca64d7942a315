"""Devices and memory: which device a run uses, whether it fits, importing torch quietly.

``available_memory_bytes`` needs no torch; the rest receive the torch module from
``import_torch``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rnnshape.errors import SpecError, UsageError
from rnnshape.explain.kernel import fused_lstm
from rnnshape.family import Dtype, InputSpec, LayerSpec, check_device_name
from rnnshape.formulas import LISTING_LIMIT, memory, parameter_count
from rnnshape.text import human_bytes

# torch warnings that say nothing about the user's layer: silenced. Anything else becomes
# one clean "warning:" line. Dropout-with-one-layer is reported from the spec instead.
_IRRELEVANT = (
    "Failed to initialize NumPy",
    "numpy",
    "TypedStorage",
    "dropout option adds dropout",
    "TF32 acceleration on top of oneDNN is available for Intel GPUs",
)
# C++ warnings end with where ATen raised them: not for users.
_TRIGGERED = re.compile(r"\s*\(Triggered internally at [^)]*\)\.?\s*$")


def warning_line(message: str) -> str | None:
    """A torch warning as one clean line (``torch: …``), with the kernel section's
    explanation where it has one; None for noise."""
    text = _TRIGGERED.sub("", " ".join(message.split()))
    if not text or any(key in text for key in _IRRELEVANT):
        return None
    from rnnshape.explain.kernel import warning_explanation

    why = warning_explanation(text)
    return f"torch: {text}" + (f" ({why})" if why else "")


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
    need = memory(
        spec,
        inp,
        dtype,
        device=device,
        training=training,
        fused=fused_lstm(spec, inp, dtype, device, training),  # explain.kernel's prediction
    ).peak_bytes
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
        line = warning_line(str(w.message))
        if line is not None and line not in sink:
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


class PeakMeter:
    """The memory a run adds at its peak: on CUDA ``torch.cuda.max_memory_allocated`` over
    what was allocated at the start; on a CPU the process's high-water mark (``VmHWM``,
    reset through ``/proc/self/clear_refs``) over its resident size at the start. None
    where it cannot be told (no /proc, a high-water mark that cannot be reset)."""

    def __init__(self, torch: Any, device: str) -> None:
        self.torch, self.device = torch, device
        self.base: int | None = None
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(device)
            self.base = int(torch.cuda.memory_allocated(device))
        elif device == "cpu":
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                    f.write("5")  # resets VmHWM to the current resident size
                self.base = _status_bytes("VmRSS:")
            except OSError:
                self.base = None

    def peak(self) -> int | None:
        if self.base is None:
            return None
        if self.device.startswith("cuda"):
            return max(int(self.torch.cuda.max_memory_allocated(self.device)) - self.base, 0)
        try:
            high = _status_bytes("VmHWM:")
        except OSError:
            return None
        return max(high - self.base, 0) if high is not None else None


def _status_bytes(key: str) -> int | None:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return None


# Below this many FLOPs a time step and layer, torch's thread pool costs more than it gives:
# on a busy 2-core machine a tiny LSTM took 92 ms a pass with two threads, 0.14 ms with one
# (benchmarks/threads.py measures it).
SMALL_STEP_FLOPS = 1 << 24


@contextmanager
def run_threads(torch: Any, spec: LayerSpec, inp: InputSpec, device: str) -> Iterator[None]:
    """One intra-op thread for the run of a small layer on a CPU, unless the user chose a
    thread count (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``); torch's own count otherwise.
    Restored afterwards."""
    from rnnshape.formulas import cost
    from rnnshape.torchrun.estimate import time_steps

    chosen = any(os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    layers = 1 if spec.mode.is_cell else spec.num_layers
    small = cost(spec, inp).flops < SMALL_STEP_FLOPS * time_steps(spec, inp) * layers
    before = int(torch.get_num_threads())
    if device != "cpu" or chosen or not small or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
