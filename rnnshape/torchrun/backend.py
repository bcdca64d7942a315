"""Which kernel torch really ran for a recurrent module, and the switches that decided it.

``observe_backend`` runs one short call under torch's RecordFunction profiler (the legacy,
CPU-only one: no Kineto start-up, nothing printed) and reads the ATen op names it recorded;
where the caller's own profiler already runs (profilers do not nest), a ``TorchDispatchMode``
sees them instead.
``backend_facts`` reads the run-time switches ``rnnshape.explain.kernel`` states the rules
with. torch is received, never imported here at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

# ATen ops that name the fused kernel; a call that recorded none of them ran the plain
# per-step ops (linear/addmm + activations on CPU, _thnn_fused_*_cell on CUDA, the cells).
_KERNEL_OPS = (
    ("cudnn", ("aten::_cudnn_rnn", "aten::_cudnn_rnn_backward")),
    ("miopen", ("aten::miopen_rnn", "aten::miopen_rnn_backward")),
    (
        "onednn",
        (
            "aten::mkldnn_rnn_layer",
            "aten::mkldnn_rnn_layer_backward",
            "aten::mkldnn_rnn",
            "aten::mkldnn_rnn_backward",
        ),
    ),
    ("mps", ("aten::_lstm_mps", "aten::lstm_mps_backward")),
)


def backend_of(op_names: Iterable[str]) -> str:
    """The backend a set of recorded ATen op names shows: ``cudnn``, ``miopen``, ``onednn``,
    ``mps`` (LSTM on Apple's MPS), else ``native``."""
    names = set(op_names)
    for backend, ops in _KERNEL_OPS:
        if names.intersection(ops):
            return backend
    return "native"


def recorded_ops(torch: Any, call: Callable[[], object]) -> set[str]:
    """The names of every op torch's dispatcher recorded while ``call()`` ran."""
    try:
        from torch.autograd.profiler_legacy import profile
    except ImportError:  # a torch without the legacy profiler: Kineto's (slower to start)
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as kineto

        with kineto(activities=[ProfilerActivity.CPU]) as prof:
            call()
        return {str(e.name) for e in prof.events()}
    with ExitStack() as stack:
        try:
            legacy = stack.enter_context(profile())
        except RuntimeError:  # the caller's own profiler runs on this thread: none nests
            return dispatched_ops(torch, call)
        call()
    return {str(e.name) for e in legacy.function_events}


# The layer entry points: composite ops whose C++ body picks the kernel. Under inference mode
# they reach a dispatch mode whole, so the mode runs their body itself to see the choice.
_ENTRY_OPS = frozenset(("aten::lstm", "aten::gru", "aten::rnn_tanh", "aten::rnn_relu"))


def dispatched_ops(torch: Any, call: Callable[[], object]) -> set[str]:
    """The ATen ops ``call()`` dispatched, seen by a ``TorchDispatchMode`` (for when a
    profiler is already running)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Seen(TorchDispatchMode):  # type: ignore[misc]
        names: set[str]

        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # True wraps __torch_dispatch__ in dynamo: a ~1 s import

        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            name = str(func._schema.name)
            self.names.add(name)
            if name in _ENTRY_OPS:
                with self:
                    out = func.decompose(*args, **(kwargs or {}))
                if out is not NotImplemented:
                    return out
            return func(*args, **(kwargs or {}))

    seen = Seen()
    seen.names = set()
    with seen:
        call()
    return seen.names


def observe_backend(torch: Any, call: Callable[[], object]) -> str:
    """Run ``call()`` (one short forward, or forward+backward, of a built module) and return
    the kernel torch dispatched: ``cudnn``, ``onednn``, ``miopen``, ``mps`` or ``native``."""
    return backend_of(recorded_ops(torch, call))


def _fact(read: Callable[[], object]) -> object:
    """One switch's value, or None where this torch build cannot tell it."""
    try:
        value = read()
    except Exception:  # a build without the library, or an incompatible one: unknown
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def backend_facts(torch: Any, device: str) -> dict[str, object]:
    """The run-time switches torch's RNN dispatch reads on ``device`` (plain JSON values;
    None where this build cannot tell)."""
    backends = torch.backends
    facts: dict[str, object] = {
        "device": device,
        "torch": str(torch.__version__),
        "hip": torch.version.hip,
        "cpu_capability": _fact(backends.cpu.get_cpu_capability),
        "mkldnn_available": _fact(backends.mkldnn.is_available),
        "mkldnn_enabled": _fact(lambda: bool(backends.mkldnn.enabled)),
        # oneDNN's device checks for reduced precision (avx512bw/vl/dq or avx_ne_convert
        # for bf16; avx512_fp16 or avx_ne_convert for fp16).
        "mkldnn_bf16_supported": _fact(lambda: bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())),
        "mkldnn_fp16_supported": _fact(lambda: bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())),
        "mkldnn_rnn_fp32_precision": _fact(lambda: str(backends.mkldnn.rnn.fp32_precision)),
        "cudnn_available": _fact(lambda: bool(backends.cudnn.is_available())),
        "cudnn_enabled": _fact(lambda: bool(backends.cudnn.enabled)),
        "cudnn_allow_tf32": _fact(lambda: bool(backends.cudnn.allow_tf32)),
        "cudnn_rnn_fp32_precision": _fact(
            lambda: str(torch._C._get_fp32_precision_getter("cuda", "rnn"))
        ),
        "cudnn_version": None,
        "cuda_capability": None,
    }
    if device.startswith("cuda"):
        facts["cudnn_version"] = _fact(backends.cudnn.version)
        facts["cuda_capability"] = _fact(lambda: torch.cuda.get_device_capability(device))
    return facts
