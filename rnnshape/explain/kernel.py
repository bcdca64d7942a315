"""Which kernel torch picks for a layer or cell, stated from torch's own dispatch rules.

Pure Python (no torch): the rules are ATen's (``aten/src/ATen/native/RNN.cpp``):

- ``use_cudnn``: a CUDA tensor, cuDNN compiled in and ``torch.backends.cudnn.enabled``
  (``at::cudnn_is_acceptable``), at float16, float32 or float64; bfloat16 only where
  torch was built with cuDNN >= 9.13 and the GPU's compute capability is 8.0 or higher
  (``supportsBFloat16RNNWithCuDNN``). Every layer overload (LSTM, GRU, RNN; padded or
  packed) asks it first.
- ``use_miopen`` (ROCm): float32 or float16 on the GPU with cuDNN/MIOpen enabled; an LSTM
  with projections falls back to the plain kernels.
- ``use_mkldnn`` (oneDNN, CPU): ``torch.backends.mkldnn.enabled``, every tensor on the CPU,
  float32, bfloat16 where the CPU passes oneDNN's bf16 check, float16 only with autograd
  off and where it passes the fp16 check. Only the padded LSTM overload asks it, and an
  LSTM with projections falls back with a warning. GRU, RNN and packed input have no
  oneDNN branch.
- Cells (``lstm_cell``, ``gru_cell``, ``rnn_*_cell``) never take a fused library kernel:
  two matmuls and the element-wise step (``_thnn_fused_*_cell`` on CUDA).

``predict_backend`` reads the switches from ``facts`` (``torchrun.backend.backend_facts`` on
a real run); without them (``--dry-run``) it assumes torch's defaults, reads the CPU's
flags from ``/proc/cpuinfo`` and marks the choice as predicted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import NamedTuple

from rnnshape.family import Dtype, InputSpec, LayerSpec, Mode
from rnnshape.formulas import num_parameters
from rnnshape.text import human_bytes

# What torchrun.backend.observe_backend can report; "mps" is LSTM's own kernel on Apple GPUs.
BACKENDS = ("cudnn", "onednn", "miopen", "mps", "native")

# torch's warning when cuDNN runs on weights that are not one flat buffer (bfloat16 layers).
COMPACTED_WEIGHTS = "not part of single contiguous chunk of memory"
COMPACTED_WEIGHTS_EXPLANATION = (
    "cuDNN ran, but torch's flatten_parameters() skips bfloat16 "
    "(torch.backends.cudnn.is_acceptable lists float16, float32 and float64 only), "
    "so ATen copies the weights into one cuDNN buffer on every call"
)
PROJECTIONS_ONEDNN = "LSTM with projections is not supported with oneDNN"
PROJECTIONS_MIOPEN = "LSTM with projections is not supported with MIOpen"

# A fragment of a torch warning's text → the one-line explanation to show beside it.
KERNEL_WARNING_EXPLANATIONS: dict[str, str] = {
    COMPACTED_WEIGHTS: COMPACTED_WEIGHTS_EXPLANATION,
    PROJECTIONS_ONEDNN: (
        "oneDNN's LSTM has no projection (proj_size), so torch ran the plain per-step "
        "kernels on the CPU instead"
    ),
    PROJECTIONS_MIOPEN: (
        "MIOpen's LSTM has no projection (proj_size), so torch ran the plain per-step "
        "kernels on the GPU instead"
    ),
}

_CELL_OPS = {Mode.LSTM_CELL: "lstm_cell", Mode.GRU_CELL: "gru_cell"}  # RNNCell: by nonlinearity
_CUDNN_DTYPES = (Dtype.FLOAT16, Dtype.FLOAT32, Dtype.FLOAT64)
_CUDNN_BF16_VERSION = 91300  # supportsBFloat16RNNWithCuDNN: CUDNN_VERSION >= 91300
_CUDNN_BF16_CAPABILITY = 8  # ... and compute capability major >= 8


class KernelChoice(NamedTuple):
    """The kernel torch picks: ``backend`` (one of ``BACKENDS``), the ``rule`` that decided
    it (one sentence), one-line ``notes``; ``predicted`` when torch's switches were assumed
    (no torch was asked)."""

    backend: str
    rule: str
    notes: tuple[str, ...] = ()
    predicted: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "rule": self.rule,
            "notes": list(self.notes),
            "predicted": self.predicted,
        }


def warning_explanation(text: str) -> str | None:
    """The one-line explanation of a torch warning about the kernel, if it is one."""
    return next((why for frag, why in KERNEL_WARNING_EXPLANATIONS.items() if frag in text), None)


def fused_lstm(spec: LayerSpec, inp: InputSpec, dtype: Dtype, device: str, training: bool) -> bool:
    """Whether torch will run oneDNN's fused LSTM, predicted (no torch): the memory guard
    counts its work differently from the step-by-step kernels'."""
    choice = predict_backend(spec, inp, device_kind=device, dtype=dtype, training=training)
    return choice.backend == "onednn"


