"""The only module that imports torch: builds the layer, runs one seeded forward pass,
and returns what it observed. Verification against the formulas happens elsewhere."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rnnshape.errors import SpecError, UsageError
from rnnshape.formulas import memory, run_memory_bytes, tensor_shapes
from rnnshape.spec import Dtype, InputSpec, LayerSpec, Mode, make_input, make_spec
from rnnshape.text import human_bytes

_DEVICE_RE = re.compile(r"^(cpu|mps|auto|cuda(:\d+)?)$")

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


@dataclass(frozen=True)
class ObservedTensor:
    shape: tuple[int, ...]
    dtype: str
    device: str
    batch_sizes: tuple[int, ...] | None = None


@dataclass
class Observation:
    """What torch reported: the module's config, its parameters, the tensors of one pass."""

    config: dict[str, object]
    parameters: list[tuple[str, tuple[int, ...]]]
    tensors: dict[str, ObservedTensor]
    device: str
    dtype: str
    warnings: list[str] = field(default_factory=list)
    bench: BenchTimes | None = None


def check_device_name(device: str) -> str:
    """Reject a device string that is none of cpu, cuda, cuda:N, mps, auto (no torch needed)."""
    if not _DEVICE_RE.match(device):
        raise SpecError("device", f"{device!r} must be cpu, cuda, cuda:N, mps or auto")
    return device


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


@dataclass(frozen=True)
class BenchRequest:
    """Time ``runs`` passes after ``warmup`` untimed ones; with ``backward``, forward+backward."""

    runs: int
    backward: bool = False
    warmup: int = 3


@dataclass(frozen=True)
class BenchTimes:
    """Measured wall times of each timed pass, in milliseconds, and how the layer ran."""

    times_ms: tuple[float, ...]
    warmup: int
    backward: bool
    device: str
    cudnn: bool | None


