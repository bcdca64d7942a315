"""--explain: gate blocks, equations and the unrolled diagram, checked against torch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from typing import Any

import jsonschema
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from torch import nn

import rnnshape
from rnnshape.explain import Explanation, GateBlock, explain
from rnnshape.family import InputSpec, LayerSpec, make_input, make_spec
from rnnshape.render.explain import render_explain

TORCH_CLASS = {
    "rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU,
    "rnn-cell": nn.RNNCell, "lstm-cell": nn.LSTMCell, "gru-cell": nn.GRUCell,
}

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("rnn", {"num_layers": 3, "nonlinearity": "relu"}),
    ("rnn", {"bidirectional": True, "bias": False}),
    ("lstm", {"num_layers": 2}),
    ("lstm", {"num_layers": 3, "bidirectional": True, "proj_size": 7}),
    ("lstm", {"bias": False, "proj_size": 3}),
    ("gru", {"num_layers": 2, "bidirectional": True}),
    ("gru", {"bias": False}),
    ("rnn-cell", {"nonlinearity": "relu"}),
    ("lstm-cell", {}),
    ("lstm-cell", {"bias": False}),
    ("gru-cell", {}),
]


def build(mode: str, **kw: Any) -> tuple[LayerSpec, InputSpec]:
    inputs = {k: kw.pop(k) for k in ("seq", "batch", "unbatched", "lengths") if k in kw}
    spec = make_spec(mode, 10, 20, **kw)
    return spec, make_input(spec, **inputs)


def blocks_of(expl: Explanation, parameter: str) -> list[GateBlock]:
    return sorted((g for g in expl.gates if g.parameter == parameter), key=lambda g: g.rows)


@pytest.mark.parametrize(("mode", "kw"), CONFIGS)
def test_gate_blocks_tile_every_torch_parameter(mode: str, kw: dict[str, Any]) -> None:
    spec, inp = build(mode, **kw)
    expl = explain(spec, inp)
    module = TORCH_CLASS[mode](10, 20, **kw)
    torch_shapes = {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert {g.parameter for g in expl.gates} == set(torch_shapes)
    gates_per_block = {"rnn": 1, "lstm": 4, "gru": 3}[spec.mode.family.recurrence.name]
    for name, shape in torch_shapes.items():
        blocks = blocks_of(expl, name)
        assert len(blocks) == (1 if name.startswith("weight_hr") else gates_per_block)
        start = 0
        for block in blocks:  # contiguous, no overlap, union = every row
            assert block.rows[0] == start, (name, block)
            assert block.shape == (block.rows[1] - block.rows[0], *shape[1:])
            start = block.rows[1]
        assert start == shape[0], name


def test_gate_names_and_rows_match_the_docs_example() -> None:
    spec, inp = build("lstm", num_layers=2)
    gates = {(g.name, g.parameter): g for g in explain(spec, inp).gates}
    w_if = gates[("W_if", "weight_ih_l0")]
    assert (w_if.rows, w_if.shape, w_if.layer, w_if.direction) == ((20, 40), (20, 10), 0, "forward")
    assert w_if.to_dict() == {"name": "W_if", "gate": "f", "parameter": "weight_ih_l0",
                              "rows": [20, 40], "shape": [20, 10], "layer": 0,
                              "direction": "forward"}
    assert gates[("b_ho", "bias_hh_l1")].rows == (60, 80)
    assert gates[("b_ho", "bias_hh_l1")].shape == (20,)
    assert gates[("W_ii", "weight_ih_l1")].shape == (20, 20)  # layer 1 reads D·H_out = 20


def test_gru_reset_block_is_w_hr_and_lstm_projection_is_w_proj() -> None:
    gru = explain(*build("gru"))
    lstm = explain(*build("lstm", proj_size=5))
    gru_hr = [g for g in gru.gates if g.name == "W_hr"]
    lstm_hr = [g for g in lstm.gates if g.name == "W_proj"]
    assert [(g.parameter, g.rows, g.gate) for g in gru_hr] == [("weight_hh_l0", (0, 20), "r")]
    assert [(g.parameter, g.rows, g.shape, g.gate) for g in lstm_hr] == [
        ("weight_hr_l0", (0, 5), (5, 20), None)
    ]
    gru_note = next(e.note for e in gru.equations if e.lhs == "r_t")
    lstm_note = next(e.note for e in lstm.equations if "W_proj(" in e.rhs)
    assert "reset-gate" in gru_note and "weight_hr_l[k]" in gru_note
    assert "projection weight_hr_l[k]" in lstm_note and "GRU" in lstm_note
    assert not [g for g in lstm.gates if g.name == "W_hr"]  # one symbol, one meaning


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell"])
def test_every_symbol_names_one_kind_of_block_across_families(mode: str) -> None:
    """A gate-block symbol means the same parameter rows in every family that uses it."""
    kwargs = {"proj_size": 5} if mode == "lstm" else {}
    gates = explain(*build(mode, **kwargs)).gates
    seen = {g.name: (g.parameter.split("_l")[0], g.gate) for g in gates}
    for name, (parameter, gate) in seen.items():
        if name == "W_hr":
            assert (parameter, gate) == ("weight_hh", "r"), mode
        if name == "W_proj":
            assert (parameter, gate) == ("weight_hr", None), mode


def test_the_projection_cost_row_is_lstms_only() -> None:
    from rnnshape.render.report import render_tables

    for mode, shown in (("lstm", True), ("gru", False), ("rnn", False), ("gru-cell", False)):
        out = io.StringIO()
        report = rnnshape.inspect(mode, 4, 6, run=False)
        render_tables(report, Console(width=100, file=out, color_system=None))
        assert ("output projection" in out.getvalue()) is shown, mode
        assert "W_hr·h" not in out.getvalue()


def block(module: nn.Module, expl: Explanation, name: str, suffix: str = "") -> torch.Tensor:
    g = next(g for g in expl.gates if g.name == name and g.parameter.endswith(suffix)
             and (suffix or "_l" not in g.parameter or g.parameter.endswith("_l0")))
    param = dict(module.named_parameters())[g.parameter]
    return param[g.rows[0]:g.rows[1]]


def test_lstm_cell_gate_order_against_torch() -> None:
    torch.manual_seed(0)
    cell = nn.LSTMCell(10, 20)
    expl = explain(*build("lstm-cell", batch=3))
    x, h0, c0 = torch.randn(3, 10), torch.randn(3, 20), torch.randn(3, 20)

    def pre(gate: str) -> torch.Tensor:
        return (x @ block(cell, expl, f"W_i{gate}").T + block(cell, expl, f"b_i{gate}")
                + h0 @ block(cell, expl, f"W_h{gate}").T + block(cell, expl, f"b_h{gate}"))

    i, f, g, o = (torch.sigmoid(pre("i")), torch.sigmoid(pre("f")), torch.tanh(pre("g")),
                  torch.sigmoid(pre("o")))
    c1 = f * c0 + i * g
    h1 = o * torch.tanh(c1)
    with torch.no_grad():
        want_h, want_c = cell(x, (h0, c0))
    torch.testing.assert_close(h1.detach(), want_h)
    torch.testing.assert_close(c1.detach(), want_c)
    # The check can fail: swapping the i and f slices breaks it.
    swapped = i * c0 + f * g
    assert not torch.allclose(swapped.detach(), want_c)


def test_gru_cell_gate_order_against_torch() -> None:
    torch.manual_seed(1)
    cell = nn.GRUCell(10, 20)
    expl = explain(*build("gru-cell", batch=4))
    x, h0 = torch.randn(4, 10), torch.randn(4, 20)

    def w(name: str) -> torch.Tensor:
        return block(cell, expl, name)

    r = torch.sigmoid(x @ w("W_ir").T + w("b_ir") + h0 @ w("W_hr").T + w("b_hr"))
    z = torch.sigmoid(x @ w("W_iz").T + w("b_iz") + h0 @ w("W_hz").T + w("b_hz"))
    n = torch.tanh(x @ w("W_in").T + w("b_in") + r * (h0 @ w("W_hn").T + w("b_hn")))
    h1 = (1 - z) * n + z * h0
    with torch.no_grad():
        torch.testing.assert_close(h1.detach(), cell(x, h0))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_against_torch(nonlinearity: str) -> None:
    torch.manual_seed(2)
    cell = nn.RNNCell(10, 20, nonlinearity=nonlinearity)
    expl = explain(*build("rnn-cell", nonlinearity=nonlinearity))
    x, h0 = torch.randn(3, 10), torch.randn(3, 20)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    pre = x @ block(cell, expl, "W_ih").T + block(cell, expl, "b_ih")
    pre = pre + h0 @ block(cell, expl, "W_hh").T + block(cell, expl, "b_hh")
    with torch.no_grad():
        torch.testing.assert_close(act(pre).detach(), cell(x, h0))


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_projected_bidirectional_lstm_one_step_against_torch() -> None:
    """The reverse direction's _reverse blocks and W_proj = weight_hr_l0 as the equations say."""
    torch.manual_seed(3)
    lstm = nn.LSTM(10, 20, bidirectional=True, proj_size=5)
    expl = explain(*build("lstm", bidirectional=True, proj_size=5, seq=1, batch=2))
    x = torch.randn(1, 2, 10)
    params = dict(lstm.named_parameters())

    def step(suffix: str) -> torch.Tensor:
        def w(name: str) -> torch.Tensor:
            g = next(g for g in expl.gates if g.name == name and g.parameter.endswith(suffix)
                     and g.parameter.rsplit("_l", 1)[1] == suffix.removeprefix("_l"))
            return params[g.parameter][g.rows[0]:g.rows[1]]

        pre = {k: x[0] @ w(f"W_i{k}").T + w(f"b_i{k}") + w(f"b_h{k}") for k in "ifgo"}
        c = torch.sigmoid(pre["i"]) * torch.tanh(pre["g"])  # h_0 = c_0 = 0
        return (torch.sigmoid(pre["o"]) * torch.tanh(c)) @ w("W_proj").T

    with torch.no_grad():
        _, (h_n, _) = lstm(x)
        torch.testing.assert_close(step("_l0"), h_n[0])
        torch.testing.assert_close(step("_l0_reverse"), h_n[1])


