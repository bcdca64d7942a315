"""``rnnshape infer model.onnx``: ONNX's LSTM, GRU and RNN nodes as torch modules.

The proof that the gate mapping is right: for every equivalent node, the torch module
built from the reported config, with its parameters filled from the ONNX W, R and B blocks
exactly as the ``explain`` rows say, gives the outputs of ``onnx.reference``'s evaluation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from rnnshape.checkpoint import CheckpointFormat, infer_checkpoint  # noqa: E402
from rnnshape.checkpoint.onnx_proto import COPY_WHOLE, load_graph_only  # noqa: E402
from rnnshape.cli.app import app  # noqa: E402

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
TORCH = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
SEQ, BATCH = 5, 3
runner = CliRunner()


def weights(
    op: str, input_size: int, hidden: int, directions: int, bias: bool, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    gates = GATES[op]
    out = {
        "W": rng.uniform(-0.5, 0.5, (directions, gates * hidden, input_size)),
        "R": rng.uniform(-0.5, 0.5, (directions, gates * hidden, hidden)),
    }
    if bias:
        out["B"] = rng.uniform(-0.5, 0.5, (directions, 2 * gates * hidden))
    return {k: v.astype(dtype) for k, v in out.items()}


def rnn_model(
    op: str = "LSTM",
    input_size: int = 6,
    hidden: int = 4,
    *,
    direction: str = "forward",
    bias: bool = True,
    layout: int = 0,
    dtype: Any = np.float32,
    inputs: Sequence[str] = (),
    **attrs: Any,
) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A model whose one node is ``op`` reading initializers W, R (and B)."""
    directions = 2 if direction == "bidirectional" else 1
    if op == "GRU":
        attrs.setdefault("linear_before_reset", 1)
    arrays = weights(op, input_size, hidden, directions, bias, dtype)
    names = ["X", "W", "R", "B" if bias else "", *inputs]
    node = helper.make_node(
        op, names, ["Y", "Y_h"], name="rnn", hidden_size=hidden, direction=direction,
        layout=layout, **attrs,
    )  # fmt: skip
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    x_shape = [BATCH, SEQ, input_size] if layout else [SEQ, BATCH, input_size]
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", elem, x_shape)],
        [helper.make_tensor_value_info("Y", elem, None),
         helper.make_tensor_value_info("Y_h", elem, None)],
        initializer=[numpy_helper.from_array(a, k) for k, a in arrays.items()],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), arrays


def save(model: onnx.ModelProto, tmp_path: Path, name: str = "m.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def infer_json(path: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["infer", str(path), "--json", *args])
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def torch_from_explain(module: dict[str, Any], arrays: dict[str, np.ndarray]) -> nn.Module:
    """The torch module of the reported config, filled block by block as ``explain`` says."""
    torch_module = TORCH[module["module"]](**module["config"]).double()
    params = dict(torch_module.named_parameters())
    filled: dict[str, np.ndarray] = {n: np.full(tuple(p.shape), np.nan) for n, p in params.items()}
    for block in module["explain"]:
        source = arrays[block["onnx_tensor"]][block["direction"]]
        start, stop = block["onnx_rows"]
        t_start, t_stop = block["torch_rows"]
        filled[block["torch_parameter"]][t_start:t_stop] = source[start:stop]
    with torch.no_grad():
        for name, value in filled.items():
            assert not np.isnan(value).any(), f"{name}: rows no block fills"
            params[name].copy_(torch.from_numpy(value))
    return torch_module


def check_forward(model: onnx.ModelProto, module: dict[str, Any], arrays: dict[str, Any]) -> None:
    """torch's forward pass equals ONNX's reference evaluation, outputs and final state."""
    layout = module["onnx"]["layout"]
    directions = 2 if module["config"]["bidirectional"] else 1
    hidden = module["config"]["hidden_size"]
    input_size = module["config"]["input_size"]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, SEQ, input_size) if layout else (SEQ, BATCH, input_size))
    x = x.astype(arrays["W"].dtype)
    y_onnx, h_onnx = ReferenceEvaluator(model).run(None, {"X": x})
    torch_module = torch_from_explain(module, {k: v.astype(np.float64) for k, v in arrays.items()})
    with torch.no_grad():
        y, state = torch_module(torch.from_numpy(x.astype(np.float64)))
    h = state[0] if isinstance(state, tuple) else state
    y = y.numpy()
    if layout:  # ONNX Y [batch, seq, dirs, hidden]; Y_h [batch, dirs, hidden]
        y = y.reshape(BATCH, SEQ, directions, hidden)
        h = h.transpose(0, 1)
    else:  # ONNX Y [seq, dirs, batch, hidden]
        y = y.reshape(SEQ, BATCH, directions, hidden).transpose(0, 2, 1, 3)
    tol = 2e-2 if arrays["W"].dtype == np.float16 else 1e-5
    np.testing.assert_allclose(y, y_onnx.astype(np.float64), atol=tol)
    np.testing.assert_allclose(h.numpy(), h_onnx.astype(np.float64), atol=tol)


