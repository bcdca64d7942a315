"""``rnnshape infer`` on checkpoints made from whole models, in every format; torch is oracle."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from safetensors.torch import save_file
from torch import nn

from rnnshape import __version__
from rnnshape.checkpoint import (
    CheckpointFormat,
    InferResult,
    TensorInfo,
    infer_checkpoint,
    infer_state_dict,
    read_checkpoint,
    read_torchscript_trusted,
)
from rnnshape.cli import main
from rnnshape.family import Mode, make_spec
from rnnshape.render.formats import OutputFormat
from rnnshape.render.infer import RENDERERS, render_tables

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())
RECURRENT = (nn.RNNBase, nn.RNNCellBase)


# --- models as users write them ----------------------------------------------------------


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.rnn = nn.LSTM(16, 32, num_layers=2, bidirectional=True, proj_size=8)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(src))
        return out


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.rnn = nn.GRU(32, 24, num_layers=3, bias=False)
        self.cell = nn.LSTMCell(24, 12)
        self.head = nn.Linear(12, 100)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.embed(tokens), context], dim=-1)
        y, _ = self.rnn(x)
        h, _ = self.cell(y[-1])
        return self.head(h)


class Seq2Seq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.bridge = nn.Linear(16, 16)
        self.decoder = Decoder()
        self.aux = nn.RNN(16, 6, nonlinearity="relu", batch_first=True)
        self.gate = nn.RNNCell(16, 5)
        self.norm = nn.LayerNorm(16)

    def forward(self, src: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        memory = self.norm(self.bridge(self.encoder(src)))
        aux, _ = self.aux(memory)
        g = self.gate(memory[-1])
        return self.decoder(tokens, memory) + aux.sum() + g.sum()


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 100, (7, 2)), torch.randint(0, 100, (7, 2))


def expected_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The recurrent submodules by the prefix of their parameters: torch's own view."""
    return {
        (f"{name}." if name else ""): m
        for name, m in model.named_modules()
        if isinstance(m, RECURRENT)
    }


def known_config(module: nn.Module, unknown: list[str]) -> dict[str, Any]:
    """The constructor arguments that the torch module holds, minus what weights cannot tell."""
    names = ["input_size", "hidden_size", "bias"]
    if isinstance(module, nn.RNNBase):
        names += ["num_layers", "bidirectional"]
        if isinstance(module, nn.LSTM):
            names.append("proj_size")
    return {n: getattr(module, n) for n in names if n not in unknown}


def own_shapes(state: dict[str, torch.Tensor], prefix: str) -> dict[str, tuple[int, ...]]:
    """The tensors directly under ``prefix`` (not a submodule's), by their local name."""
    return {
        k[len(prefix) :]: tuple(v.shape)
        for k, v in state.items()
        if k.startswith(prefix) and "." not in k[len(prefix) :]
    }


def assert_rebuilds(entry: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """The inferred config, given to torch, makes a module with exactly the shapes found."""
    rebuilt = getattr(nn, entry["module"])(**entry["config"])
    want = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    assert own_shapes(state, entry["prefix"]) == want, entry


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def infer_json(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "infer", str(path), "--json", *extra)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    return doc


def check_against_model(
    doc: dict[str, Any], model: nn.Module, state: dict[str, torch.Tensor], container: str | None
) -> None:
    expected = expected_modules(model)
    found = {m["prefix"]: m for m in doc["modules"]}
    assert sorted(found) == sorted(expected)  # safetensors sorts names; torch keeps order
    for prefix, module in expected.items():
        entry = found[prefix]
        assert entry["module"] == type(module).__name__
        assert entry["container"] == container
        for key, value in known_config(module, entry["unknown"]).items():
            assert entry["config"][key] == value, (prefix, key)
        assert entry["num_parameters"] == sum(p.numel() for p in module.parameters())
        dtypes = {str(p.dtype).removeprefix("torch.") for p in module.parameters()}
        assert entry["dtype"] == (dtypes.pop() if len(dtypes) == 1 else "mixed")
        assert_rebuilds(entry, state)
    assert doc["problems"] == []


@pytest.fixture(scope="module")
def model() -> Seq2Seq:
    torch.manual_seed(0)
    m = Seq2Seq()
    m(*example_inputs())  # a model that runs, as a user's would
    return m


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize("zipfile_format", [True, False], ids=["zip", "legacy"])
def test_torch_save_of_a_state_dict(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str], zipfile_format: bool
) -> None:
    path = tmp_path / "model.pt"
    state = model.state_dict()
    torch.save(state, path, _use_new_zipfile_serialization=zipfile_format)
    doc = infer_json(capsys, path)
    assert doc["file"] == str(path) and doc["format"] == "torch"
    check_against_model(doc, model, state, None)
    rnn = next(m for m in doc["modules"] if m["module"] == "RNN")
    assert rnn["unknown"] == ["nonlinearity", "batch_first", "dropout"]
    assert rnn["config"]["nonlinearity"] == "tanh" and rnn["config"]["batch_first"] is False
    cell = next(m for m in doc["modules"] if m["module"] == "RNNCell")
    assert cell["unknown"] == ["nonlinearity"]
    lstm = next(m for m in doc["modules"] if m["module"] == "LSTM")
    assert lstm["unknown"] == ["batch_first", "dropout"]