def test_equations_name_the_right_nonlinearity_and_shapes() -> None:
    relu = explain(*build("rnn", nonlinearity="relu")).equations
    tanh = explain(*build("rnn")).equations
    assert relu[0].lhs == "h_t" and relu[0].rhs.startswith("ReLU(")
    assert tanh[0].rhs.startswith("tanh(")
    assert "tanh" not in relu[0].rhs

    lstm = explain(*build("lstm", num_layers=2)).equations
    by = {(e.lhs, e.layers): e for e in lstm}
    i0 = by[("i_t", (0, 0))]
    assert i0.rhs == "σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)"
    assert {t.symbol: t.shape for t in i0.terms} == {
        "W_ii": (20, 10), "x_t": (3, 10), "b_ii": (20,), "W_hi": (20, 20),
        "h_{t-1}": (3, 20), "b_hi": (20,)}
    assert i0.shape == (3, 20)
    assert {t.symbol: t.shape for t in by[("i_t", (1, 1))].terms}["x_t"] == (3, 20)
    assert by[("c_t", (0, 0))].rhs == "f_t ⊙ c_{t-1} + i_t ⊙ g_t"
    assert by[("h_t", (0, 0))].rhs == "o_t ⊙ tanh(c_t)"
    assert [e.lhs for e in lstm if e.layers == (0, 0)] == ["i_t", "f_t", "g_t", "o_t", "c_t",
                                                            "h_t"]

    proj = {e.lhs: e for e in explain(*build("lstm", proj_size=5, unbatched=True)).equations}
    assert proj["h_t"].rhs == "W_proj(o_t ⊙ tanh(c_t))"
    assert proj["h_t"].shape == (5,)  # unbatched: no N
    assert {t.symbol: t.shape for t in proj["h_t"].terms}["W_proj"] == (5, 20)
    assert {t.symbol: t.shape for t in proj["i_t"].terms}["h_{t-1}"] == (5,)

    gru = {e.lhs: e for e in explain(*build("gru", bias=False)).equations}
    assert gru["n_t"].rhs == "tanh(W_in x_t + r_t ⊙ (W_hn h_{t-1}))"
    assert gru["h_t"].rhs == "(1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}"

    cell = {e.lhs: e for e in explain(*build("lstm-cell", unbatched=True)).equations}
    assert set(cell) == {"i", "f", "g", "o", "c_1", "h_1"}
    assert cell["c_1"].rhs == "f ⊙ c_0 + i ⊙ g" and cell["c_1"].shape == (20,)
    assert cell["c_1"].layers is None