# --- equivalent nodes: config, and the mapping proved against onnx.reference ---------------


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", [0, 1])
def test_equivalent_node_maps_onto_torch(
    op: str, direction: str, bias: bool, layout: int, tmp_path: Path
) -> None:
    model, arrays = rnn_model(op, direction=direction, bias=bias, layout=layout)
    doc = infer_json(save(model, tmp_path))
    assert doc["format"] == "onnx" and doc["problems"] == []
    (module,) = doc["modules"]
    assert module["module"] == op and module["prefix"] == "rnn" and module["graph"] == ""
    assert module["config"] == {
        **module["config"],
        "input_size": 6,
        "hidden_size": 4,
        "num_layers": 1,
        "bias": bias,
        "batch_first": bool(layout),
        "bidirectional": direction == "bidirectional",
    }
    assert module["unknown"] == []
    assert ("--batch-first" in module["command"]) == bool(layout)
    assert module["num_parameters"] == sum(a.size for a in arrays.values())
    assert module["onnx"]["direction"] == direction and module["onnx"]["layout"] == layout
    check_forward(model, module, arrays)


def test_gate_orders_and_explain_rows(tmp_path: Path) -> None:
    model, _ = rnn_model("LSTM", hidden=10)
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["onnx"]["gate_order"] == "iofc" and module["onnx"]["torch_gate_order"] == "ifgo"
    rows = {(b["onnx"], b["torch"]) for b in module["explain"]}
    assert ("W[0, 10:20, :]", "weight_ih_l0[30:40, :]") in rows  # o is torch's last block
    assert ("W[0, 30:40, :]", "weight_ih_l0[20:30, :]") in rows  # c is torch's g
    assert ("B[0, 40:50]", "bias_hh_l0[0:10]") in rows  # second half: recurrent biases
    model, _ = rnn_model("GRU", hidden=10)
    (module,) = infer_json(save(model, tmp_path, "gru.onnx"))["modules"]
    assert module["onnx"]["gate_order"] == "zrh" and module["onnx"]["torch_gate_order"] == "rzn"
    rows = {(b["onnx"], b["torch"]) for b in module["explain"]}
    assert ("R[0, 0:10, :]", "weight_hh_l0[10:20, :]") in rows  # z is torch's second