def predict_backend(
    spec: LayerSpec,
    inp: InputSpec,
    *,
    device_kind: str = "cpu",
    dtype: Dtype | str = Dtype.FLOAT32,
    training: bool = False,
    facts: Mapping[str, object] | None = None,
) -> KernelChoice:
    """The kernel torch picks for ``spec`` on ``inp``, and torch's rule that decided it.

    ``device_kind``: cpu, cuda (or cuda:N), mps; auto is predicted as cpu. ``training``: the
    pass runs with autograd on (forward+backward, training mode). ``facts``: the switches
    ``backend_facts`` read from torch; None when torch was not asked (predicted)."""
    dtype = Dtype(dtype)
    kind = device_kind.split(":", 1)[0]
    notes: list[str] = []
    if kind == "auto":
        kind = "cpu"
        notes.append("--device auto picks a GPU at run time where there is one: predicted for cpu")
    switches = _Switches(facts)
    if spec.mode.is_cell:
        backend, rule = _cell(spec, kind)
    elif kind == "cuda":
        backend, rule = _cuda(spec, inp, dtype, switches, notes)
    elif kind == "mps":
        backend, rule = _mps(spec, inp)
    else:
        backend, rule = _cpu(spec, inp, dtype, training, switches, notes)
    notes.extend(_common_notes(spec, inp, backend, training))
    if switches.predicted:
        notes.append(
            "predicted without torch: torch's default switches"
            + (", the CPU's flags from /proc/cpuinfo" if switches.read_cpuinfo else "")
        )
    return KernelChoice(backend, rule, tuple(notes), switches.predicted)


class _Switches:
    """torch's run-time switches: from ``facts`` where given, else torch's defaults."""

    def __init__(self, facts: Mapping[str, object] | None) -> None:
        self.facts = facts
        self.predicted = facts is None
        self.read_cpuinfo = False

    def get(self, key: str, default: object) -> object:
        if self.facts is None:
            return default
        value = self.facts.get(key)
        return default if value is None else value

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, default))

    def cpu_check(self, key: str, flags_pass: Callable[[], bool | None]) -> bool | None:
        """A oneDNN device check: torch's answer, else the CPU's flags (None: unknown)."""
        if self.facts is not None and self.facts.get(key) is not None:
            return bool(self.facts[key])
        self.read_cpuinfo = True
        return flags_pass()


def _cell(spec: LayerSpec, kind: str) -> tuple[str, str]:
    op = _CELL_OPS.get(spec.mode, f"rnn_{spec.nonlinearity}_cell")
    fused = ""
    if kind == "cuda" and spec.mode is not Mode.RNN_CELL:
        fused = f" (on CUDA the element-wise step is one _thnn_fused_{op} kernel)"
    return "native", (
        f"nn.{spec.mode.torch_class} calls aten::{op}, which no library kernel takes: "
        f"two matmuls and the element-wise step, one time step per call{fused}."
    )