def test_bidirectional_layer_input_is_d_times_h_out_wide() -> None:
    expl = explain(*build("gru", num_layers=3, bidirectional=True, dropout=0.25))
    x_eq = next(e for e in expl.equations if e.lhs == "x_t")
    assert x_eq.shape == (3, 40) and x_eq.layers == (1, 2) and "δ" in x_eq.rhs
    d = expl.diagram
    ids = {n.id for n in d.nodes}
    assert all(e.source in ids and e.target in ids for e in d.edges)
    into_l1 = [e for e in d.edges if e.target == "l1.forward" and e.label == "x_t"]
    assert [e.shape for e in into_l1] == [(3, 40)]
    assert into_l1[0].source == "l0.dropout"
    assert [n.extra for n in d.nodes if n.kind == "dropout"] == [(("p", 0.25),)] * 2
    reverse = d.node("l2.reverse").to_dict()
    assert reverse["time"] == [4, 0] and reverse["steps"] == 5
    assert d.node("output").shape == (5, 3, 40)
    finals = [n.id for n in d.nodes if n.kind == "final_state"]
    assert finals == [f"h_n[{i}]" for i in range(6)]


def test_packed_input_carries_batch_sizes() -> None:
    expl = explain(*build("lstm", lengths=[4, 2, 1]))
    node = expl.diagram.node("l0.forward").to_dict()
    assert node["batch_sizes"] == [3, 2, 1, 1] and node["steps"] == 4
    assert expl.diagram.node("input").shape == (7, 10)
    assert any("batch_sizes" in n for n in expl.notes)