def test_relu_rnn_is_nonlinearity_relu(tmp_path: Path) -> None:
    """onnx.reference has no Relu for RNN: ONNX's equation, written out, is the oracle."""
    model, arrays = rnn_model("RNN", direction="bidirectional", activations=["Relu", "Relu"])
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["config"]["nonlinearity"] == "relu"
    assert module["command"] == "rnnshape rnn 6 4 --bidirectional --nonlinearity relu"
    w, r, b = (arrays[k].astype(np.float64) for k in "WRB")
    x = np.random.default_rng(2).standard_normal((SEQ, BATCH, 6))
    hidden = 4
    expected = np.zeros((SEQ, 2, BATCH, hidden))
    for d, steps in ((0, range(SEQ)), (1, reversed(range(SEQ)))):
        h = np.zeros((BATCH, hidden))
        for t in steps:  # Ht = Relu(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb)
            h = np.maximum(x[t] @ w[d].T + h @ r[d].T + b[d, :hidden] + b[d, hidden:], 0)
            expected[t, d] = h
    torch_module = torch_from_explain(module, {"W": w, "R": r, "B": b})
    with torch.no_grad():
        y, _ = torch_module(torch.from_numpy(x))
    got = y.numpy().reshape(SEQ, BATCH, 2, hidden).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_float16_model(tmp_path: Path) -> None:
    model, arrays = rnn_model("LSTM", dtype=np.float16)
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["dtype"] == "float16"
    check_forward(model, module, arrays)


# --- nodes torch cannot express: a problem naming the attribute, no config -----------------