def _cpu(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: Dtype,
    training: bool,
    switches: _Switches,
    notes: list[str],
) -> tuple[str, str]:
    cls = f"nn.{spec.mode.torch_class}"
    if spec.mode is not Mode.LSTM:
        return "native", (
            f"On CPU, ATen's {spec.mode.value} has no oneDNN branch (use_mkldnn is asked by "
            f"LSTM only): {cls} runs the plain per-step kernels."
        )
    if inp.packed and len(set(inp.lengths or ())) > 1:
        return "native", (
            "A PackedSequence of uneven lengths takes ATen's packed lstm overload, which has "
            "no oneDNN branch: on CPU it runs the plain per-step kernels."
        )
    if inp.packed:
        notes.append(
            "every sequence has the same length: torch runs this PackedSequence as one padded "
            "batch (observed with torch 2.13), so the padded rules below apply"
        )
    if not switches.flag("mkldnn_available", True):
        return "native", (
            "This torch was built without oneDNN (torch.backends.mkldnn.is_available() is "
            "False): the LSTM runs the plain per-step kernels."
        )
    if not switches.flag("mkldnn_enabled", True):
        return "native", (
            "torch.backends.mkldnn.enabled is False, so ATen's use_mkldnn refuses oneDNN: "
            "the LSTM runs the plain per-step kernels."
        )
    if dtype is Dtype.FLOAT64:
        return "native", (
            "ATen's use_mkldnn takes float32, bfloat16 and float16 only: a float64 LSTM runs "
            "the plain per-step kernels."
        )
    if dtype is Dtype.BFLOAT16:
        passes = switches.cpu_check("mkldnn_bf16_supported", _cpu_passes_bf16)
        if passes is False:
            return "native", (
                "ATen's use_mkldnn takes bfloat16 only where the CPU passes oneDNN's bf16 "
                "check (avx512bw, avx512vl and avx512dq, or avx_ne_convert); this one does "
                "not: the plain per-step kernels run."
            )
        if passes is None:
            notes.append(
                "the CPU's flags could not be read: oneDNN's bf16 check is assumed to pass"
            )
    if dtype is Dtype.FLOAT16:
        if training:
            return "native", (
                "ATen's use_mkldnn takes float16 only with autograd off: a training pass "
                "(forward+backward) runs the plain per-step kernels."
            )
        passes = switches.cpu_check("mkldnn_fp16_supported", _cpu_passes_fp16)
        if passes is False:
            return "native", (
                "ATen's use_mkldnn takes float16 only where the CPU passes oneDNN's fp16 check "
                "(avx512_fp16 or avx_ne_convert); this one does not: the plain per-step "
                "kernels run."
            )
        if passes is None:
            notes.append(
                "the CPU's flags could not be read: oneDNN's fp16 check is assumed to pass"
            )
        notes.append(
            "a float16 pass with autograd on (--backward) runs the plain kernels: oneDNN takes "
            "float16 only for inference"
        )
    if spec.proj_size > 0:
        notes.append(f"torch warns: {PROJECTIONS_ONEDNN}")
        return "native", (
            "oneDNN's LSTM has no projections: with proj_size > 0 ATen's lstm falls back to "
            "the plain per-step kernels on CPU."
        )
    precision = switches.get("mkldnn_rnn_fp32_precision", "none")
    if dtype is Dtype.FLOAT32 and precision in ("bf16", "tf32"):
        notes.append(
            f"torch.backends.mkldnn.rnn.fp32_precision is {precision!r}: oneDNN computes "
            f"float32 in {precision}"
        )
    which = {Dtype.FLOAT32: "a float32", Dtype.BFLOAT16: "a bfloat16", Dtype.FLOAT16: "a float16"}
    return "onednn", (
        f"On CPU, ATen's use_mkldnn sends {which[dtype]} LSTM without projections to "
        "oneDNN's fused kernel (aten::mkldnn_rnn_layer, one call per layer and direction)."
    )