def test_cell_diagram_is_one_step() -> None:
    d = explain(*build("lstm-cell")).diagram.to_dict()
    edges = {(e["from"], e["to"]): e["shape"] for e in d["edges"]}  # type: ignore[index]
    assert edges == {("input", "cell"): [3, 10], ("h_0", "cell"): [3, 20],
                     ("c_0", "cell"): [3, 20], ("cell", "h_1"): [3, 20],
                     ("cell", "c_1"): [3, 20]}


def test_json_stays_small_for_long_deep_networks() -> None:
    spec = make_spec("lstm", 10, 20, 12, bidirectional=True, proj_size=5, dropout=0.1)
    text = json.dumps(explain(spec, make_input(spec, seq=1_000_000)).to_dict())
    assert len(text) < 200_000


@pytest.mark.parametrize(("mode", "kw"), [*CONFIGS, ("lstm", {"lengths": [5, 3, 2]}),
                                          ("gru-cell", {"unbatched": True})])
def test_explain_validates_against_the_report_schema(mode: str, kw: dict[str, Any]) -> None:
    inputs = {k: kw[k] for k in ("lengths", "unbatched") if k in kw}
    params = {k: v for k, v in kw.items() if k not in inputs}
    report = rnnshape.inspect(mode, 10, 20, run=False, **params, **inputs)
    document = report.to_dict()
    document["explain"] = explain(report.spec, report.input).to_dict()
    schema = json.loads(
        resources.files("rnnshape").joinpath("schemas/report-v1.schema.json").read_text()
    )
    jsonschema.validate(json.loads(json.dumps(document)), schema)
    broken = json.loads(json.dumps(document))
    broken["explain"]["gates"][0]["rows"] = "0:20"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def render(spec: LayerSpec, inp: InputSpec, width: int) -> str:
    out = io.StringIO()
    console = Console(width=width, file=out, color_system=None, soft_wrap=False)
    render_explain(explain(spec, inp), spec, inp, console)
    return out.getvalue()