@pytest.mark.parametrize(
    ("op", "kwargs", "named"),
    [
        ("LSTM", {"direction": "reverse"}, 'direction="reverse"'),
        ("GRU", {"direction": "reverse"}, 'direction="reverse"'),
        ("LSTM", {"inputs": ["", "", "", "P"]}, "peepholes"),
        ("LSTM", {"clip": 3.0}, "clip=3.0"),
        ("RNN", {"clip": 1.0}, "clip=1.0"),
        ("LSTM", {"input_forget": 1}, "input_forget=1"),
        ("GRU", {"linear_before_reset": 0}, "linear_before_reset=0"),
        ("LSTM", {"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations="),
        ("GRU", {"activations": ["HardSigmoid", "Tanh"]}, "activations="),
        ("RNN", {"activations": ["Sigmoid"]}, "activations="),
    ],
)
def test_non_equivalent_node_is_a_problem(
    op: str, kwargs: dict[str, Any], named: str, tmp_path: Path
) -> None:
    model, _ = rnn_model(op, **kwargs)
    if kwargs.get("inputs"):
        p = numpy_helper.from_array(np.zeros((1, 12), np.float32), "P")
        model.graph.initializer.append(p)
    path = save(model, tmp_path)
    result = runner.invoke(app, ["infer", str(path)])
    assert result.exit_code == 1, result.output
    assert named in result.stderr
    doc = infer_json(path)
    assert doc["modules"] == []
    assert any(named in p["message"] for p in doc["problems"]), doc["problems"]


def test_gru_default_linear_before_reset_is_a_problem(tmp_path: Path) -> None:
    model, _ = rnn_model("GRU")
    del model.graph.node[0].attribute[:]  # no attributes at all: linear_before_reset=0
    model.graph.node[0].attribute.append(helper.make_attribute("hidden_size", 4))
    (problem,) = infer_json(save(model, tmp_path))["problems"]
    assert "linear_before_reset=0 (the default)" in problem["message"]


# --- where the node and its shapes are ------------------------------------------------------


def test_node_inside_an_if_branch(tmp_path: Path) -> None:
    inner, _ = rnn_model("GRU", direction="bidirectional")
    branch = helper.make_graph(
        list(inner.graph.node), "then", [], list(inner.graph.output),
        initializer=list(inner.graph.initializer),
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Z"])], "else", [],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)],
    )  # fmt: skip
    node = helper.make_node(
        "If", ["cond"], ["out"], name="If_0", then_branch=branch, else_branch=other
    )
    graph = helper.make_graph(
        [node],
        "main",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("X", TensorProto.FLOAT, [SEQ, BATCH, 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    doc = infer_json(save(model, tmp_path))
    (module,) = doc["modules"]
    assert module["graph"] == "If_0/then_branch" and module["prefix"] == "rnn"
    assert module["config"]["bidirectional"] is True and module["module"] == "GRU"


def test_node_in_a_loop_body_reads_outer_initializers(tmp_path: Path) -> None:
    """A Loop body's LSTM whose W, R and B are initializers of the main graph."""
    inner, _ = rnn_model("LSTM", layout=1)
    body = helper.make_graph(
        [*inner.graph.node, helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )  # fmt: skip
    node = helper.make_node("Loop", ["n", "cond"], ["ys"], body=body)  # unnamed: ys
    graph = helper.make_graph(
        [node],
        "main",
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("X", TensorProto.FLOAT, [BATCH, SEQ, 6])],
        [helper.make_tensor_value_info("ys", TensorProto.FLOAT, None)],
        initializer=list(inner.graph.initializer),
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["graph"] == "ys/body" and module["config"]["batch_first"] is True


def test_weights_behind_unsqueeze_and_cast(tmp_path: Path) -> None:
    """W is computed (Unsqueeze of a 2-D initializer, then Cast): shape inference gives it."""
    model, arrays = rnn_model("LSTM")
    graph = model.graph
    w = next(t for t in graph.initializer if t.name == "W")
    graph.initializer.remove(w)
    graph.initializer.extend(
        [
            numpy_helper.from_array(arrays["W"][0].astype(np.float64), "W2d"),
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
        ]
    )
    graph.node.insert(0, helper.make_node("Cast", ["W3d"], ["W"], to=TensorProto.FLOAT))
    graph.node.insert(0, helper.make_node("Unsqueeze", ["W2d", "axes"], ["W3d"]))
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["config"]["input_size"] == 6 and module["config"]["hidden_size"] == 4
    check_forward(model, module, arrays)


def test_unknown_shape_is_a_problem(tmp_path: Path) -> None:
    model, _ = rnn_model("RNN")
    graph = model.graph
    graph.initializer.remove(next(t for t in graph.initializer if t.name == "W"))
    graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, "h", "in"]))
    (problem,) = infer_json(save(model, tmp_path))["problems"]
    assert problem["prefix"] == "rnn" and problem["graph"] == ""
    assert "shape of W ('W') cannot be known statically" in problem["message"]


def test_unnamed_node_is_named_by_its_first_output(tmp_path: Path) -> None:
    model, _ = rnn_model("LSTM")
    model.graph.node[0].name = ""
    (module,) = infer_json(save(model, tmp_path))["modules"]
    assert module["prefix"] == "Y"


# --- large files: tensor bytes are never read -----------------------------------------------


def test_large_tensor_data_is_left_out(tmp_path: Path) -> None:
    model, _ = rnn_model("LSTM", input_size=512, hidden=256)
    path = save(model, tmp_path)
    assert path.stat().st_size > 4 * COPY_WHOLE
    stripped = load_graph_only(str(path))
    tensors = {t.name: t for t in stripped.graph.initializer}
    assert list(tensors["W"].dims) == [1, 1024, 512] and tensors["W"].raw_data == b""
    assert stripped.ByteSize() < COPY_WHOLE
    (module,) = infer_json(path)["modules"]
    assert module["config"]["input_size"] == 512


def test_external_data_is_never_opened(tmp_path: Path) -> None:
    model, _ = rnn_model("GRU", input_size=300, hidden=100)
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()  # were it read, reading would fail
    (module,) = infer_json(path)["modules"]
    assert module["config"]["hidden_size"] == 100


def test_truncated_file_is_an_error(tmp_path: Path) -> None:
    model, _ = rnn_model("LSTM", input_size=512, hidden=256)
    data = model.SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["infer", str(path)])
    assert result.exit_code == 1 and "not a valid ONNX model" in result.stderr


# --- the command line -----------------------------------------------------------------------


def test_explain_table_and_spec(tmp_path: Path) -> None:
    model, _ = rnn_model("LSTM", hidden=20, input_size=10, direction="bidirectional")
    path = save(model, tmp_path)
    result = runner.invoke(app, ["infer", str(path), "--explain"])
    assert result.exit_code == 0, result.output
    assert "ONNX model" in result.stdout and "c → g" in result.stdout
    assert "W[1, 20:40, :]" in result.stdout and "weight_ih_l0_reverse[60:80, :]" in result.stdout
    result = runner.invoke(app, ["infer", str(path), "--spec"])
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.stdout)["models"]["rnn"]
    assert spec["type"] == "lstm" and spec["bidirectional"] is True
    assert spec["expect"]["num_parameters"] == 2 * (4 * 20 * (10 + 20) + 8 * 20)
    assert runner.invoke(app, ["infer", str(path), "--spec", "--explain"]).exit_code == 2


