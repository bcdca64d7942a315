"""The kernel torch runs: the prediction from torch's rules (explain.kernel) against what the
dispatcher recorded (torchrun.backend), on every CPU case this machine can run."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rnnshape.explain import explain
from rnnshape.explain.kernel import (
    BACKENDS,
    COMPACTED_WEIGHTS,
    COMPACTED_WEIGHTS_EXPLANATION,
    KERNEL_WARNING_EXPLANATIONS,
    PROJECTIONS_ONEDNN,
    KernelChoice,
    cpu_flags,
    predict_backend,
    warning_explanation,
)
from rnnshape.family import Dtype, InputSpec, LayerSpec, make_input, make_spec
from rnnshape.formulas import tensor_shapes
from rnnshape.torchrun.backend import backend_facts, backend_of, observe_backend

DTYPES = ["float32", "float64", "bfloat16", "float16"]
MODES = ["rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell"]


def kernel_call(
    spec: LayerSpec, inp: InputSpec, dtype: str, device: str, training: bool
) -> Callable[[], None]:
    """One short pass of the built module as a run makes it: inference mode in eval, or
    forward+backward in training mode."""
    tdtype = getattr(torch, dtype)
    torch.manual_seed(0)
    cls = getattr(torch.nn, spec.mode.torch_class)
    module = cls(**spec.torch_kwargs()).to(device=device, dtype=tdtype)  # .to flattens
    shapes = {t.name: t.shape for t in tensor_shapes(spec, inp)}
    if inp.lengths is not None:
        longest, count = max(inp.lengths), len(inp.lengths)
        dims = (count, longest) if spec.batch_first else (longest, count)
        x: Any = torch.nn.utils.rnn.pack_padded_sequence(
            torch.randn(*dims, spec.input_size, dtype=tdtype, device=device),
            torch.tensor(inp.lengths),
            batch_first=spec.batch_first,
            enforce_sorted=False,
        )
    else:
        x = torch.randn(shapes["input"], dtype=tdtype, device=device)

    def call() -> None:
        if not training:
            module.eval()
            with torch.inference_mode():
                module(x)
            return
        module.train()
        out = module(x)
        first = out if spec.mode.is_cell and not isinstance(out, tuple) else out[0]
        data = first.data if hasattr(first, "batch_sizes") else first
        data.float().sum().backward()

    return call


@contextmanager
def quiet() -> Iterator[None]:
    """torch's warnings (projections, TF32 flags) are not what these tests look at."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def observed_and_predicted(
    spec: LayerSpec,
    inp: InputSpec,
    dtype: str,
    *,
    device: str = "cpu",
    training: bool = False,
    switches: Any = None,
) -> tuple[str, KernelChoice, KernelChoice]:
    """What ran, what the rules say with torch's switches, and what they say without torch."""
    with quiet(), switches if switches is not None else nullcontext():
        call = kernel_call(spec, inp, dtype, device, training)
        facts = backend_facts(torch, device)
        observed = observe_backend(torch, call)
    kw: dict[str, Any] = {"device_kind": device, "dtype": dtype, "training": training}
    return observed, predict_backend(spec, inp, facts=facts, **kw), predict_backend(spec, inp, **kw)


def layer(mode: str, **kw: Any) -> tuple[LayerSpec, InputSpec]:
    lengths = kw.pop("lengths", None)
    unbatched = kw.pop("unbatched", None)
    spec = make_spec(mode, 4, 6, **kw)
    if spec.mode.is_cell:
        return spec, make_input(spec, batch=None if unbatched else 3, unbatched=unbatched)
    if lengths is not None:
        return spec, make_input(spec, lengths=lengths)
    return spec, make_input(spec, seq=2, batch=None if unbatched else 3, unbatched=unbatched)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_prediction_is_what_ran_for_every_mode_and_dtype(
    mode: str, dtype: str, training: bool
) -> None:
    observed, with_facts, dry = observed_and_predicted(*layer(mode), dtype, training=training)
    assert with_facts.backend == observed, with_facts.rule
    assert dry.backend == observed, dry.rule  # /proc/cpuinfo tells what torch's checks do
    assert not with_facts.predicted and dry.predicted