def test_training_state_container(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    optimizer = torch.optim.Adam(model.parameters())
    loss = model(*example_inputs()).sum()
    loss.backward()
    optimizer.step()
    state = model.state_dict()
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "model": state, "optimizer": optimizer.state_dict(), "loss": 1.5}, path)
    doc = infer_json(capsys, path)
    check_against_model(doc, model, state, "model")


def test_state_dict_nested_deeper_and_twice(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = model.state_dict()
    wrapped = {"module." + k: v for k, v in model.encoder.state_dict().items()}
    path = tmp_path / "run.ckpt"
    torch.save({"state": {"ema": state}, "parallel": [wrapped]}, path)
    doc = infer_json(capsys, path)
    containers = [(m["container"], m["prefix"]) for m in doc["modules"]]
    assert ("state.ema", "encoder.rnn.") in containers
    assert ("parallel.0", "module.rnn.") in containers
    assert len(containers) == len(expected_modules(model)) + 1


@pytest.mark.parametrize("export", ["script", "trace"])
def test_torchscript_archive(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str], export: str
) -> None:
    scripted = (
        torch.jit.script(model) if export == "script" else torch.jit.trace(model, example_inputs())
    )
    path = tmp_path / "scripted.jit"
    torch.jit.save(scripted, str(path))
    doc = infer_json(capsys, path)
    assert doc["format"] == "torchscript"
    check_against_model(doc, model, model.state_dict(), None)
    # The fallback for --trust-torchscript reads the same through torch.jit.load.
    trusted = read_torchscript_trusted(str(path)).state_dicts[0].tensors
    assert trusted == read_checkpoint(str(path)).state_dicts[0].tensors


def test_safetensors_export_with_half_precision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    model = Seq2Seq()
    model.encoder.half()
    model.decoder.to(torch.bfloat16)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "weights.bin"  # the suffix says nothing: content decides
    save_file(state, str(path))
    doc = infer_json(capsys, path)
    assert doc["format"] == "safetensors"
    check_against_model(doc, model, state, None)
    dtypes = {m["prefix"]: m["dtype"] for m in doc["modules"]}
    assert dtypes["encoder.rnn."] == "float16"
    assert dtypes["decoder.rnn."] == "bfloat16"
    assert dtypes["aux."] == "float32"


def test_mixed_dtype_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = nn.GRU(3, 4).state_dict()
    state["bias_hh_l0"] = state["bias_hh_l0"].half()
    save_file(state, str(tmp_path / "m.safetensors"))
    doc = infer_json(capsys, tmp_path / "m.safetensors")
    assert doc["modules"][0]["dtype"] == "mixed"
    assert doc["modules"][0]["prefix"] == ""


