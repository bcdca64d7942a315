"""``rnnshape infer`` on hostile, broken and incomplete files: one clear line, never a traceback."""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from rnnshape.cli import main

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def assert_one_error(capsys: pytest.CaptureFixture[str], path: Path, *words: str) -> str:
    code, out, err = run_cli(capsys, "infer", str(path))
    assert code == 1, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in err, err
    return err


# --- code in the file is never run -------------------------------------------------------


class OpenFile:
    """Unpickling this creates ``marker`` through builtins.open."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return (open, (str(self.marker), "w"))


class Shell:
    """Unpickling this runs ``touch marker`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


PAYLOADS = [OpenFile, Shell]
SAVERS: dict[str, Callable[[object, Path], None]] = {
    "pickle": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=2)),
    "torch-zip": lambda obj, path: torch.save(obj, path),
    "torch-legacy": lambda obj, path: torch.save(obj, path, _use_new_zipfile_serialization=False),
}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_payload_is_live(tmp_path: Path, payload: type) -> None:
    """Control: a plain pickle.loads of the same bytes does create the marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(payload(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("saver", list(SAVERS))
@pytest.mark.parametrize("payload", PAYLOADS)
def test_malicious_pickle_is_refused_and_never_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: type, saver: str
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    state = dict(nn.LSTM(3, 4).state_dict())
    obj = payload(marker) if saver == "pickle" else {"model": state, "hook": payload(marker)}
    SAVERS[saver](obj, path)
    err = assert_one_error(capsys, path, "refused", "nothing from it was run")
    assert not marker.exists()
    assert ("open" if payload is OpenFile else "system") in err


@dataclass
class TrainingConfig:
    hidden: int = 20


def test_a_pickled_class_next_to_good_weights_is_recorded_not_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10 changed this contract: the class is a placeholder, the weights are read."""
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": nn.GRU(3, 4).state_dict(), "config": TrainingConfig()}, path)
    code, out, err = run_cli(capsys, "infer", str(path), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [m["constructor"] for m in doc["modules"]] == ["nn.GRU(3, 4)"]
    assert doc["skipped_objects"] == [
        {"type": f"{TrainingConfig.__module__}.TrainingConfig", "count": 1}
    ]


def test_a_whole_pickled_module_is_read_as_its_state_dict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: nothing of the module is built; its parameters are named as state_dict()."""
    path = tmp_path / "model.pt"
    torch.save(nn.Sequential(nn.LSTM(3, 4)), path)
    code, out, err = run_cli(capsys, "infer", str(path), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(m["prefix"], m["constructor"]) for m in doc["modules"]] == [("0.", "nn.LSTM(3, 4)")]
    assert doc["skipped_objects"] == [
        {"type": "torch.nn.modules.container.Sequential", "count": 1}
    ]


def _torchscript_with(payload: object, tmp_path: Path) -> Path:
    """A real TorchScript archive whose data.pkl is replaced by one holding ``payload``."""
    source = tmp_path / "good.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(source))
    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                data = pickle.dumps({"weights": payload}, protocol=2)
            dst.writestr(item, data)
    return path


def test_torchscript_that_needs_code_is_refused_unless_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    path = _torchscript_with(Shell(marker), tmp_path)
    assert_one_error(capsys, path, "TorchScript", "--trust-torchscript", "system")
    assert not marker.exists()
    # Trusted, torch.jit.load gets the file; its own unpickler refuses the global too.
    code, out, err = run_cli(capsys, "infer", str(path), "--trust-torchscript")
    assert code == 1 and out == "" and err.startswith("error: ")
    assert not marker.exists()


# --- files that are not readable checkpoints ---------------------------------------------


def _lstm_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return dict(nn.LSTM(8, 16, num_layers=2).state_dict())


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def make_truncated_zip(p: Path) -> None:
    torch.save(_lstm_state(), p)
    _truncate(p, 0.6)


def make_truncated_legacy(p: Path) -> None:
    torch.save(_lstm_state(), p, _use_new_zipfile_serialization=False)
    _truncate(p, 0.8)


def make_truncated_safetensors(p: Path) -> None:
    save_file(_lstm_state(), str(p))
    _truncate(p, 0.9)


def make_corrupt_data_pkl(p: Path) -> None:
    torch.save(_lstm_state(), p)
    data = bytearray(p.read_bytes())
    at = data.index(b"rnn" if b"rnn" in data else b"weight_ih_l0")
    data[at : at + 4] = b"\xff\xfe\xfd\xfc"  # the CRC of data.pkl no longer matches
    p.write_bytes(bytes(data))


def make_absurd_header(p: Path) -> None:
    p.write_bytes(struct.pack("<Q", 2**60) + b'{"a": 1}')


def make_header_past_the_end(p: Path) -> None:
    p.write_bytes(struct.pack("<Q", 5000) + b'{"weight_ih_l0": {}}')


def make_bad_header_json(p: Path) -> None:
    header = b'{"weight_ih_l0": {"dtype": "F32", "shape": [4, 2], "data_off'
    p.write_bytes(struct.pack("<Q", len(header)) + header + bytes(32))


def make_offsets_that_disagree(p: Path) -> None:
    header = json.dumps(
        {"weight_ih_l0": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 16]}}
    ).encode()
    p.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))


def make_plain_pickle(p: Path) -> None:
    p.write_bytes(pickle.dumps({"weight_ih_l0": [1, 2, 3]}, protocol=4))


def make_text(p: Path) -> None:
    p.write_text("input_size: 10\nhidden_size: 20\n")


def make_other_zip(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("model/weights.npy", b"\x93NUMPY")


def make_empty(p: Path) -> None:
    p.write_bytes(b"")


BROKEN: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated zip": (make_truncated_zip, ("corrupt or truncated",)),
    "truncated legacy": (make_truncated_legacy, ("truncated",)),
    "truncated safetensors": (make_truncated_safetensors, ("truncated safetensors",)),
    "corrupt data.pkl": (make_corrupt_data_pkl, ("corrupt",)),
    "absurd header length": (make_absurd_header, ("absurd", "1,152,921,504,606,846,976")),
    "header past the end": (make_header_past_the_end, ("truncated safetensors", "5,000")),
    "bad header json": (make_bad_header_json, ("corrupt safetensors header",)),
    "offsets disagree": (make_offsets_that_disagree, ("weight_ih_l0", "32 bytes")),
    "plain pickle": (make_plain_pickle, ("unknown format", "pickle")),
    "text file": (make_text, ("unknown format",)),
    "zip of something else": (make_other_zip, ("unknown format", "data.pkl")),
    "empty file": (make_empty, ("empty file",)),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, words = BROKEN[case]
    path = tmp_path / "model.pt"
    make(path)
    assert_one_error(capsys, path, str(path), *words)


def test_missing_path_and_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_error(capsys, tmp_path / "nope.pt", "no such file")
    assert_one_error(capsys, tmp_path, "is a directory")


def test_no_recurrent_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mlp.pt"
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    torch.save(model.state_dict(), path)
    assert_one_error(capsys, path, "no recurrent layers found", "4 tensors")
    code, out, err = run_cli(capsys, "infer", str(path), "--json")
    assert code == 1 and "no recurrent layers found" in err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["modules"] == [] and doc["problems"] == []


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.safetensors"
    save_file(_lstm_state(), str(path))
    code, out, err = run_cli(capsys, "infer", str(path), "--json", "--spec")
    assert code == 2 and out == "" and err.startswith("error: ")
    code, out, err = run_cli(capsys, "infer", str(path), "--jsn")
    assert code == 2 and out == "" and err.startswith("error: ")
    code, out, err = run_cli(capsys, "infer")
    assert code == 2 and out == ""


# --- incomplete and inconsistent groups --------------------------------------------------


def infer_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: dict[str, torch.Tensor]
) -> tuple[int, dict[str, Any], str]:
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    code, out, err = run_cli(capsys, "infer", str(path), "--json")
    doc: dict[str, Any] = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    return code, doc, err


def prefixed(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in module.state_dict().items()}


def messages(doc: dict[str, Any], prefix: str) -> list[str]:
    return [p["message"] for p in doc["problems"] if p["prefix"] == prefix]


def test_missing_tensor_is_named_and_the_good_module_still_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = prefixed("encoder.", nn.LSTM(4, 8)) | prefixed("decoder.", nn.LSTM(8, 8, 2))
    del state["decoder.weight_hh_l1"]
    code, doc, err = infer_state(tmp_path, capsys, state)
    assert code == 0
    assert [m["prefix"] for m in doc["modules"]] == ["encoder."]
    assert messages(doc, "decoder.") == ["weight_hh_l1 is missing"]
    assert "warning: decoder.: weight_hh_l1 is missing" in err


def test_missing_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = {k: v for k, v in prefixed("rnn.", nn.GRU(4, 8, 3)).items() if "_l1" not in k}
    code, doc, err = infer_state(tmp_path, capsys, state)
    assert code == 1 and doc["modules"] == []
    [message] = messages(doc, "rnn.")
    assert message.startswith("layer 1 is missing") and "weight_ih_l1" in message
    assert "no complete recurrent module" in err


def test_reverse_on_some_layers_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = prefixed("", nn.LSTM(4, 8, 3, bidirectional=True))
    state = {k: v for k, v in state.items() if not k.endswith("_l1_reverse")}
    code, doc, _ = infer_state(tmp_path, capsys, state)
    assert code == 1
    [message] = messages(doc, "")
    assert "reverse" in message and "layer 1" in message and "layers 0, 2" in message


def test_shapes_no_torch_module_would_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = prefixed("a.", nn.LSTM(4, 8, 2))
    state["a.weight_ih_l1"] = torch.zeros(32, 5)
    bad_rows = prefixed("b.", nn.GRU(4, 10))
    bad_rows["b.weight_hh_l0"] = torch.zeros(50, 10)
    partial_bias = prefixed("c.", nn.RNN(4, 8, 2))
    del partial_bias["c.bias_ih_l1"]
    projection = prefixed("d.", nn.LSTM(4, 8, proj_size=3))
    projection["d.weight_hr_l0"] = torch.zeros(8, 8)  # proj_size 8 is not below hidden 8
    cell = prefixed("e.", nn.GRUCell(4, 6))
    cell["e.weight_hh"] = torch.zeros(18, 5)
    code, doc, err = infer_state(
        tmp_path, capsys, state | bad_rows | partial_bias | projection | cell
    )
    assert code == 1 and doc["modules"] == []
    assert messages(doc, "a.") == [
        "weight_ih_l1 has shape (32, 5), but nn.LSTM(4, 8, num_layers=2) holds (32, 8)"
    ]
    [rows] = messages(doc, "b.")
    assert "weight_hh_l0 has shape (50, 10)" in rows and "not 1, 3 or 4" in rows
    assert messages(doc, "c.") == ["bias_ih_l1 is missing"]
    [proj] = messages(doc, "d.")
    assert "proj_size 8 must be smaller than hidden_size 8" in proj
    assert messages(doc, "e.")
    assert err.count("warning: ") == len(doc["problems"])


def test_other_tensor_kinds_are_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = prefixed("rnn.", nn.GRU(4, 8)) | {
        "rnn.weight_ih_l0_raw": torch.zeros(24, 4),  # weight-dropped copies (AWD-LSTM)
        "myweight_hh": torch.zeros(3, 3),  # not a parameter name torch would give
        "step": torch.tensor(3),
    }
    code, doc, _ = infer_state(tmp_path, capsys, state)
    assert code == 0 and [m["prefix"] for m in doc["modules"]] == ["rnn."]
    assert doc["problems"] == []


def test_legacy_storage_walk_detects_a_short_file(tmp_path: Path) -> None:
    """Cutting only the last bytes of the last storage is still caught."""
    path = tmp_path / "legacy.pt"
    torch.save(_lstm_state(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    assert main(["infer", str(path)]) == 1
    path.write_bytes(data)
    assert main(["infer", str(path)]) == 0
    # And the same bytes in a BytesIO are what torch itself reads back.
    assert set(torch.load(io.BytesIO(data), weights_only=True)) == set(_lstm_state())
