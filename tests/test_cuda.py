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
    assert report.warnings == ()


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