def check_fits(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    device: str,
    free: int | None,
    training: bool = False,
) -> None:
    """Refuse, before allocating, a run that would not fit in the device's free memory."""
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
def _torch_warnings(sink: list[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        if text and not any(key in text for key in _IRRELEVANT):
            line = f"torch: {text}"
            if line not in sink:
                sink.append(line)


def _import_torch(sink: list[str]) -> Any:
    try:
        with _torch_warnings(sink):
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


def _torch_dtype(torch: Any, dtype: Dtype) -> Any:
    return getattr(torch, dtype.value)


def _dtype_name(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


def _observe_tensor(t: Any) -> ObservedTensor:
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(t, PackedSequence):
        return ObservedTensor(
            tuple(t.data.shape),
            _dtype_name(t.data),
            str(t.data.device),
            tuple(int(b) for b in t.batch_sizes.tolist()),
        )
    return ObservedTensor(tuple(t.shape), _dtype_name(t), str(t.device))


def _states(
    torch: Any, spec: LayerSpec, inp: InputSpec, make: Callable[..., Any]
) -> dict[str, Any]:
    """Initial states of the shapes the formulas give (torch validates them in forward)."""
    shapes = {t.name: t.shape for t in tensor_shapes(spec, inp)}
    states = {"h_0": make(shapes["h_0"])}
    if "c_0" in shapes:
        states["c_0"] = make(shapes["c_0"])
    return states


def _forward(
    torch: Any, module: Any, spec: LayerSpec, x: Any, states: dict[str, Any]
) -> dict[str, ObservedTensor]:
    lstm = spec.mode.family.recurrence.name == "lstm"
    hx = (states["h_0"], states["c_0"]) if lstm else states["h_0"]
    with torch.inference_mode():
        result = module(x, hx)
    seen = {"input": _observe_tensor(x)}
    seen.update({name: _observe_tensor(t) for name, t in states.items()})
    if spec.mode.is_cell:
        if lstm:
            seen["h_1"], seen["c_1"] = _observe_tensor(result[0]), _observe_tensor(result[1])
        else:
            seen["h_1"] = _observe_tensor(result)
        return seen
    output, h_n = result
    seen["output"] = _observe_tensor(output)
    if lstm:
        seen["h_n"], seen["c_n"] = _observe_tensor(h_n[0]), _observe_tensor(h_n[1])
    else:
        seen["h_n"] = _observe_tensor(h_n)
    return seen


def module_config(module: Any) -> dict[str, object]:
    """The torch kwargs of a module, read back from its attributes."""
    mode = mode_of(module)
    return {name: getattr(module, name) for name in mode.kwargs}


def mode_of(module: Any) -> Mode:
    from torch import nn

    for cls, mode in (
        (nn.LSTM, Mode.LSTM),
        (nn.GRU, Mode.GRU),
        (nn.RNN, Mode.RNN),
        (nn.LSTMCell, Mode.LSTM_CELL),
        (nn.GRUCell, Mode.GRU_CELL),
        (nn.RNNCell, Mode.RNN_CELL),
    ):
        if isinstance(module, cls):
            return mode
    raise UsageError(
        f"{type(module).__name__} is not a recurrent module rnnshape knows "
        "(nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell)"
    )


def _classify_failure(exc: Exception, spec: LayerSpec, dtype: str, device: str) -> Exception:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if "out of memory" in lowered or "can't allocate memory" in lowered:
        return UsageError(
            f"{spec.mode.torch_class} ran out of memory on {device}: {text}; "
            "use --dry-run to see the shapes and counts without allocating"
        )
    if any(
        k in lowered
        for k in ("not implemented for", "not supported", "unsupported", "does not support")
    ):
        return SpecError("dtype", f"{dtype} cannot run {spec.mode.torch_class} on {device}: {text}")
    return exc


def run(
    spec: LayerSpec,
    inp: InputSpec,
    *,
    device: str = "cpu",
    dtype: Dtype = Dtype.FLOAT32,
    seed: int = 0,
    bench: BenchRequest | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Observation:
    """Build the module on ``device`` at ``dtype`` and run one seeded forward pass;
    with ``bench``, then time repeated passes of the same module on the same input."""
    check_device_name(device)
    training = bench is not None and bench.backward
    if device in ("cpu", "mps"):
        check_fits(spec, inp, dtype, device, available_memory_bytes(device), training)
    notes: list[str] = []
    torch = _import_torch(notes)
    resolved = resolve_device(torch, device)
    if resolved.startswith("cuda"):
        free = int(torch.cuda.mem_get_info(torch.device(resolved))[0])
        check_fits(spec, inp, dtype, resolved, free, training)
    elif resolved == "mps":
        if dtype is Dtype.FLOAT64:
            raise SpecError(
                "dtype",
                "float64 cannot run on mps: Apple's MPS has no float64; use {dtype} float32",
            )
        if device == "auto":
            check_fits(spec, inp, dtype, resolved, available_memory_bytes("cpu"), training)
    tdtype = _torch_dtype(torch, dtype)
    nn = torch.nn
    try:
        with _torch_warnings(notes):
            torch.manual_seed(seed)
            cls = getattr(nn, spec.mode.torch_class)
            module = cls(**spec.torch_kwargs(), device=resolved, dtype=tdtype).eval()
            if not spec.mode.is_cell and resolved.startswith("cuda"):
                # Built with device=, the weights are not one cuDNN buffer until flattened.
                module.flatten_parameters()

            def make(shape: tuple[int, ...]) -> Any:
                return torch.randn(shape, dtype=tdtype, device=resolved)

            x = _make_input(torch, spec, inp, make)
            states = _states(torch, spec, inp, make)
            seen = _forward(torch, module, spec, x, states)
            timed = None
            if bench is not None:
                timed = _bench(
                    torch, module, spec, x, states, bench, seen["input"].device, progress
                )
    except (RuntimeError, TypeError, ValueError) as exc:
        raise _classify_failure(exc, spec, dtype.value, resolved) from exc
    return _observation(module, seen, notes, timed)


def _make_input(torch: Any, spec: LayerSpec, inp: InputSpec, make: Callable[..., Any]) -> Any:
    """The tensor fed to forward: a padded batch packed when ``lengths`` are given."""
    if inp.lengths is None:
        return make(next(t.shape for t in tensor_shapes(spec, inp) if t.name == "input"))
    from torch.nn.utils.rnn import pack_padded_sequence

    longest, count = max(inp.lengths), len(inp.lengths)
    padded = make(
        (count, longest, spec.input_size) if spec.batch_first else (longest, count, spec.input_size)
    )
    return pack_padded_sequence(
        padded,
        torch.tensor(inp.lengths, dtype=torch.int64),
        batch_first=spec.batch_first,
        enforce_sorted=False,
    )


def spec_of_module(module: Any) -> LayerSpec:
    """A validated spec describing an existing torch module."""
    mode = mode_of(module)
    config = module_config(module)
    return make_spec(mode, **config)


def observe_module(
    module: Any, input: Any, hx: Any = None, seed: int = 0
) -> tuple[LayerSpec, InputSpec, Observation]:
    """Run a user's module on a user's input; states default to seeded random ones."""
    notes: list[str] = []
    torch = _import_torch(notes)
    from torch.nn.utils.rnn import PackedSequence

    spec = spec_of_module(module)
    inp = input_spec_of(spec, input)
    data = input.data if isinstance(input, PackedSequence) else input
    if data.shape[-1] != spec.input_size:
        raise UsageError(
            f"input has {data.shape[-1]} features in its last dimension but the module's "
            f"input_size is {spec.input_size}"
        )
    if hx is None:
        torch.manual_seed(seed)

        def make(shape: tuple[int, ...]) -> Any:
            return torch.randn(shape, dtype=data.dtype, device=data.device)

        states = _states(torch, spec, inp, make)
    elif spec.mode.family.recurrence.name == "lstm":
        states = {"h_0": hx[0], "c_0": hx[1]}
    else:
        states = {"h_0": hx}
    with _torch_warnings(notes):
        seen = _forward(torch, module, spec, input, states)
    return spec, inp, _observation(module, seen, notes)


def _observation(
    module: Any, seen: dict[str, ObservedTensor], notes: list[str], bench: BenchTimes | None = None
) -> Observation:
    """What a pass showed: the module's config and parameters, the tensors, where it ran."""
    return Observation(
        config=module_config(module),
        parameters=[(n, tuple(p.shape)) for n, p in module.named_parameters()],
        tensors=seen,
        device=seen["input"].device,
        dtype=seen["input"].dtype,
        warnings=notes,
        bench=bench,
    )


def input_spec_of(spec: LayerSpec, input: Any) -> InputSpec:
    """Describe a user's input tensor or PackedSequence as an InputSpec."""
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(input, PackedSequence):
        if spec.mode.is_cell:
            raise UsageError("a cell takes one time step, not a PackedSequence")
        sizes = input.batch_sizes.tolist()
        by_rank = [sum(1 for b in sizes if b > i) for i in range(int(sizes[0]))]
        if input.unsorted_indices is not None:
            lengths = [by_rank[int(i)] for i in input.unsorted_indices.tolist()]
        else:
            lengths = by_rank
        return make_input(spec, lengths=lengths)
    rank = input.dim()
    if spec.mode.is_cell:
        if rank not in (1, 2):
            raise UsageError(f"a cell's input must be 1-D or 2-D, got {rank}-D")
        return (
            make_input(spec, unbatched=True)
            if rank == 1
            else make_input(spec, batch=int(input.shape[0]))
        )
    if rank == 2:
        return make_input(spec, seq=int(input.shape[0]), unbatched=True)
    if rank != 3:
        raise UsageError(f"a recurrent layer's input must be 2-D or 3-D, got {rank}-D")
    first, second = int(input.shape[0]), int(input.shape[1])
    seq, batch = (second, first) if spec.batch_first else (first, second)
    return make_input(spec, seq=seq, batch=batch)


def _uses_cudnn(torch: Any, spec: LayerSpec, x: Any, device: str) -> bool | None:
    """Whether torch dispatches this layer to cuDNN (its own rule); None off CUDA."""
    if not device.startswith("cuda"):
        return None
    if spec.mode.is_cell:  # cells run torch's fused CUDA kernels, never cuDNN
        return False
    data = x.data if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x
    cudnn = torch.backends.cudnn
    return bool(cudnn.enabled and cudnn.is_available() and cudnn.is_acceptable(data))


def _bench(
    torch: Any,
    module: Any,
    spec: LayerSpec,
    x: Any,
    states: dict[str, Any],
    request: BenchRequest,
    device: str,
    progress: Callable[[int, int], None] | None,
) -> BenchTimes:
    """Time ``request.runs`` passes after ``request.warmup`` untimed ones."""
    import time

    from torch.nn.utils.rnn import PackedSequence

    lstm = spec.mode.family.recurrence.name == "lstm"
    hx = (states["h_0"], states["c_0"]) if lstm else states["h_0"]
    cuda = device.startswith("cuda")
    if request.backward:
        module.train()  # cuDNN's backward needs training mode; dropout then applies too

    def loss_of(result: Any) -> Any:
        if spec.mode.is_cell:
            return result[0].sum() + result[1].sum() if lstm else result.sum()
        output = result[0]
        if isinstance(output, PackedSequence):
            output = output.data
        return output.sum()

    def once() -> None:
        if request.backward:
            module.zero_grad(set_to_none=True)
            loss_of(module(x, hx)).backward()
        else:
            with torch.inference_mode():
                module(x, hx)

    total = request.warmup + request.runs
    times: list[float] = []
    for i in range(total):
        if cuda:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            once()
            end.record()
            end.synchronize()
            elapsed = float(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            once()
            elapsed = (time.perf_counter() - began) * 1000.0
        if i >= request.warmup:
            times.append(elapsed)
        if progress is not None:
            progress(i + 1, total)
    module.eval()
    return BenchTimes(
        tuple(times), request.warmup, request.backward, device, _uses_cudnn(torch, spec, x, device)
    )
