"""``rnnshape convert SRC OUT``: the torch weights written reproduce the source's outputs.

Each converted module loads with ``load_state_dict(strict=True)`` and gives, on random
input in float32, the source framework's outputs within 1e-5: Keras 3 models run by the
keras package (torch backend), legacy Keras 2 HDF5 against Keras's equations in numpy,
ONNX models against ``onnx.reference``, torch checkpoints against the original module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

os.environ["KERAS_BACKEND"] = "torch"
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
safetensors_torch = pytest.importorskip("safetensors.torch")

from rnnshape.cli.app import app  # noqa: E402
from tests.test_keras import (  # noqa: E402
    FEATURES,
    SEQ,
    keras_gru,
    keras_lstm,
    keras_output,
    keras_simple_rnn,
    legacy_layer_config,
    rand,
    random_input,
    randomize,
    single,
    write_legacy,
)

TOLERANCE = 1e-5
TORCH = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
L = keras.layers
runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
MAX_ERRORS: dict[str, float] = {}  # what the closing note of issue 17 lists (printed with -s)


@pytest.fixture(scope="module", autouse=True)
def _print_max_errors() -> Any:
    """After this file's tests, each combination's max abs error (shown with -s)."""
    yield
    for label, error in sorted(MAX_ERRORS.items()):
        print(f"{label}: {error:.2e}")


def run_convert(src: Path, out: Path, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["convert", str(src), str(out), *args])
    assert result.exit_code == code, result.output
    return result


def load_modules(out: Path, spec_yaml: str) -> dict[str, nn.Module]:
    """Every module the ``--spec`` YAML names, built and loaded strictly from ``out``."""
    state = (
        safetensors_torch.load_file(str(out))
        if out.suffix == ".safetensors"
        else torch.load(out, weights_only=True)
    )
    modules = {}
    for name, spec in yaml.safe_load(spec_yaml)["models"].items():
        kind = spec.pop("type")
        spec.pop("expect")
        module = TORCH[kind.upper()](**spec)
        own = {k.removeprefix(name + "."): v for k, v in state.items() if k.startswith(name + ".")}
        module.load_state_dict(own, strict=True)
        modules[name] = module.float()
    assert sum(len(list(m.state_dict())) for m in modules.values()) == len(state)
    return modules


def torch_run(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, _ = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return out.numpy()


def check(label: str, got: np.ndarray, want: np.ndarray) -> None:
    error = float(np.max(np.abs(got - want)))
    MAX_ERRORS[label] = max(MAX_ERRORS.get(label, 0.0), error)
    assert error <= TOLERANCE, f"{label}: max abs error {error}"


def convert_both(src: Path, tmp_path: Path, code: int = 0) -> dict[str, nn.Module]:
    """Convert to .pt (table output) and .safetensors (--spec); both load the same."""
    run_convert(src, tmp_path / "out.pt", code=code)
    spec = run_convert(src, tmp_path / "out.safetensors", "--spec", code=code).stdout
    pt = load_modules(tmp_path / "out.pt", spec)
    st = load_modules(tmp_path / "out.safetensors", spec)
    for name in pt:
        for (k, a), (_, b) in zip(
            pt[name].state_dict().items(), st[name].state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), k
    return st


# -- Keras 3 ---------------------------------------------------------------------------

KERAS_LAYERS: dict[str, Callable[[], Any]] = {
    "LSTM": lambda: L.LSTM(4, return_sequences=True),
    "LSTM no bias": lambda: L.LSTM(4, return_sequences=True, use_bias=False),
    "GRU reset_after=True": lambda: L.GRU(4, return_sequences=True),
    "GRU no bias": lambda: L.GRU(4, return_sequences=True, use_bias=False),
    "SimpleRNN tanh": lambda: L.SimpleRNN(5, return_sequences=True),
    "SimpleRNN relu": lambda: L.SimpleRNN(5, activation="relu", return_sequences=True),
    "SimpleRNN no bias": lambda: L.SimpleRNN(5, return_sequences=True, use_bias=False),
    "Bidirectional LSTM": lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)),
    "Bidirectional GRU": lambda: L.Bidirectional(L.GRU(3, return_sequences=True)),
    "Bidirectional SimpleRNN relu": lambda: L.Bidirectional(
        L.SimpleRNN(3, activation="relu", return_sequences=True)
    ),
    "Bidirectional LSTM no bias": lambda: L.Bidirectional(
        L.LSTM(3, return_sequences=True, use_bias=False)
    ),
}


@pytest.mark.parametrize("name", list(KERAS_LAYERS))
def test_keras3_layer(name: str, tmp_path: Path) -> None:
    model = single(KERAS_LAYERS[name]())
    src = tmp_path / "m.keras"
    model.save(src)
    (module,) = convert_both(src, tmp_path).values()
    x = random_input()
    check(f"keras3 {name}", torch_run(module, x), keras_output(model, x))


def test_keras3_gru_reset_after_false_is_refused_and_the_rest_written(tmp_path: Path) -> None:
    inp = keras.Input((SEQ, FEATURES))
    a = L.LSTM(4, return_sequences=True, name="kept")(inp)
    b = L.GRU(3, reset_after=False, return_sequences=True, name="old_gru")(a)
    model = keras.Model(inp, [a, b])
    randomize(model)
    src = tmp_path / "m.keras"
    model.save(src)
    result = run_convert(src, tmp_path / "out.safetensors", code=1)
    assert "refused: old_gru: reset_after=False" in result.stderr
    assert "'kept': nn.LSTM(6, 4, batch_first=True)" in result.stdout
    spec = run_convert(src, tmp_path / "out.pt", "--spec", code=1).stdout
    modules = load_modules(tmp_path / "out.safetensors", spec)
    assert list(modules) == ["kept"]
    x = random_input()
    check("keras3 LSTM next to a refused GRU", torch_run(modules["kept"], x),
          keras_output(model.get_layer("kept"), x))  # fmt: skip


def test_keras3_nested_model_and_weights_file(tmp_path: Path) -> None:
    inner = keras.Sequential(
        [
            keras.Input((SEQ, 4)),
            L.GRU(3, return_sequences=True, name="g"),
            L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi"),
        ],
        name="inner",
    )
    inp = keras.Input((SEQ, FEATURES))
    h = L.SimpleRNN(4, return_sequences=True, name="first")(inp)
    model = keras.Model(inp, inner(h))
    randomize(model)
    randomize(inner)
    for suffix in (".keras", ".weights.h5"):
        src = tmp_path / f"m{suffix}"
        model.save(src) if suffix == ".keras" else model.save_weights(src)
        out = tmp_path / suffix.strip(".")
        out.mkdir()
        modules = convert_both(src, out)
        # Named by layer with a config, by HDF5 path without: tell them by their input size.
        by_input = {m.input_size: m for m in modules.values()}
        first, g, bi = by_input[FEATURES], by_input[4], by_input[3]
        x = random_input()
        h1 = keras_output(model.get_layer("first"), x)
        check(f"keras3 nested{suffix} SimpleRNN", torch_run(first, x), h1)
        h2 = keras_output(inner.get_layer("g"), h1.astype(np.float32))
        check(f"keras3 nested{suffix} GRU", torch_run(g, h1), h2)
        h3 = keras_output(inner.get_layer("bi"), h2.astype(np.float32))
        check(f"keras3 nested{suffix} Bidirectional LSTM", torch_run(bi, h2), h3)


# -- legacy Keras 2 HDF5 ---------------------------------------------------------------------


def test_legacy_h5_every_class(tmp_path: Path) -> None:
    u = 3
    lstm = (rand(FEATURES, 4 * u), rand(u, 4 * u), rand(4 * u))
    gru = (rand(u, 3 * u, seed=1), rand(u, 3 * u, seed=1), rand(2, 3 * u, seed=1))
    rnn = (rand(u, u, seed=2), rand(u, u, seed=2), rand(u, seed=2))
    cudnn = (rand(u, 4 * u, seed=3), rand(u, 4 * u, seed=3), rand(8 * u, seed=3))
    cudnn_gru = (rand(u, 3 * u, seed=4), rand(u, 3 * u, seed=4), rand(6 * u, seed=4))
    bidi = (rand(u, 3 * u, seed=5), rand(u, 3 * u, seed=5), rand(2, 3 * u, seed=5))
    bidi_back = (rand(u, 3 * u, seed=6), rand(u, 3 * u, seed=6), rand(2, 3 * u, seed=6))

    def named(prefix: str, values: tuple[np.ndarray, ...]) -> list[tuple[str, np.ndarray]]:
        roles = ("kernel:0", "recurrent_kernel:0", "bias:0")
        return [(f"{prefix}/{r}", v) for r, v in zip(roles, values, strict=True)]

    bidi_entry = {
        "class_name": "Bidirectional",
        "config": {"name": "bidirectional_1", "merge_mode": "concat",
                   "layer": legacy_layer_config("GRU", "gru_2", u)},
    }  # fmt: skip
    layers = [
        (legacy_layer_config("LSTM", "lstm_1", u), named("lstm_1/lstm_cell", lstm)),
        (legacy_layer_config("GRU", "gru_1", u), named("gru_1/gru_cell", gru)),
        (legacy_layer_config("SimpleRNN", "rnn_1", u, activation="relu"), named("rnn_1/c", rnn)),
        ({"class_name": "CuDNNLSTM", "config": {"name": "cu_dnnlstm_1", "units": u}},
         named("cu_dnnlstm_1", cudnn)),
        ({"class_name": "CuDNNGRU", "config": {"name": "cu_dnngru_1", "units": u}},
         named("cu_dnngru_1", cudnn_gru)),
        (bidi_entry, named("bidirectional_1/forward_gru_2/gru_cell", bidi)
         + named("bidirectional_1/backward_gru_2/gru_cell", bidi_back)),
    ]  # fmt: skip
    src = tmp_path / "legacy.h5"
    write_legacy(src, layers)
    modules = convert_both(src, tmp_path)
    x = random_input().astype(np.float64)
    h1 = keras_lstm(x, *lstm)
    check("legacy LSTM", torch_run(modules["lstm_1"], x), h1)
    h2 = keras_gru(h1, gru[0], gru[1], gru[2][0], gru[2][1])
    check("legacy GRU reset_after=True", torch_run(modules["gru_1"], h1), h2)
    h3 = keras_simple_rnn(h2, *rnn, act="relu")
    check("legacy SimpleRNN relu", torch_run(modules["rnn_1"], h2), h3)
    h4 = keras_lstm(h3, cudnn[0], cudnn[1], cudnn[2][: 4 * u] + cudnn[2][4 * u :])
    check("legacy CuDNNLSTM", torch_run(modules["cu_dnnlstm_1"], h3), h4)
    h5 = keras_gru(h4, cudnn_gru[0], cudnn_gru[1], cudnn_gru[2][: 3 * u], cudnn_gru[2][3 * u :])
    check("legacy CuDNNGRU", torch_run(modules["cu_dnngru_1"], h4), h5)
    forward = keras_gru(h5, bidi[0], bidi[1], bidi[2][0], bidi[2][1])
    backward = keras_gru(h5[:, ::-1], bidi_back[0], bidi_back[1], bidi_back[2][0], bidi_back[2][1])
    h6 = np.concatenate([forward, backward[:, ::-1]], -1)
    check("legacy Bidirectional GRU", torch_run(modules["bidirectional_1"], h5), h6)


def test_legacy_reset_after_false_refused(tmp_path: Path) -> None:
    u = 2
    layers = [
        (legacy_layer_config("GRU", "gru_1", u, reset_after=False), [
            ("gru_1/kernel:0", rand(FEATURES, 3 * u)), ("gru_1/recurrent_kernel:0", rand(u, 3 * u)),
            ("gru_1/bias:0", rand(3 * u))]),
    ]  # fmt: skip
    src = tmp_path / "legacy.h5"
    write_legacy(src, layers)
    result = run_convert(src, tmp_path / "out.pt", code=1)
    assert "refused: gru_1: reset_after=False" in result.stderr
    assert "nothing written" in result.stderr
    assert not (tmp_path / "out.pt").exists()


# -- ONNX and torch files --------------------------------------------------------------------


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("bias", [True, False])
def test_onnx(op: str, direction: str, bias: bool, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    from tests.test_onnx import BATCH, rnn_model, save

    model, _ = rnn_model(op, 6, 4, direction=direction, bias=bias, layout=1)
    src = save(model, tmp_path)
    (module,) = convert_both(src, tmp_path).values()
    x = np.random.default_rng(2).uniform(-1, 1, (BATCH, SEQ, 6)).astype(np.float32)
    y = ReferenceEvaluator(model).run(None, {"X": x})[0]  # [batch, seq, dirs, hidden]
    want = y.reshape(BATCH, SEQ, -1)
    check(f"onnx {op} {direction} bias={bias}", torch_run(module, x), want)


def test_torch_checkpoint_renamed_and_nested(tmp_path: Path) -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 4, num_layers=2, bidirectional=True, proj_size=2)
    gru = nn.GRUCell(3, 6)
    src = tmp_path / "ckpt.pt"
    state = {f"encoder.rnn.{k}": v for k, v in lstm.state_dict().items()}
    state |= {f"cell.{k}": v for k, v in gru.state_dict().items()}
    torch.save({"epoch": 3, "model": state}, src)
    run_convert(src, tmp_path / "out.safetensors")
    out = safetensors_torch.load_file(str(tmp_path / "out.safetensors"))
    assert set(out) == {f"encoder.rnn.{k}" for k in lstm.state_dict()} | {
        f"cell.{k}" for k in gru.state_dict()
    }
    copy = nn.LSTM(5, 4, num_layers=2, bidirectional=True, proj_size=2)
    copy.load_state_dict(
        {k.removeprefix("encoder.rnn."): v for k, v in out.items() if k.startswith("encoder.")},
        strict=True,
    )
    x = torch.randn(SEQ, 2, 5)
    with torch.no_grad():
        check("torch LSTM renamed", copy(x)[0].numpy(), lstm(x)[0].numpy())


# -- the command's rules -----------------------------------------------------------------------


def test_overwrite_needs_force_and_writing_is_atomic(tmp_path: Path) -> None:
    src = tmp_path / "m.keras"
    single(L.LSTM(2)).save(src)
    out = tmp_path / "out.pt"
    out.write_bytes(b"keep")
    result = run_convert(src, out, code=2)
    assert "exists; give --force" in result.stderr
    assert out.read_bytes() == b"keep"
    run_convert(src, out, "--force")
    assert out.read_bytes() != b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "out.pt"]


def test_bad_suffix_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "m.keras"
    single(L.LSTM(2)).save(src)
    result = run_convert(src, tmp_path / "out.npz", code=2)
    assert "must end in .safetensors or .pt" in result.stderr


def test_a_dataset_larger_than_the_file_is_never_read(tmp_path: Path) -> None:
    src = tmp_path / "huge.weights.h5"
    units = 2**13
    with h5py.File(src, "w") as f:
        vars_ = f.create_group("layers/lstm/cell/vars")
        # Declared, never written: 1 GiB of float32 the 20 KB file does not hold.
        vars_.create_dataset("0", shape=(units, 4 * units), dtype="f4", chunks=(64, 64))
        vars_.create_dataset("1", shape=(units, 4 * units), dtype="f4", chunks=(64, 64))
    assert src.stat().st_size < 100_000
    result = run_convert(src, tmp_path / "out.pt", code=1)
    assert "more than the" in result.stderr and "the file holds" in result.stderr


def test_help_and_refusals_before_work_never_import_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    existing = tmp_path / "out.pt"
    existing.write_bytes(b"")
    for argv, code in ((["convert", "--help"], 0), (["convert", "x.keras", str(existing)], 2)):
        script = (
            "import sys\n"
            "from rnnshape.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit as exc:\n"
            f"    assert (exc.code or 0) == {code}, exc.code\n"
            "print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert "TORCH False" in done.stderr, done.stderr
