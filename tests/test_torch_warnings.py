"""Every torch warning of a run becomes one clean line in ``report.warnings`` (issue 14, 3):
nothing escapes to the caller's warning filters, at any stage (build, probe, forward, bench,
backward), and no line keeps ATen's ``Triggered internally at`` tail or a source echo."""

from __future__ import annotations

import warnings

import pytest

from rnnshape.family import RunOptions, make_input, make_spec
from rnnshape.pipeline import run_report
from rnnshape.torchrun.device import warning_line

CASES = [
    ("lstm", {"proj_size": 3}, {}, {}),  # torch warns: oneDNN has no projection
    ("lstm", {"dropout": 0.5}, {}, {"bench": 2, "backward": True}),  # one layer: spec warns
    ("gru", {"num_layers": 2, "dropout": 0.3}, {"lengths": [4, 2]}, {"bench": 2}),
    ("rnn", {"nonlinearity": "relu"}, {"seq": 4000}, {}),  # long enough to be probed
    ("lstm", {}, {}, {"dtype": "bfloat16"}),
    ("gru-cell", {}, {"unbatched": True}, {"dtype": "float64", "bench": 2, "backward": True}),
]


@pytest.mark.parametrize(("mode", "layer", "inputs", "run"), CASES)
def test_no_torch_warning_escapes_a_run(
    mode: str, layer: dict[str, object], inputs: dict[str, object], run: dict[str, object]
) -> None:
    pytest.importorskip("torch")
    spec = make_spec(mode, 6, 8, **layer)  # type: ignore[arg-type]
    inp = make_input(spec, **inputs)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning reaching the caller fails the test
        report = run_report(spec, inp, RunOptions(max_seconds=None, **run))  # type: ignore[arg-type]
    for line in report.warnings:
        assert "\n" not in line and "Triggered internally" not in line, line


def test_a_warning_is_one_line_with_the_kernels_explanation() -> None:
    raw = (
        "RNN module weights are not part of single contiguous chunk of memory. This means "
        "they need to be compacted at every call, possibly greatly increasing memory usage.\n"
        "To compact weights again call flatten_parameters(). (Triggered internally at "
        "/pytorch/aten/src/ATen/native/cudnn/RNN.cpp:1479.)"
    )
    line = warning_line(raw)
    assert line is not None and line.startswith("torch: RNN module weights are not part")
    assert "\n" not in line and "Triggered internally" not in line
    assert "flatten_parameters" in line  # torch's own advice stays
    assert line.endswith(")") and "bfloat16" in line  # the Kernel section's explanation
    assert warning_line("A NumPy version >=1.22 is required: numpy") is None  # noise