def _cuda(
    spec: LayerSpec, inp: InputSpec, dtype: Dtype, switches: _Switches, notes: list[str]
) -> tuple[str, str]:
    cls = f"nn.{spec.mode.torch_class}"
    plain = "the plain per-step kernels (two matmuls and an activation each step)"
    if spec.mode is not Mode.RNN:
        fused = f"_thnn_fused_{spec.mode.value}_cell"
        plain = f"the plain per-step kernels (two matmuls and {fused} each step)"
    if not switches.flag("cudnn_enabled", True):
        return "native", (
            "torch.backends.cudnn.enabled is False, so ATen's use_cudnn (cudnn_is_acceptable) "
            f"refuses cuDNN: {cls} runs {plain}."
        )
    if switches.get("hip", None):
        return _rocm(spec, dtype, plain, notes)
    if not switches.flag("cudnn_available", True):
        return "native", (
            f"This torch was built without cuDNN (torch.backends.cudnn.is_available() is False): "
            f"{cls} runs {plain}."
        )
    if dtype is Dtype.BFLOAT16:
        version = switches.get("cudnn_version", None)
        capability = switches.get("cuda_capability", None)
        major = capability[0] if isinstance(capability, (list, tuple)) and capability else None
        too_old = isinstance(version, int) and version < _CUDNN_BF16_VERSION
        too_early = isinstance(major, int) and major < _CUDNN_BF16_CAPABILITY
        if too_old or too_early:
            return "native", (
                "ATen's use_cudnn takes bfloat16 only with cuDNN >= 9.13 on a GPU of compute "
                f"capability 8.0 or higher (here cuDNN {version}, capability {capability}): "
                f"{cls} runs {plain}."
            )
        unknown = version is None or major is None
        weights = human_bytes(num_parameters(spec) * dtype.itemsize)
        notes.append(
            f"torch warns the weights are '{COMPACTED_WEIGHTS}': flatten_parameters() skips "
            f"bfloat16, so ATen copies the {weights} of weights into one buffer every call"
        )
        return "cudnn", (
            "On CUDA, ATen's use_cudnn takes bfloat16 to cuDNN's fused kernel (aten::_cudnn_rnn) "
            "when torch was built with cuDNN >= 9.13 and the GPU's compute capability is 8.0 "
            "or higher" + (" (otherwise the plain per-step kernels run)." if unknown else ".")
        )
    if dtype is Dtype.FLOAT32:
        precision = switches.get("cudnn_rnn_fp32_precision", None)
        tf32 = (
            precision == "tf32"
            if precision is not None
            else switches.flag("cudnn_allow_tf32", True)
        )
        if tf32:
            notes.append(
                "float32 on cuDNN computes with TF32 tensor cores by default (10-bit mantissa): "
                "set torch.backends.cudnn.allow_tf32 = False for full float32"
            )
        else:
            notes.append("TF32 is off for cuDNN RNNs: full float32 math")
    if dtype is Dtype.FLOAT64:
        notes.append("cuDNN runs float64 without tensor cores, far slower than float32")
    shape = "packed input takes the packed overload, still cuDNN" if inp.packed else ""
    if shape:
        notes.append(shape)
    assert dtype in _CUDNN_DTYPES
    return "cudnn", (
        f"On CUDA, ATen's use_cudnn sends every {dtype.value} layer (padded or packed, with "
        "projections, dropout and both directions) to cuDNN's fused kernel (aten::_cudnn_rnn)."
    )


def _rocm(spec: LayerSpec, dtype: Dtype, plain: str, notes: list[str]) -> tuple[str, str]:
    cls = f"nn.{spec.mode.torch_class}"
    if dtype not in (Dtype.FLOAT32, Dtype.FLOAT16):
        return "native", (
            f"On ROCm, ATen's use_miopen takes float32 and float16 only: a {dtype.value} "
            f"{cls} runs {plain}."
        )
    if spec.mode is Mode.LSTM and spec.proj_size > 0:
        notes.append(f"torch warns: {PROJECTIONS_MIOPEN}")
        return "native", (
            "MIOpen's LSTM has no projections: with proj_size > 0 ATen's lstm falls back to "
            f"{plain}."
        )
    return "miopen", (
        f"On ROCm, ATen's use_miopen sends a {dtype.value} layer to MIOpen's fused kernel "
        "(aten::miopen_rnn)."
    )


def _mps(spec: LayerSpec, inp: InputSpec) -> tuple[str, str]:
    if spec.mode is Mode.LSTM and not inp.packed:
        return (
            "mps",
            "On MPS, ATen's padded lstm overload runs its own MPS kernel (aten::_lstm_mps).",
        )
    return "native", (
        f"On MPS only the padded LSTM has its own kernel: nn.{spec.mode.torch_class}"
        + (" with packed input" if inp.packed else "")
        + " runs the plain per-step kernels."
    )


def _common_notes(spec: LayerSpec, inp: InputSpec, backend: str, training: bool) -> list[str]:
    notes = []
    if not spec.mode.is_cell and spec.dropout > 0 and spec.num_layers > 1:
        if not training:
            notes.append("dropout is off in eval mode: the verified pass does not apply it")
        elif backend == "cudnn":
            notes.append("in training mode cuDNN applies the dropout between layers itself")
        else:
            notes.append("in training mode aten::dropout runs between the layers")
    if inp.unbatched and not spec.mode.is_cell:
        notes.append("unbatched input runs as a batch of one (the module adds the batch dimension)")
    return notes


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """The first processor's feature flags from /proc/cpuinfo (None where unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for _, line in zip(range(200), f, strict=False):  # the first processor's block
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def _cpu_passes_bf16() -> bool | None:
    flags = cpu_flags()
    if flags is None:
        return None
    avx512 = {"avx512bw", "avx512vl", "avx512dq"} <= flags
    return avx512 or "avx_ne_convert" in flags or "bf16" in flags  # "bf16": aarch64


def _cpu_passes_fp16() -> bool | None:
    flags = cpu_flags()
    if flags is None:
        return None
    return "avx512_fp16" in flags or "avx_ne_convert" in flags