CASES: dict[str, tuple[str, dict[str, Any], str, bool]] = {
    "lstm_proj_eval": ("lstm", {"proj_size": 3}, "float32", False),
    "lstm_proj_train": ("lstm", {"proj_size": 3}, "float32", True),
    "lstm_proj_bf16": ("lstm", {"proj_size": 3}, "bfloat16", False),
    "lstm_bidirectional": ("lstm", {"bidirectional": True, "num_layers": 2}, "float32", False),
    "gru_bidirectional": ("gru", {"bidirectional": True}, "float32", True),
    "lstm_dropout_train": ("lstm", {"num_layers": 2, "dropout": 0.5}, "float32", True),
    "lstm_dropout_eval": ("lstm", {"num_layers": 2, "dropout": 0.5}, "float32", False),
    "lstm_batch_first_no_bias": ("lstm", {"batch_first": True, "bias": False}, "float32", True),
    "lstm_packed_eval": ("lstm", {"lengths": [2, 1, 1]}, "float32", False),
    "lstm_packed_train": ("lstm", {"lengths": [2, 1, 1], "bidirectional": True}, "float32", True),
    "lstm_packed_bf16": ("lstm", {"lengths": [3, 1]}, "bfloat16", False),
    "gru_packed": ("gru", {"lengths": [2, 1, 1]}, "float32", False),
    "rnn_packed_relu": ("rnn", {"lengths": [2, 2], "nonlinearity": "relu"}, "float64", True),
    "lstm_unbatched": ("lstm", {"unbatched": True}, "float32", False),
    "lstm_unbatched_fp16": ("lstm", {"unbatched": True}, "float16", False),
    "gru_unbatched": ("gru", {"unbatched": True}, "float32", False),
    "lstm_cell_unbatched": ("lstm-cell", {"unbatched": True}, "float32", True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_prediction_is_what_ran(name: str) -> None:
    mode, kw, dtype, training = CASES[name]
    observed, with_facts, dry = observed_and_predicted(*layer(mode, **kw), dtype, training=training)
    assert with_facts.backend == observed, with_facts.rule
    assert dry.backend == observed, dry.rule


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_mkldnn_disabled_runs_the_plain_kernels(dtype: str, training: bool) -> None:
    observed, with_facts, _ = observed_and_predicted(
        *layer("lstm"),
        dtype,
        training=training,
        switches=torch.backends.mkldnn.flags(enabled=False),
    )
    assert observed == with_facts.backend == "native"
    assert "torch.backends.mkldnn.enabled is False" in with_facts.rule


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from(["rnn", "lstm", "gru"]),
    dtype=st.sampled_from(DTYPES),
    training=st.booleans(),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    proj=st.booleans(),
    dropout=st.sampled_from([0.0, 0.5]),
    batch_first=st.booleans(),
    packed=st.booleans(),
)
def test_prediction_is_what_ran_for_any_layer(
    mode: str, dtype: str, training: bool, layers: int, bidirectional: bool, proj: bool,
    dropout: float, batch_first: bool, packed: bool,
) -> None:
    kw: dict[str, Any] = {
        "num_layers": layers, "bidirectional": bidirectional, "dropout": dropout,
        "batch_first": batch_first,
    }
    if mode == "lstm" and proj:
        kw["proj_size"] = 2
    if packed:
        kw["lengths"] = [3, 1, 2]
    observed, with_facts, dry = observed_and_predicted(*layer(mode, **kw), dtype, training=training)
    assert with_facts.backend == observed == dry.backend, with_facts.rule


def test_the_observer_names_each_kernel_by_its_aten_op() -> None:
    assert backend_of({"aten::lstm", "aten::_cudnn_rnn"}) == "cudnn"
    assert backend_of({"aten::_cudnn_rnn_backward"}) == "cudnn"
    assert backend_of({"aten::lstm", "aten::mkldnn_rnn_layer"}) == "onednn"
    assert backend_of({"aten::mkldnn_rnn_layer_backward"}) == "onednn"
    assert backend_of({"aten::miopen_rnn"}) == "miopen"
    assert backend_of({"aten::_lstm_mps"}) == "mps"
    assert backend_of({"aten::lstm_cell", "aten::addmm", "aten::sigmoid_"}) == "native"
    assert backend_of({"aten::_thnn_fused_lstm_cell", "aten::mm"}) == "native"
    assert backend_of(set()) == "native"


def test_the_observer_sees_the_backward_kernel() -> None:
    """A forward+backward call records oneDNN's backward op as well as its forward."""
    from rnnshape.torchrun.backend import recorded_ops

    spec, inp = layer("lstm")
    with quiet():
        names = recorded_ops(torch, kernel_call(spec, inp, "float32", "cpu", training=True))
    assert {"aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward"} <= names


def test_facts_are_plain_json_values() -> None:
    facts = backend_facts(torch, "cpu")
    assert json.loads(json.dumps(facts)) == facts
    assert facts["mkldnn_enabled"] is torch.backends.mkldnn.enabled
    assert facts["cudnn_version"] is None and facts["cuda_capability"] is None
    with quiet(), torch.backends.mkldnn.flags(enabled=False):
        assert backend_facts(torch, "cpu")["mkldnn_enabled"] is False


def cuda_facts(**switches: object) -> dict[str, object]:
    facts: dict[str, object] = {
        "cudnn_available": True, "cudnn_enabled": True, "cudnn_version": 91900,
        "cuda_capability": [9, 0], "cudnn_allow_tf32": True, "cudnn_rnn_fp32_precision": "tf32",
        "hip": None,
    }
    return {**facts, **switches}


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_rules(mode: str, dtype: str) -> None:
    """ATen's use_cudnn: every dtype on cuDNN 9.19 and an H200; cells and a disabled cuDNN run
    the plain kernels; bf16 needs cuDNN >= 9.13 and compute capability 8."""
    spec, inp = layer(mode, lengths=[2, 1])
    assert predict_backend(spec, inp, device_kind="cuda:0", dtype=dtype).backend == "cudnn"
    assert predict_backend(spec, inp, device_kind="cuda", dtype=dtype, facts=cuda_facts()).backend \
        == "cudnn"
    off = predict_backend(
        spec, inp, device_kind="cuda", dtype=dtype, facts=cuda_facts(cudnn_enabled=False)
    )
    assert off.backend == "native" and "cudnn.enabled is False" in off.rule
    old = predict_backend(
        spec, inp, device_kind="cuda", dtype=dtype, facts=cuda_facts(cudnn_version=91200)
    )
    assert old.backend == ("native" if dtype == "bfloat16" else "cudnn")
    turing = predict_backend(
        spec, inp, device_kind="cuda", dtype=dtype, facts=cuda_facts(cuda_capability=[7, 5])
    )
    assert turing.backend == ("native" if dtype == "bfloat16" else "cudnn")
    cell_spec, cell_inp = layer(f"{mode}-cell")
    assert predict_backend(cell_spec, cell_inp, device_kind="cuda", dtype=dtype).backend == "native"


def test_cuda_notes_say_what_costs() -> None:
    spec, inp = layer("lstm", num_layers=2, dropout=0.5)
    bf16 = predict_backend(spec, inp, device_kind="cuda", dtype="bfloat16", facts=cuda_facts())
    assert any(COMPACTED_WEIGHTS in note for note in bf16.notes)
    fp32 = predict_backend(spec, inp, device_kind="cuda", dtype="float32", facts=cuda_facts())
    assert any("TF32" in note for note in fp32.notes)
    exact = predict_backend(
        spec, inp, device_kind="cuda", dtype="float32",
        facts=cuda_facts(cudnn_rnn_fp32_precision="ieee", cudnn_allow_tf32=False),
    )
    assert not any("TF32 tensor cores" in note for note in exact.notes)
    fp64 = predict_backend(spec, inp, device_kind="cuda", dtype="float64", facts=cuda_facts())
    assert any("tensor cores" in note for note in fp64.notes)
    train = predict_backend(spec, inp, device_kind="cuda", training=True, facts=cuda_facts())
    assert any("cuDNN applies the dropout" in note for note in train.notes)


def test_rocm_rules() -> None:
    spec, inp = layer("lstm")
    rocm = cuda_facts(hip="6.4", cudnn_version=3004000)
    assert predict_backend(spec, inp, device_kind="cuda", facts=rocm).backend == "miopen"
    for dtype in ("float64", "bfloat16"):
        assert predict_backend(spec, inp, device_kind="cuda", dtype=dtype, facts=rocm).backend \
            == "native"
    proj, proj_inp = layer("lstm", proj_size=2)
    assert predict_backend(proj, proj_inp, device_kind="cuda", facts=rocm).backend == "native"


def test_mps_has_its_own_lstm_only() -> None:
    spec, inp = layer("lstm")
    assert predict_backend(spec, inp, device_kind="mps").backend == "mps"
    assert predict_backend(*layer("lstm", lengths=[2, 1]), device_kind="mps").backend == "native"
    assert predict_backend(*layer("gru"), device_kind="mps").backend == "native"


def test_every_backend_is_one_the_schema_allows() -> None:
    from importlib import resources

    schema = json.loads(
        resources.files("rnnshape.schemas").joinpath("report-v1.schema.json").read_text()
    )
    kernel = schema["$defs"]["explain"]["properties"]["kernel"]
    assert kernel["properties"]["backend"]["enum"] == list(BACKENDS)


def test_cpu_prediction_without_torch_reads_the_cpu_flags() -> None:
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo on this system: the prediction assumes the checks pass")
    flags = cpu_flags()
    assert flags  # the first processor's flags (x86) or Features (arm)
    spec, inp = layer("lstm")
    bf16 = predict_backend(spec, inp, dtype=Dtype.BFLOAT16)
    assert bf16.predicted and any("/proc/cpuinfo" in note for note in bf16.notes)
    assert bf16.backend == ("onednn" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "native")


PROJECTION_WARNING = """
import warnings, torch
m = torch.nn.LSTM(4, 6, proj_size=2)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with torch.inference_mode():
        m(torch.randn(2, 3, 4))
print("\\n".join(str(w.message) for w in caught))
"""


def test_torchs_projection_warning_has_an_explanation() -> None:
    """The warning text torch really prints (once a process: a fresh one) is the fragment the
    explanation is keyed by."""
    out = subprocess.run(
        [sys.executable, "-c", PROJECTION_WARNING], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert PROJECTIONS_ONEDNN in out.stdout
    why = warning_explanation(out.stdout)
    assert why == KERNEL_WARNING_EXPLANATIONS[PROJECTIONS_ONEDNN]
    assert warning_explanation("RNN module weights are " + COMPACTED_WEIGHTS + ". This means")\
        == COMPACTED_WEIGHTS_EXPLANATION
    assert warning_explanation("something else") is None


def test_explanation_carries_the_kernel_and_its_json() -> None:
    spec, inp = layer("lstm", proj_size=3)
    kernel = explain(spec, inp, device="cpu", dtype="float32").kernel
    assert kernel is not None and kernel.backend == "native"
    assert explain(spec, inp).to_dict()["kernel"] == {
        "backend": "native", "rule": kernel.rule, "notes": list(kernel.notes), "predicted": True,
    }
    facts = backend_facts(torch, "cpu")
    real = explain(spec, inp, facts=facts).kernel
    assert real is not None and not real.predicted


def test_dry_run_explain_states_the_prediction() -> None:
    from rnnshape.cli import app

    result = CliRunner().invoke(app, ["lstm", "10", "20", "--dry-run", "--explain", "--json"])
    assert result.exit_code == 0, result.output
    kernel = json.loads(result.stdout)["explain"]["kernel"]
    assert kernel["backend"] == "onednn" and kernel["predicted"] is True
    table = CliRunner().invoke(app, ["gru", "10", "20", "--dry-run", "--explain"])
    assert table.exit_code == 0, table.output
    assert "Kernel (predicted): native" in table.stdout
    assert "no oneDNN branch" in table.stdout


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(
    ("mode", "kw"),
    [("lstm", {}), ("lstm", {"proj_size": 2}), ("lstm", {"lengths": [2, 1]}), ("gru", {}),
     ("lstm-cell", {})],
)
def test_the_observer_works_inside_the_callers_profiler(
    mode: str, kw: dict[str, Any], training: bool
) -> None:
    """Profilers do not nest: under the caller's own, a dispatch mode sees the same kernel."""
    from torch.autograd.profiler_legacy import profile

    spec, inp = layer(mode, **kw)
    with quiet():
        call = kernel_call(spec, inp, "float32", "cpu", training)
        alone = observe_backend(torch, call)
        with profile():
            inside = observe_backend(torch, call)
    assert inside == alone == predict_backend(spec, inp, training=training).backend
