"""``rnnshape infer`` on Keras files: Keras 3 ``.keras``/``.weights.h5`` and legacy HDF5.

The proof of the mapping: the torch module built from the reported config, filled block by
block from the file's datasets exactly as the JSON ``explain`` rows say, gives Keras's own
outputs (Keras 3 models built and run here with the keras package on its torch backend) or
the outputs of Keras's equations in numpy (legacy files written with h5py in Keras 2's
documented layout).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

os.environ["KERAS_BACKEND"] = "torch"  # never tensorflow
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from rnnshape.cli.app import app  # noqa: E402

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())
TORCH = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
BATCH, SEQ, FEATURES = 3, 5, 6
TOLERANCE = 1e-5
runner = CliRunner()
L = keras.layers
# keras 3 on numpy 2 (its own conversions, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def infer_json(path: Path, *args: str, code: int | None = None) -> dict[str, Any]:
    result = runner.invoke(app, ["infer", str(path), "--json", *args])
    assert result.exit_code in ((0, 1) if code is None else (code,)), result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def h5_arrays(path: Path) -> Callable[[str], np.ndarray]:
    """Datasets by HDF5 path, read with h5py (a .keras zip's weights are extracted first)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data = archive.read("model.weights.h5")
        handle = h5py.File(io.BytesIO(data), "r")
    else:
        handle = h5py.File(path, "r")

    def get(name: str) -> np.ndarray:
        return np.asarray(handle[name][()], dtype=np.float64)

    return get


def torch_from_explain(module: dict[str, Any], arrays: Callable[[str], np.ndarray]) -> nn.Module:
    """The reported config's torch module, filled block by block as ``explain`` says."""
    torch_module = TORCH[module["module"]](**module["config"]).double()
    params = dict(torch_module.named_parameters())
    filled = {n: np.full(tuple(p.shape), np.nan) for n, p in params.items()}
    for block in module["explain"]:
        t_start, t_stop = block["torch_rows"]
        if block["keras_tensor"] is None:
            value = np.zeros(t_stop - t_start)
        else:
            source = arrays(block["dataset"])
            if block["keras_row"] is not None:
                source = source[block["keras_row"]]
            start, stop = block["keras_columns"]
            value = source[..., start:stop]
            if block["transpose"]:
                value = value.T
        filled[block["torch_parameter"]][t_start:t_stop] = value
    with torch.no_grad():
        for name, value in filled.items():
            assert not np.isnan(value).any(), f"{name}: rows no block fills"
            params[name].copy_(torch.from_numpy(value))
    return torch_module


def torch_output(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, _ = module(torch.from_numpy(x.astype(np.float64)))
    return out.numpy()


def keras_output(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(x.astype(np.float32))), dtype=np.float64)


def random_input(features: int = FEATURES) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (BATCH, SEQ, features)).astype(np.float32)