def test_table_names_each_module(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    code, out, err = run_cli(capsys, "infer", str(path))
    assert code == 0 and err == ""
    assert "nn.LSTM(16, 32, num_layers=2, bidirectional=True, proj_size=8)" in out
    assert "rnnshape lstm 16 32 2 --bidirectional --proj-size 8" in out
    assert "nn.GRU(32, 24, num_layers=3, bias=False)" in out
    assert "rnnshape gru 32 24 3 --no-bias" in out
    assert "decoder.cell" in out and "nn.LSTMCell(24, 12)" in out
    assert "torch checkpoint" in out


def test_every_output_format_has_an_emitter() -> None:
    assert set(RENDERERS) == set(OutputFormat)


# --- --spec ------------------------------------------------------------------------------


def test_spec_output_feeds_make_spec_and_check(
    model: Seq2Seq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = model.state_dict()
    path = tmp_path / "model.pt"
    ema = {k: v.clone() for k, v in state.items()}
    torch.save({"model": state, "ema": ema}, path)
    code, out, err = run_cli(capsys, "infer", str(path), "--spec")
    assert code == 0, err
    doc = yaml.safe_load(out)
    models = doc["models"]
    expected = expected_modules(model)
    assert len(models) == 2 * len(expected)  # the same prefixes twice, named apart
    for prefix in expected:
        assert prefix.removesuffix(".") in models
    for name, entry in models.items():
        kwargs = {k: v for k, v in entry.items() if k not in ("type", "expect")}
        spec = make_spec(entry["type"], **kwargs)
        assert spec.mode.torch_class in {type(m).__name__ for m in expected.values()}
        assert entry["expect"]["num_parameters"] > 0, name
    spec_file = tmp_path / "model.yaml"
    spec_file.write_text(out)
    pytest.importorskip("rnnshape.check")
    assert main(["check", str(spec_file)]) == 0, capsys.readouterr()


def test_spec_name_for_a_bare_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(nn.GRUCell(3, 4).state_dict(), tmp_path / "cell.pt")
    torch.save(nn.Sequential(nn.LSTM(3, 4)).state_dict(), tmp_path / "seq.pt")
    code, out, _ = run_cli(capsys, "infer", str(tmp_path / "cell.pt"), "--spec")
    assert code == 0
    assert yaml.safe_load(out)["models"]["model"]["type"] == "gru_cell"
    code, out, _ = run_cli(capsys, "infer", str(tmp_path / "seq.pt"), "--spec")
    assert code == 0
    assert yaml.safe_load(out)["models"]["0"]["type"] == "lstm"  # quoted: not the integer 0


# --- many generated checkpoints ----------------------------------------------------------

PREFIXES = ["", "rnn.", "model.encoder.rnn.", "layers.0.", "a.b.c.d.", "module.decoder."]


@st.composite
def recurrent_modules(draw: st.DrawFn) -> tuple[str, nn.Module]:
    mode = draw(st.sampled_from(list(Mode)))
    input_size = draw(st.integers(1, 9))
    hidden = draw(st.integers(1, 9))
    kwargs: dict[str, Any] = {"bias": draw(st.booleans())}
    if not mode.is_cell:
        kwargs["num_layers"] = draw(st.integers(1, 3))
        kwargs["bidirectional"] = draw(st.booleans())
        if mode is Mode.LSTM and hidden > 1 and draw(st.booleans()):
            kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    if mode in (Mode.RNN, Mode.RNN_CELL):
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64]))
    module = getattr(nn, mode.torch_class)(input_size, hidden, **kwargs).to(dtype)
    return mode.value, module


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    modules=st.lists(recurrent_modules(), min_size=1, max_size=3),
    prefixes=st.permutations(PREFIXES),
    fmt=st.sampled_from(["zip", "legacy", "safetensors"]),
)
def test_generated_checkpoints_rebuild_in_torch(
    tmp_path: Path, modules: list[tuple[str, nn.Module]], prefixes: list[str], fmt: str
) -> None:
    state: dict[str, torch.Tensor] = {}
    owners: dict[str, nn.Module] = {}
    for (_, module), prefix in zip(modules, prefixes, strict=False):
        owners[prefix] = module
        state.update({prefix + k: v for k, v in module.state_dict().items()})
    path = tmp_path / f"generated-{fmt}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=fmt == "zip")
    doc = infer_checkpoint(str(path)).to_dict()
    jsonschema.validate(doc, SCHEMA)
    found = {m["prefix"]: m for m in doc["modules"]}
    assert set(found) == set(owners) and doc["problems"] == []
    for prefix, module in owners.items():
        entry = found[prefix]
        assert entry["module"] == type(module).__name__
        assert {k: entry["config"][k] for k in known_config(module, [])} == known_config(module, [])
        assert entry["dtype"] == str(next(module.parameters()).dtype).removeprefix("torch.")
        assert_rebuilds(entry, state)


# --- safetensors never needs torch -------------------------------------------------------

PROBE = """
import sys
from rnnshape.cli import main
code = main({args!r})
sys.stdout.flush()
print("TORCH_LOADED" if "torch" in sys.modules else "TORCH_ABSENT", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("extra", [[], ["--json"], ["--spec"]])
def test_safetensors_and_help_do_not_import_torch(tmp_path: Path, extra: list[str]) -> None:
    path = tmp_path / "model.safetensors"
    save_file(nn.LSTM(4, 6, num_layers=2).state_dict(), str(path))
    for args in (["infer", str(path), *extra], ["infer", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(args=args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == "TORCH_ABSENT", done.stderr


def test_the_console_script_runs(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(nn.GRU(4, 6, bidirectional=True).state_dict(), str(path))
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", "infer", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["modules"][0]["constructor"] == (
        "nn.GRU(4, 6, bidirectional=True)"
    )


# --- golden output -----------------------------------------------------------------------

def golden_result() -> InferResult:
    """A fixed result: shapes from a torch model, a file name that does not vary."""
    torch.manual_seed(0)
    state = {"model": dict(Seq2Seq().state_dict())}
    tensors = {
        k: TensorInfo(tuple(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in state["model"].items()
    }
    del tensors["decoder.rnn.weight_hh_l2"]
    modules, problems = infer_state_dict(tensors, "model")
    return InferResult(
        "checkpoint.pt", CheckpointFormat.TORCH, tuple(modules), tuple(problems), len(tensors)
    )


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_output_matches_golden(fmt: OutputFormat, golden: Callable[[str, str], None]) -> None:
    out = io.StringIO()
    if fmt is OutputFormat.TABLE:
        render_tables(golden_result(), Console(width=80, file=out, color_system=None))
    else:
        RENDERERS[fmt](golden_result(), out)
    text = out.getvalue().replace(__version__, "VERSION")
    golden(f"infer_seq2seq.{fmt.value}.txt", text)
