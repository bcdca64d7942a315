"""benchmarks/flop_counters.py: its rnnshape column against FlopCounterMode, without the
optional counters (ptflops, thop, fvcore), which the script imports only when it runs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "flop_counters.py"


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("flop_counters_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_cases_cover_the_brief(script: ModuleType) -> None:
    layers = {(case.layer, case.input) for case in script.CASES}
    assert ("nn.LSTM(10, 20, 2)", "(5, 3, 10)") in layers
    assert ("nn.LSTMCell(10, 20)", "(3, 10)") in layers
    assert ("nn.LSTM(10, 20)", "(5, 10), unbatched") in layers
    assert ("nn.GRU(10, 20)", "packed, lengths 5, 3, 2") in layers
    assert ("nn.LSTM(256, 512, 2)", "(100, 32, 256)") in layers


def test_rnnshape_column_is_half_of_flop_counter_mode_without_onednn(
    script: ModuleType,
) -> None:
    for case in script.CASES:
        if case.large:
            continue
        macs, flops = script.rnnshape_cost(case)
        assert script.flop_counter_mode(case, mkldnn=False) == 2 * macs, case.layer
        assert flops > 2 * macs, case.layer  # plus the element-wise work


def test_onednn_hides_the_float32_lstm_from_flop_counter_mode(script: ModuleType) -> None:
    import torch

    if not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this torch build")
    lstm = script.CASES[0]
    assert lstm.layer == "nn.LSTM(10, 20, 2)"
    assert script.flop_counter_mode(lstm, mkldnn=True) == 0
    projected = next(case for case in script.CASES if "proj_size" in case.layer)
    macs, _ = script.rnnshape_cost(projected)
    assert script.flop_counter_mode(projected, mkldnn=True) == 2 * macs


def test_verdicts(script: ModuleType) -> None:
    assert script.verdict(84_000, 84_000) == "= MACs"
    assert script.verdict(168_000, 84_000) == "= 2·MACs"
    assert script.verdict(0, 84_000) == "skipped"
    assert script.verdict(93_600, 84_000) == "×1.11"
    assert script.verdict(18_960, 84_000) == "×0.226"
    # Close to 1 but not equal: never rounded to "×1".
    assert script.verdict(11_796_480_000, 11_744_051_200) == "×1.004"
    cell = script.Cell(None, "crashes: AttributeError")
    assert cell.render(1) == "crashes: AttributeError"
    assert script.Cell(0, "unsupported aten::lstm").render(5) == (
        "0 (skipped; unsupported aten::lstm)"
    )