def randomize(model: Any) -> None:
    """Weights and biases away from their initial zeros, so every block matters."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype) for w in weights])


def single(layer: Any, features: int = FEATURES) -> Any:
    model = keras.Sequential([keras.Input((SEQ, features)), layer])
    randomize(model)
    return model


# -- one layer, every class and option: torch gives Keras's outputs -------------------------

LAYERS: dict[str, Callable[[], Any]] = {
    "lstm": lambda: L.LSTM(4, return_sequences=True),
    "lstm no bias": lambda: L.LSTM(4, return_sequences=True, use_bias=False),
    "gru": lambda: L.GRU(4, return_sequences=True),
    "gru no bias": lambda: L.GRU(4, return_sequences=True, use_bias=False),
    "simple rnn tanh": lambda: L.SimpleRNN(5, return_sequences=True),
    "simple rnn relu": lambda: L.SimpleRNN(5, activation="relu", return_sequences=True),
    "simple rnn no bias": lambda: L.SimpleRNN(5, return_sequences=True, use_bias=False),
    "bidirectional lstm": lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)),
    "bidirectional gru": lambda: L.Bidirectional(L.GRU(3, return_sequences=True)),
    "bidirectional simple rnn": lambda: L.Bidirectional(L.SimpleRNN(3, return_sequences=True)),
    "bidirectional gru no bias": lambda: L.Bidirectional(
        L.GRU(3, return_sequences=True, use_bias=False)
    ),
}


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_one_layer_matches_keras(name: str, suffix: str, tmp_path: Path) -> None:
    model = single(LAYERS[name]())
    path = tmp_path / f"m{suffix}"
    model.save(path) if suffix == ".keras" else model.save_weights(path)
    doc = infer_json(path, code=0)
    assert doc["format"] == "keras" and doc["problems"] == []
    (module,) = doc["modules"]
    assert module["config"]["batch_first"] is True
    if "nonlinearity" in module["unknown"]:  # a weights-only file: the test knows it
        module["config"]["nonlinearity"] = "relu" if "relu" in name else "tanh"
    x = random_input()
    got = torch_output(torch_from_explain(module, h5_arrays(path)), x)
    np.testing.assert_allclose(got, keras_output(model, x), atol=TOLERANCE, rtol=0)
    keras_block = module["keras"]
    if suffix == ".keras":
        assert keras_block["activation"] in ("tanh", "relu")
        assert keras_block["keras_version"] == keras.__version__
        assert module["unknown"] == []
    else:
        assert keras_block["activation"] is None
        assert keras_block["layer"] in (None, model.layers[0].name)  # on vars in recent Keras
        assert any("hard_sigmoid" in note for note in keras_block["notes"])


def test_several_layers_of_one_class_map_by_class_and_order(tmp_path: Path) -> None:
    """Keras 3 names the groups gru, gru_1, gru_2 by class and order, not by layer name;
    the names below sort the other way round, and each layer has its own input size."""
    inp = keras.Input((SEQ, FEATURES))
    a = L.GRU(7, return_sequences=True, name="zz_first")(inp)
    b = L.Dense(5, name="proj")(a)
    c = L.GRU(4, return_sequences=True, name="mm_second")(b)
    d = L.GRU(4, return_sequences=True, name="aa_third")(c)
    model = keras.Model(inp, [a, c, d])
    randomize(model)
    path = tmp_path / "m.keras"
    model.save(path)
    doc = infer_json(path, code=0)
    by_name = {m["prefix"]: m for m in doc["modules"]}
    assert [by_name[n]["keras"]["weights"] for n in ("zz_first", "mm_second", "aa_third")] == [
        "layers/gru",
        "layers/gru_1",
        "layers/gru_2",
    ]
    arrays = h5_arrays(path)
    x = random_input()
    outs = [keras.ops.convert_to_numpy(o) for o in model(x)]
    # mm_second reads the Dense output: computed with Keras itself.
    proj = keras.ops.convert_to_numpy(model.get_layer("proj")(outs[0]))
    hidden_in = {"zz_first": x, "mm_second": proj, "aa_third": outs[1]}
    for name, want in zip(("zz_first", "mm_second", "aa_third"), outs, strict=True):
        got = torch_output(torch_from_explain(by_name[name], arrays), hidden_in[name])
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    # The Dense between the first two means no stack; the last two chain.
    assert "stack" not in by_name["zz_first"]["keras"]
    assert by_name["mm_second"]["keras"]["stack"]["layers"] == ["mm_second", "aa_third"]
    assert by_name["mm_second"]["keras"]["stack"]["constructor"] == (
        "nn.GRU(5, 4, num_layers=2, batch_first=True)"
    )


def test_nested_model(tmp_path: Path) -> None:
    inner = keras.Sequential(
        [
            keras.Input((SEQ, 4)),
            L.LSTM(3, return_sequences=True, name="lstm"),
            L.SimpleRNN(2, return_sequences=True, name="simple_rnn"),
        ],
        name="inner",
    )
    inp = keras.Input((SEQ, FEATURES))
    x = L.LSTM(4, return_sequences=True, name="outer_lstm")(inp)
    model = keras.Model(inp, inner(x))
    randomize(model)
    randomize(inner)
    path = tmp_path / "nested.keras"
    model.save(path)
    doc = infer_json(path, code=0)
    by_name = {m["prefix"]: m for m in doc["modules"]}
    assert set(by_name) == {"outer_lstm", "inner.lstm", "inner.simple_rnn"}
    assert by_name["inner.lstm"]["keras"]["weights"] == "layers/sequential/layers/lstm"
    arrays = h5_arrays(path)
    xin = random_input()
    h1 = keras_output(model.get_layer("outer_lstm"), xin)
    np.testing.assert_allclose(
        torch_output(torch_from_explain(by_name["outer_lstm"], arrays), xin), h1, atol=TOLERANCE
    )
    h2 = keras_output(inner.layers[0], h1.astype(np.float32))
    got = torch_output(torch_from_explain(by_name["inner.lstm"], arrays), h1)
    np.testing.assert_allclose(got, h2, atol=TOLERANCE)
    h3 = keras_output(inner.layers[1], h2.astype(np.float32))
    got = torch_output(torch_from_explain(by_name["inner.simple_rnn"], arrays), h2)
    np.testing.assert_allclose(got, h3, atol=TOLERANCE)


def test_consecutive_layers_report_one_stacked_module(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((SEQ, FEATURES)),
            L.LSTM(4, return_sequences=True),
            L.LSTM(4, return_sequences=True),
            L.LSTM(4, return_sequences=True),
            L.LSTM(4),  # chains too: return_sequences matters on the earlier layers only
        ]
    )
    randomize(model)
    path = tmp_path / "stack.keras"
    model.save(path)
    doc = infer_json(path, code=0)
    first = doc["modules"][0]["keras"]
    assert first["stack"]["layers"] == [m["prefix"] for m in doc["modules"]]
    assert first["stack"]["constructor"] == "nn.LSTM(6, 4, num_layers=4, batch_first=True)"
    assert all("stack" not in m["keras"] for m in doc["modules"][1:])
    # The stacked module, filled layer by layer, gives the model's output at every step
    # of the last layer's input: compare the full sequence of the third layer.
    arrays = h5_arrays(path)
    stacked = nn.LSTM(6, 4, num_layers=3, batch_first=True).double()
    for k, module in enumerate(doc["modules"][:3]):
        single_layer = torch_from_explain(module, arrays)
        for name, value in single_layer.named_parameters():
            getattr(stacked, name.replace("_l0", f"_l{k}")).data.copy_(value.data)
    x = random_input()
    partial = keras.Sequential([keras.Input((SEQ, FEATURES)), *model.layers[:3]])
    np.testing.assert_allclose(
        torch_output(stacked, x), keras_output(partial, x), atol=TOLERANCE, rtol=0
    )


def test_return_sequences_false_breaks_the_stack(tmp_path: Path) -> None:
    model = keras.Sequential(
        [keras.Input((SEQ, FEATURES)), L.GRU(4), L.RepeatVector(SEQ), L.GRU(4)]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    doc = infer_json(path, code=0)
    assert all("stack" not in m["keras"] for m in doc["modules"])


# -- what torch cannot compute is a problem naming the attribute ----------------------------

PROBLEMS: dict[str, tuple[Callable[[], Any], str]] = {
    "gru reset_after=False": (lambda: L.GRU(4, reset_after=False), "reset_after=False"),
    "lstm activation": (lambda: L.LSTM(4, activation="relu"), "activation='relu'"),
    "gru recurrent_activation": (
        lambda: L.GRU(4, recurrent_activation="hard_sigmoid"),
        "recurrent_activation='hard_sigmoid'",
    ),
    "simple rnn activation": (lambda: L.SimpleRNN(4, activation="sigmoid"), "activation='sigmoid'"),
    "go_backwards": (lambda: L.LSTM(4, go_backwards=True), "go_backwards=True"),
}


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_not_equivalent_is_a_problem(name: str, tmp_path: Path) -> None:
    make, words = PROBLEMS[name]
    path = tmp_path / "m.keras"
    single(make()).save(path)
    doc = infer_json(path, code=1)
    assert doc["modules"] == []
    (problem,) = doc["problems"]
    assert words in problem["message"]


def test_reset_after_false_in_weights_only_file_is_told_by_the_bias_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.weights.h5"
    single(L.GRU(4, reset_after=False)).save_weights(path)
    doc = infer_json(path, code=1)
    assert "reset_after=False" in doc["problems"][0]["message"]


def test_merge_mode_other_than_concat_is_a_note(tmp_path: Path) -> None:
    model = single(L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"))
    path = tmp_path / "m.keras"
    model.save(path)
    (module,) = infer_json(path, code=0)["modules"]
    assert module["keras"]["merge_mode"] == "sum"
    assert any("merge_mode='sum'" in n for n in module["keras"]["notes"])
    torch_out = torch_output(torch_from_explain(module, h5_arrays(path)), random_input())
    np.testing.assert_allclose(
        torch_out[..., :3] + torch_out[..., 3:], keras_output(model, random_input()), atol=TOLERANCE
    )


def test_explain_and_spec(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    single(L.GRU(4, return_sequences=True, name="gru")).save(path)
    result = runner.invoke(app, ["infer", str(path), "--explain"])
    assert result.exit_code == 0, result.output
    assert "Keras zrh · torch rzn" in result.stdout
    assert re.search(r"forward +z → z +kernel\[:, 0:4\]\.T +weight_ih_l0\[4:8, :\]", result.stdout)
    assert re.search(r"forward +h → n +bias\[1, 8:12\] +bias_hh_l0\[8:12\]", result.stdout)
    result = runner.invoke(app, ["infer", str(path), "--spec"])
    assert result.exit_code == 0, result.output
    import yaml

    spec = yaml.safe_load(result.stdout)["models"]["gru"]
    assert spec == {
        "type": "gru", "input_size": 6, "hidden_size": 4, "num_layers": 1, "bias": True,
        "batch_first": True, "dropout": 0.0, "bidirectional": False,
        "expect": {"num_parameters": 3 * 4 * (6 + 4 + 2)},
    }  # fmt: skip


def test_without_h5py_exit_2_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.weights.h5"
    single(L.LSTM(4)).save_weights(path)
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    result = runner.invoke(app, ["infer", str(path)])
    assert result.exit_code == 2, result.output
    assert "rnnshape[keras]" in result.stderr


# -- legacy Keras 2 HDF5, written as Keras 2 writes it, against Keras's equations ----------


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def keras_lstm(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """keras.layers.LSTM's equations (gates i, f, c, o in kernel columns), in numpy."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + (0 if bias is None else bias)
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def keras_gru(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, b_in: np.ndarray, b_rec: np.ndarray
) -> np.ndarray:
    """keras.layers.GRU's equations with reset_after=True (gates z, r, h), in numpy."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    out = []
    for t in range(x.shape[1]):
        xz = x[:, t] @ kernel + b_in
        hz = h @ recurrent + b_rec
        z = sigmoid(xz[:, :units] + hz[:, :units])
        r = sigmoid(xz[:, units : 2 * units] + hz[:, units : 2 * units])
        hh = np.tanh(xz[:, 2 * units :] + r * hz[:, 2 * units :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


def keras_simple_rnn(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, act: str
) -> np.ndarray:
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    out = []
    for t in range(x.shape[1]):
        pre = x[:, t] @ kernel + h @ recurrent + bias
        h = np.tanh(pre) if act == "tanh" else np.maximum(pre, 0)
        out.append(h)
    return np.stack(out, 1)


def legacy_layer_config(cls: str, name: str, units: int, **options: Any) -> dict[str, Any]:
    config = {"name": name, "units": units, "return_sequences": True, "use_bias": True}
    if cls in ("LSTM", "GRU"):
        config |= {"activation": "tanh", "recurrent_activation": "sigmoid"}
    if cls == "SimpleRNN":
        config["activation"] = "tanh"
    if cls == "GRU":
        config["reset_after"] = True
    config |= options
    return {"class_name": cls, "config": config}


def write_legacy(
    path: Path,
    layers: list[tuple[dict[str, Any], list[tuple[str, np.ndarray]]]],
    *,
    model: bool = True,
    keras_version: str = "2.11.0",
) -> None:
    """A Keras 2 HDF5 file: ``model_config`` and ``model_weights`` (or the weights alone),
    ``layer_names``, and per layer ``weight_names`` with a dataset at each name."""
    with h5py.File(path, "w") as f:
        if model:
            config = {
                "class_name": "Sequential",
                "config": {"name": "sequential", "layers": [entry for entry, _ in layers]},
            }
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["keras_version"] = keras_version
            f.attrs["backend"] = "tensorflow"
            root = f.create_group("model_weights")
        else:
            root = f
        root.attrs["layer_names"] = [entry["config"]["name"].encode() for entry, _ in layers]
        root.attrs["keras_version"] = keras_version
        for entry, weights in layers:
            group = root.create_group(entry["config"]["name"])
            group.attrs["weight_names"] = [n.encode() for n, _ in weights]
            for name, value in weights:
                group.create_dataset(name, data=value.astype(np.float32))


def cudnn(cls: str, name: str, units: int) -> dict[str, Any]:
    return {"class_name": cls, "config": {"name": name, "units": units, "return_sequences": True}}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-0.5, 0.5, shape).astype(np.float32)


@pytest.mark.parametrize("model", [True, False], ids=["whole model", "weights only"])
def test_legacy_lstm_gru_simple_rnn(model: bool, tmp_path: Path) -> None:
    u = 4
    lstm = (rand(FEATURES, 4 * u), rand(u, 4 * u), rand(4 * u))
    gru = (rand(4, 3 * u, seed=1), rand(u, 3 * u, seed=1), rand(2, 3 * u, seed=1))
    rnn = (rand(4, u, seed=2), rand(u, u, seed=2), rand(u, seed=2))
    layers = [
        (legacy_layer_config("LSTM", "lstm_1", u), [
            ("lstm_1/lstm_cell/kernel:0", lstm[0]),
            ("lstm_1/lstm_cell/recurrent_kernel:0", lstm[1]),
            ("lstm_1/lstm_cell/bias:0", lstm[2])]),
        (legacy_layer_config("GRU", "gru_1", u), [
            ("gru_1/gru_cell/kernel:0", gru[0]), ("gru_1/gru_cell/recurrent_kernel:0", gru[1]),
            ("gru_1/gru_cell/bias:0", gru[2])]),
        (legacy_layer_config("SimpleRNN", "simple_rnn_1", u, activation="relu"), [
            ("simple_rnn_1/simple_rnn_cell/kernel:0", rnn[0]),
            ("simple_rnn_1/simple_rnn_cell/recurrent_kernel:0", rnn[1]),
            ("simple_rnn_1/simple_rnn_cell/bias:0", rnn[2])]),
    ]  # fmt: skip
    path = tmp_path / "legacy.h5"
    write_legacy(path, layers, model=model)
    doc = infer_json(path, code=0)
    by_name = {m["prefix"]: m for m in doc["modules"]}
    assert set(by_name) == {"lstm_1", "gru_1", "simple_rnn_1"}
    arrays = h5_arrays(path)
    x = random_input().astype(np.float64)
    h1 = keras_lstm(x, *lstm)
    np.testing.assert_allclose(
        torch_output(torch_from_explain(by_name["lstm_1"], arrays), x), h1, atol=TOLERANCE
    )
    h2 = keras_gru(h1, gru[0], gru[1], gru[2][0], gru[2][1])
    np.testing.assert_allclose(
        torch_output(torch_from_explain(by_name["gru_1"], arrays), h1), h2, atol=TOLERANCE
    )
    if model:
        assert by_name["simple_rnn_1"]["config"]["nonlinearity"] == "relu"
        h3 = keras_simple_rnn(h2, *rnn, act="relu")
        np.testing.assert_allclose(
            torch_output(torch_from_explain(by_name["simple_rnn_1"], arrays), h2),
            h3,
            atol=TOLERANCE,
        )
        assert by_name["lstm_1"]["keras"]["keras_version"] == "2.11.0"
    else:
        assert by_name["simple_rnn_1"]["unknown"] == ["nonlinearity"]
        for module in by_name.values():
            notes = " ".join(module["keras"]["notes"])
            assert "records no activations" in notes and "hard_sigmoid" in notes


def test_legacy_bidirectional_and_cudnn(tmp_path: Path) -> None:
    u = 3
    fw = (rand(FEATURES, 4 * u), rand(u, 4 * u), rand(4 * u))
    bw = (rand(FEATURES, 4 * u, seed=5), rand(u, 4 * u, seed=5), rand(4 * u, seed=5))
    cudnn_lstm = (rand(2 * u, 4 * u, seed=7), rand(u, 4 * u, seed=7), rand(8 * u, seed=7))
    cudnn_gru = (rand(u, 3 * u, seed=8), rand(u, 3 * u, seed=8), rand(6 * u, seed=8))
    bidi = {
        "class_name": "Bidirectional",
        "config": {"name": "bidirectional", "merge_mode": "concat",
                   "layer": legacy_layer_config("LSTM", "lstm", u)},
    }  # fmt: skip
    layers = [
        (bidi, [
            ("bidirectional/forward_lstm/lstm_cell/kernel:0", fw[0]),
            ("bidirectional/forward_lstm/lstm_cell/recurrent_kernel:0", fw[1]),
            ("bidirectional/forward_lstm/lstm_cell/bias:0", fw[2]),
            ("bidirectional/backward_lstm/lstm_cell/kernel:0", bw[0]),
            ("bidirectional/backward_lstm/lstm_cell/recurrent_kernel:0", bw[1]),
            ("bidirectional/backward_lstm/lstm_cell/bias:0", bw[2])]),
        (cudnn("CuDNNLSTM", "cu_dnnlstm", u), [
            ("cu_dnnlstm/kernel:0", cudnn_lstm[0]),
            ("cu_dnnlstm/recurrent_kernel:0", cudnn_lstm[1]),
            ("cu_dnnlstm/bias:0", cudnn_lstm[2])]),
        (cudnn("CuDNNGRU", "cu_dnngru", u), [
            ("cu_dnngru/kernel:0", cudnn_gru[0]), ("cu_dnngru/recurrent_kernel:0", cudnn_gru[1]),
            ("cu_dnngru/bias:0", cudnn_gru[2])]),
    ]  # fmt: skip
    for model in (True, False):
        path = tmp_path / f"legacy_{model}.h5"
        write_legacy(path, layers, model=model, keras_version="2.2.4")
        doc = infer_json(path, code=0)
        by_name = {m["prefix"]: m for m in doc["modules"]}
        assert by_name["bidirectional"]["config"]["bidirectional"] is True
        assert by_name["cu_dnnlstm"]["keras"]["class_name"] == "CuDNNLSTM"
        assert by_name["cu_dnngru"]["keras"]["class_name"] == "CuDNNGRU"
        arrays = h5_arrays(path)
        x = random_input().astype(np.float64)
        forward = keras_lstm(x, *fw)
        backward = keras_lstm(x[:, ::-1], *bw)[:, ::-1]
        h1 = np.concatenate([forward, backward], -1)
        got = torch_output(torch_from_explain(by_name["bidirectional"], arrays), x)
        np.testing.assert_allclose(got, h1, atol=TOLERANCE)
        # CuDNNLSTM: one bias per side, summed in the equations.
        h2 = keras_lstm(
            h1, cudnn_lstm[0], cudnn_lstm[1], cudnn_lstm[2][: 4 * u] + cudnn_lstm[2][4 * u :]
        )
        got = torch_output(torch_from_explain(by_name["cu_dnnlstm"], arrays), h1)
        np.testing.assert_allclose(got, h2, atol=TOLERANCE)
        h3 = keras_gru(h2, cudnn_gru[0], cudnn_gru[1], cudnn_gru[2][: 3 * u], cudnn_gru[2][3 * u :])
        got = torch_output(torch_from_explain(by_name["cu_dnngru"], arrays), h2)
        np.testing.assert_allclose(got, h3, atol=TOLERANCE)
        # An LSTM then a GRU: another class never stacks.
        assert all("stack" not in m["keras"] for m in doc["modules"])


def test_legacy_gru_reset_after_false_and_hard_sigmoid(tmp_path: Path) -> None:
    u = 2
    old_gru = legacy_layer_config(
        "GRU", "gru_1", u, reset_after=False, recurrent_activation="hard_sigmoid"
    )
    layers = [
        (old_gru, [
            ("gru_1/kernel:0", rand(FEATURES, 3 * u)), ("gru_1/recurrent_kernel:0", rand(u, 3 * u)),
            ("gru_1/bias:0", rand(3 * u))]),
        (legacy_layer_config("LSTM", "lstm_1", u, time_major=True), [
            ("lstm_1/kernel:0", rand(u, 4 * u)), ("lstm_1/recurrent_kernel:0", rand(u, 4 * u)),
            ("lstm_1/bias:0", rand(4 * u))]),
    ]  # fmt: skip
    path = tmp_path / "legacy.h5"
    write_legacy(path, layers, keras_version="2.2.4")
    doc = infer_json(path, code=0)
    messages = [p["message"] for p in doc["problems"]]
    assert any("reset_after=False" in m for m in messages)
    assert any("recurrent_activation='hard_sigmoid'" in m for m in messages)
    (lstm,) = doc["modules"]
    assert lstm["config"]["batch_first"] is False and lstm["keras"]["time_major"] is True


def test_legacy_nested_model(tmp_path: Path) -> None:
    u = 3
    lstm = (rand(FEATURES, 4 * u), rand(u, 4 * u), rand(4 * u))
    inner = {
        "class_name": "Sequential",
        "config": {"name": "encoder", "layers": [
            {"class_name": "Masking", "config": {"name": "masking"}},
            legacy_layer_config("LSTM", "lstm_7", u)]},
    }  # fmt: skip
    path = tmp_path / "nested.h5"
    write_legacy(path, [(inner, [
        ("lstm_7/lstm_cell_7/kernel:0", lstm[0]),
        ("lstm_7/lstm_cell_7/recurrent_kernel:0", lstm[1]),
        ("lstm_7/lstm_cell_7/bias:0", lstm[2])])])  # fmt: skip
    doc = infer_json(path, code=0)
    (module,) = doc["modules"]
    assert module["prefix"] == "encoder.lstm_7"
    x = random_input().astype(np.float64)
    got = torch_output(torch_from_explain(module, h5_arrays(path)), x)
    np.testing.assert_allclose(got, keras_lstm(x, *lstm), atol=TOLERANCE)


# -- the README's worked example ---------------------------------------------------------------


def readme_model(path: Path) -> None:
    """Two chained LSTMs and a Bidirectional GRU, saved with a fixed keras_version."""
    model = keras.Sequential(
        [
            keras.Input((None, 8)),
            L.LSTM(16, return_sequences=True, name="lstm"),
            L.LSTM(16, return_sequences=True, name="lstm_1"),
            L.Bidirectional(L.GRU(8), name="bidirectional"),
        ],
        name="encoder",
    )
    saved = path.with_suffix(".tmp.keras")
    model.save(saved)
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "metadata.json":  # the golden must not follow the installed keras
                data = json.dumps({"keras_version": "3.10.0"}).encode()
            dst.writestr(info, data)
    saved.unlink()


def test_readme_example_matches_golden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, golden: Callable[[str, str], None]
) -> None:
    readme_model(tmp_path / "model.keras")
    monkeypatch.chdir(tmp_path)
    env = {"COLUMNS": "80"}
    result = runner.invoke(app, ["infer", "model.keras"], env=env)
    assert result.exit_code == 0, result.output
    golden("infer_keras.table.txt", result.stdout)
    result = runner.invoke(app, ["infer", "model.keras", "--explain"], env=env)
    assert result.exit_code == 0, result.output
    explain = result.stdout[result.stdout.index("lstm · LSTM · Keras blocks") :]
    golden("infer_keras.explain.txt", explain.split("\n\n")[0] + "\n")
    result = runner.invoke(app, ["convert", "model.keras", "model.safetensors"], env=env)
    assert result.exit_code == 0, result.output
    golden("convert_keras.txt", result.stdout)


def test_infer_never_imports_torch_keras_or_tensorflow(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    single(L.GRU(3)).save(path)
    code = (
        "import sys\n"
        "from rnnshape.cli import main\n"
        "try:\n"
        f"    main(['infer', {str(path)!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "loaded = [m for m in ('torch', 'keras', 'tensorflow') if m in sys.modules]\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in done.stderr, done.stderr


def test_legacy_functional_stack_follows_inbound_nodes(tmp_path: Path) -> None:
    """A Keras 2 Functional config: layers chain only through their inbound_nodes."""
    u = 3

    def entry(name: str, inbound: str, **options: Any) -> dict[str, Any]:
        layer = legacy_layer_config("LSTM", name, u, **options)
        layer["name"] = name
        layer["inbound_nodes"] = [[[inbound, 0, 0, {}]]]
        return layer

    layers = [
        entry("a", "input_1"),
        entry("b", "a"),
        entry("c", "input_1"),  # reads the input, not b: no chain
    ]
    weights = {
        "a": (rand(u, 4 * u), rand(u, 4 * u), rand(4 * u)),
        "b": (rand(u, 4 * u, seed=1), rand(u, 4 * u, seed=1), rand(4 * u, seed=1)),
        "c": (rand(u, 4 * u, seed=2), rand(u, 4 * u, seed=2), rand(4 * u, seed=2)),
    }
    path = tmp_path / "functional.h5"
    write_legacy(
        path,
        [
            (e, [(f"{e['name']}/{r}:0", w) for r, w in
                 zip(("kernel", "recurrent_kernel", "bias"), weights[e["name"]], strict=True)])
            for e in layers
        ],
    )  # fmt: skip
    with h5py.File(path, "a") as f:  # the Functional's own config, as Keras 2 writes it
        config = json.loads(f.attrs["model_config"])
        config["class_name"] = "Functional"
        f.attrs["model_config"] = json.dumps(config)
    doc = infer_json(path, code=0)
    by_name = {m["prefix"]: m for m in doc["modules"]}
    assert by_name["a"]["keras"]["stack"]["layers"] == ["a", "b"]
    assert "stack" not in by_name["b"]["keras"] and "stack" not in by_name["c"]["keras"]


def test_bidirectional_with_mismatched_or_reversed_layers_is_a_problem(tmp_path: Path) -> None:
    mismatched = L.Bidirectional(
        L.LSTM(3, return_sequences=True),
        backward_layer=L.LSTM(3, return_sequences=True, go_backwards=True, activation="relu"),
    )
    path = tmp_path / "m.keras"
    single(mismatched).save(path)
    (problem,) = infer_json(path, code=1)["problems"]
    assert "backward_layer activation='relu'" in problem["message"]
    path = tmp_path / "r.keras"
    reversed_pair = L.Bidirectional(
        L.GRU(3, go_backwards=True), backward_layer=L.GRU(3, go_backwards=False)
    )
    single(reversed_pair).save(path)
    (problem,) = infer_json(path, code=1)["problems"]
    assert "go_backwards=True on the layer a Bidirectional wraps" in problem["message"]