def test_explain_on_a_torch_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(nn.LSTM(3, 4).state_dict(), path)
    result = runner.invoke(app, ["infer", str(path), "--explain"])
    assert result.exit_code == 2 and "--explain maps an ONNX model" in result.stderr


def test_model_without_recurrent_nodes(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])],
    )  # fmt: skip
    path = save(helper.make_model(graph), tmp_path)
    result = runner.invoke(app, ["infer", str(path)])
    assert result.exit_code == 1 and "no LSTM, GRU or RNN node" in result.stderr


def _child(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )


def test_without_onnx_exit_2_names_the_extra(tmp_path: Path) -> None:
    path = save(rnn_model()[0], tmp_path)
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "from rnnshape.cli import main\n"
        "sys.exit(main(['infer', sys.argv[1]]))"
    )
    done = _child(code, path)
    assert done.returncode == 2, done.stderr
    assert "rnnshape[onnx]" in done.stderr


def test_onnx_path_never_imports_torch(tmp_path: Path) -> None:
    path = save(rnn_model()[0], tmp_path)
    code = (
        "import sys\nfrom rnnshape.cli import main\n"
        "rc = main(['infer', sys.argv[1], '--explain'])\n"
        "print('TORCH_LOADED' if 'torch' in sys.modules else 'TORCH_ABSENT', file=sys.stderr)\n"
        "sys.exit(rc)"
    )
    done = _child(code, path)
    assert done.returncode == 0, done.stderr
    assert "TORCH_ABSENT" in done.stderr


def test_infer_checkpoint_api(tmp_path: Path) -> None:
    result = infer_checkpoint(str(save(rnn_model("GRU")[0], tmp_path)))
    assert result.format is CheckpointFormat.ONNX and result.num_tensors == 3
    (module,) = result.modules
    assert module.onnx is not None and module.onnx.op == "GRU"


# --- models exported by torch itself --------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        nn.LSTM(6, 8),
        nn.LSTM(6, 8, bidirectional=True, batch_first=True),
        nn.GRU(6, 8, bias=False),
        nn.RNN(6, 8, nonlinearity="relu", bidirectional=True),
    ],
    ids=["lstm", "lstm-bi-batch-first", "gru-no-bias", "rnn-relu-bi"],
)
def test_torch_onnx_export_is_recovered(module: nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "exported.onnx"
    x = torch.randn(2, 5, 6) if getattr(module, "batch_first", False) else torch.randn(5, 2, 6)
    try:
        torch.onnx.export(module, (x,), str(path), dynamo=False)
    except Exception as exc:  # the exporter's own dependencies or limits, not ours
        pytest.skip(f"torch.onnx.export cannot export here: {type(exc).__name__}: {exc}")
    ops = {n.op_type for n in onnx.load(path, load_external_data=False).graph.node}
    if not ops & set(GATES):
        pytest.skip(f"this exporter emits no LSTM/GRU/RNN op (it emits {sorted(ops)})")
    doc = infer_json(path)
    (found,) = doc["modules"]
    assert found["module"] == type(module).__name__
    expected = {k: v for k, v in found["config"].items() if k != "batch_first"}
    torch_config = {k: getattr(module, k) for k in expected}
    assert expected == torch_config
    assert found["num_parameters"] == sum(p.numel() for p in module.parameters())


def test_explain_table_matches_golden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, golden: Callable[[str, str], None]
) -> None:
    """The README's ONNX example: a GRU node with layout=1 and where its blocks go."""
    model, _ = rnn_model("GRU", input_size=8, hidden=16, layout=1)
    save(model, tmp_path, "model.onnx")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["infer", "model.onnx", "--explain"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    golden("infer_onnx_gru.explain.txt", result.stdout)