MODES = ["rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell"]


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    layers=st.integers(1, 12),
    seq=st.integers(1, 500),
    batch=st.integers(1, 100_000),
    hidden=st.integers(2, 1_000_000),
    bidirectional=st.booleans(),
    proj=st.booleans(),
    dropout=st.sampled_from([0.0, 0.5]),
    width=st.sampled_from([60, 80, 100, 160]),
)
def test_no_line_is_wider_than_the_console(
    mode: str, layers: int, seq: int, batch: int, hidden: int, bidirectional: bool,
    proj: bool, dropout: float, width: int,
) -> None:
    kw: dict[str, Any] = {}
    if not mode.endswith("-cell"):
        kw = {"num_layers": layers, "bidirectional": bidirectional, "dropout": dropout}
        if mode == "lstm" and proj:
            kw["proj_size"] = hidden // 2
    spec = make_spec(mode, 123456, hidden, **kw)
    inp = make_input(spec, batch=batch, seq=None if spec.mode.is_cell else seq)
    text = render(spec, inp, width)
    widest = max(cell_len(line) for line in text.splitlines())
    assert widest <= width, text
    if not spec.mode.is_cell:
        assert f"[t{seq - 1}]" in text  # the last step is always drawn
        if seq > 20:
            assert "…" in text


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_diagram_elides_middle_layers_and_steps(width: int) -> None:
    spec = make_spec("lstm", 10, 20, 12, bidirectional=True, dropout=0.5)
    text = render(spec, make_input(spec, seq=500), width)
    assert "layers 2–10 elided" in text
    assert "[t0]" in text and "[t499]" in text and "[t250]" not in text
    for slot in (0, 1, 2, 3, 22, 23):
        assert f"h_0[{slot}]" in text and f"h_n[{slot}]" in text
    assert "h_0[10]" not in text.split("Unrolled")[1]


GOLDEN_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "lstm_10_20_2": ("lstm", {"num_layers": 2}),
    "gru_bidirectional": ("gru", {"bidirectional": True}),
    "lstm_proj": ("lstm", {"proj_size": 8}),
    "lstm_cell": ("lstm-cell", {}),
}


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_explain_matches_golden(name: str, width: int, golden: Callable[[str, str], None]) -> None:
    mode, kw = GOLDEN_CASES[name]
    golden(f"explain_{name}_{width}.txt", render(*build(mode, **kw), width))


PROBE = """
import io, sys
from rich.console import Console
from rnnshape.explain import explain
from rnnshape.render.explain import render_explain
from rnnshape.family import make_input, make_spec
spec = make_spec("lstm", 10, 20, 2, proj_size=5, bidirectional=True)
inp = make_input(spec, lengths=[5, 3, 2])
render_explain(explain(spec, inp), spec, inp, Console(file=io.StringIO(), width=80))
explain(spec, inp).to_dict()
print("TORCH_LOADED" if "torch" in sys.modules else "TORCH_ABSENT")
"""


def test_explain_and_rendering_do_not_import_torch() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "TORCH_ABSENT"
