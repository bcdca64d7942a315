"""Cost and memory: the matrix-multiply count against torch's FLOP counter, the rest by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import rnnshape
from rnnshape.cli import app
from rnnshape.family import Dtype, make_input, make_spec
from rnnshape.formulas import cost, memory
from tests.measured import computed
from tests.test_formulas_vs_torch import Case, build, cases, handmade_input


def counted_flops(module: nn.Module, x: Any) -> int:
    # oneDNN's fused LSTM (aten.mkldnn_rnn_layer) is invisible to the counter: turn it off.
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            module(x)
    return int(counter.get_total_flops())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_matrix_multiplies_match_torchs_flop_counter(case: Case) -> None:
    module = build(case.spec)
    assert counted_flops(module, handmade_input(case)) == 2 * cost(case.spec, case.inp).macs


@settings(max_examples=100, deadline=None)
@given(cases())
def test_cost_is_consistent(case: Case) -> None:
    c = cost(case.spec, case.inp)
    assert c.flops == 2 * c.macs + c.elementwise_flops
    assert c.macs == c.input_projection_macs + c.recurrent_projection_macs + \
        c.output_projection_macs
    assert (c.output_projection_macs == 0) == (case.spec.proj_size == 0)


def test_hand_derived_lstm_10_20_2() -> None:
    """nn.LSTM(10, 20, 2) on (5, 3, 10): 15 row-steps; per step 4H·H_in + 4H·H per layer."""
    spec = make_spec("lstm", 10, 20, 2)
    c = cost(spec, make_input(spec, seq=5, batch=3))
    steps, h = 15, 20
    assert c.input_projection_macs == steps * (4 * h * 10 + 4 * h * h)
    assert c.recurrent_projection_macs == steps * 2 * (4 * h * h)
    assert c.output_projection_macs == 0
    # Per unit: 4 gate sums + 4 activations + 3 for c_t + 2 for h_t, and 8 bias adds.
    assert c.elementwise_flops == steps * 2 * h * (4 + 4 + 3 + 2 + 8)


def test_hand_derived_gru_and_rnn_elementwise() -> None:
    gru = make_spec("gru", 4, 6, bias=False)
    # r, z: sum + sigmoid; n: multiply by r, add, tanh; h' = (1 - z) n + z h: 4.
    assert cost(gru, make_input(gru, seq=2, batch=1)).elementwise_flops == 2 * 6 * (2 + 2 + 3 + 4)
    rnn = make_spec("rnn", 4, 6)
    # one sum, one activation, two bias adds
    assert cost(rnn, make_input(rnn, seq=2, batch=1)).elementwise_flops == 2 * 6 * (1 + 1 + 2)


def test_packed_input_costs_only_real_steps_in_every_term() -> None:
    spec = make_spec("lstm", 10, 20, 2, proj_size=5, bidirectional=True)
    packed = cost(spec, make_input(spec, lengths=[5, 3, 2]))
    padded = cost(spec, make_input(spec, seq=5, batch=3))
    # 10 real steps instead of 15 padded ones: every term scales by 10/15.
    for term in ("input_projection_macs", "recurrent_projection_macs",
                 "output_projection_macs", "elementwise_flops"):
        assert getattr(packed, term) * 15 == getattr(padded, term) * 10, term


def test_cell_is_one_step_over_n_rows() -> None:
    spec = make_spec("lstm-cell", 10, 20)
    batched = cost(spec, make_input(spec, batch=7))
    single = cost(spec, make_input(spec, unbatched=True))
    assert batched.macs == 7 * single.macs == 7 * (80 * 10 + 80 * 20)


def test_huge_counts_stay_exact_integers() -> None:
    spec = make_spec("lstm", 100000, 100000, 10)
    c = cost(spec, make_input(spec, seq=10**6, batch=10**3))
    expected_macs = 10**9 * 10 * (4 * 10**5 * 10**5 * 2)
    assert c.macs == expected_macs and isinstance(c.flops, int)
    doc = json.loads(CliRunner().invoke(app, [
        "lstm", "100000", "100000", "10", "--seq", "1000000", "--batch", "1000", "--dry-run",
        "--json"]).stdout)
    assert doc["cost"]["macs"] == expected_macs
    assert doc["cost"]["flops"] == 2 * expected_macs + doc["cost"]["terms"]["elementwise"]["flops"]


def test_cost_is_identical_under_dry_run() -> None:
    run = rnnshape.inspect("gru", 10, 20, 2, lengths=[4, 2], bidirectional=True).to_dict()
    dry = rnnshape.inspect("gru", 10, 20, 2, lengths=[4, 2], bidirectional=True,
                           run=False).to_dict()
    assert run["cost"] == dry["cost"]
    assert computed(run)["memory"] == computed(dry)["memory"]


@pytest.mark.parametrize("dtype", list(Dtype))
def test_memory_bytes_match_the_real_tensors(dtype: Dtype) -> None:
    spec = make_spec("lstm", 10, 20, 2, proj_size=8, bidirectional=True)
    inp = make_input(spec, lengths=[5, 3, 2])
    mem = memory(spec, inp, dtype)
    tdtype = getattr(torch, dtype.value)
    module = nn.LSTM(10, 20, 2, proj_size=8, bidirectional=True, dtype=tdtype)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 3, 10, dtype=tdtype),
                                               torch.tensor([5, 3, 2]))
    with torch.no_grad():
        out, (h_n, c_n) = module(packed)

    def nbytes(t: torch.Tensor) -> int:
        return t.numel() * t.element_size()

    assert mem.parameter_bytes == sum(nbytes(p) for p in module.parameters())
    assert mem.input_bytes == nbytes(packed.data)
    assert mem.output_bytes == nbytes(out.data)
    assert mem.state_bytes == 2 * (nbytes(h_n) + nbytes(c_n))  # h_0, c_0 in; h_n, c_n out


def test_training_activation_formula_by_hand() -> None:
    """LSTM, one layer, no projection: per row-step the layer input (H_in) plus
    4H gates + c_t + tanh(c_t) + h_t (6H + H_out = 7H) per direction."""
    spec = make_spec("lstm", 10, 20)
    mem = memory(spec, make_input(spec, seq=5, batch=3), Dtype.FLOAT32)
    assert mem.training_activation_bytes == 4 * 15 * (10 + 7 * 20)
