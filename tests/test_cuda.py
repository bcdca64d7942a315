"""CUDA runs: executed where a GPU is present, skipped with a reason elsewhere."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import rnnshape

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru", "lstm-cell"])
def test_cuda_run_matches_torch(mode: str, dtype: str) -> None:
    report = rnnshape.inspect(mode, 10, 20, device="cuda", dtype=dtype)
    assert report.device.startswith("cuda")
    assert {row.device for row in report.tensors} == {report.device}
    # bfloat16 on cuDNN: torch compacts the weights every call and says so, as one line
    # with the Kernel section's explanation; nothing else.
    for line in report.warnings:
        assert dtype == "bfloat16" and "not part of single contiguous chunk" in line, line
        assert "flatten_parameters() skips bfloat16" in line and "\n" not in line


def test_cuda_projection_packed_bidirectional() -> None:
    report = rnnshape.inspect("lstm", 10, 20, 2, proj_size=8, bidirectional=True,
                              lengths=[5, 3, 2], device="cuda")
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 3, 10), torch.tensor([5, 3, 2]))
    assert report.tensor("input").tensor.batch_sizes == tuple(packed.batch_sizes.tolist())


def test_cuda_module_weights_are_one_flat_buffer() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = rnnshape.inspect("lstm", 64, 64, 2, device="cuda")
    assert report.warnings == ()


# The kernel: the prediction from torch's rules (explain.kernel) against what ran on the GPU.

CUDA_DTYPES = ["float32", "float16", "bfloat16", "float64"]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell"])
def test_cuda_kernel_prediction_is_what_ran(mode: str, dtype: str, training: bool) -> None:
    from tests.test_kernel import layer, observed_and_predicted

    observed, predicted, _ = observed_and_predicted(
        *layer(mode), dtype, device="cuda", training=training
    )
    assert predicted.backend == observed, predicted.rule


CUDA_KERNEL_CASES: dict[str, tuple[str, dict[str, object], str, bool]] = {
    "lstm_proj": ("lstm", {"proj_size": 3, "num_layers": 2}, "float32", False),
    "lstm_proj_bf16_train": ("lstm", {"proj_size": 3}, "bfloat16", True),
    "lstm_packed": ("lstm", {"lengths": [2, 1, 1], "bidirectional": True}, "float32", False),
    "gru_packed_train": ("gru", {"lengths": [3, 1]}, "float16", True),
    "lstm_dropout_train": ("lstm", {"num_layers": 2, "dropout": 0.5}, "float32", True),
    "lstm_double_bidirectional": ("lstm", {"bidirectional": True}, "float64", True),
    "gru_unbatched": ("gru", {"unbatched": True}, "bfloat16", False),
}


@pytest.mark.parametrize("name", sorted(CUDA_KERNEL_CASES))
def test_cuda_kernel_prediction_is_what_ran_for_each_case(name: str) -> None:
    from tests.test_kernel import layer, observed_and_predicted

    mode, kw, dtype, training = CUDA_KERNEL_CASES[name]
    observed, predicted, _ = observed_and_predicted(
        *layer(mode, **kw), dtype, device="cuda", training=training
    )
    assert predicted.backend == observed, predicted.rule


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_cuda_kernel_with_cudnn_disabled(mode: str) -> None:
    from tests.test_kernel import layer, observed_and_predicted

    observed, predicted, _ = observed_and_predicted(
        *layer(mode), "float32", device="cuda", switches=torch.backends.cudnn.flags(enabled=False)
    )
    assert observed == predicted.backend == "native"


def test_cuda_bf16_weights_warning_is_the_explained_one() -> None:
    """bf16 cuDNN runs on weights Python's flatten_parameters() left apart: ATen warns, and
    the warning is the one the Kernel section explains."""
    from rnnshape.explain.kernel import COMPACTED_WEIGHTS, warning_explanation
    from rnnshape.torchrun.backend import backend_facts
    from tests.test_kernel import kernel_call, layer

    version = backend_facts(torch, "cuda")["cudnn_version"]
    if isinstance(version, int) and version < 91300:
        pytest.skip("cuDNN < 9.13 does not take bfloat16 RNNs: no compaction to warn about")
    spec, inp = layer("lstm")
    call = kernel_call(spec, inp, "bfloat16", "cuda", training=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    texts = [str(w.message) for w in caught]
    assert any(COMPACTED_WEIGHTS in text for text in texts), texts
    assert all(warning_explanation(t) for t in texts if COMPACTED_WEIGHTS in t)


# --- issue 14: the time guard, the kernel and the peak, measured on the GPU ------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_estimate_backend_and_peak(dtype: str) -> None:
    from rnnshape.explain.kernel import predict_backend

    report = rnnshape.inspect(
        "lstm", 512, 512, 2, seq=400, batch=32, device="cuda", dtype=dtype, bench=10,
        max_seconds=None,
    )
    run = report.run
    assert run is not None and run.backend is not None
    if run.estimated_seconds is not None:
        assert 0.25 < run.estimated_seconds / run.measured_seconds < 4, run
    assert report.bench is not None and report.bench.cudnn is (run.backend == "cudnn")
    predicted = predict_backend(
        report.spec, report.input, device_kind="cuda", dtype=dtype, training=False,
        facts=None,
    )
    assert predicted.backend == run.backend
    peak = report.memory.measured_peak_bytes
    assert peak is not None
    assert 0.5 <= peak / report.memory.peak_bytes <= 1.5, (peak, report.memory.peak_bytes)
