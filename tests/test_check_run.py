"""``rnnshape check --run`` builds each module in torch; without it torch is never imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rnnshape.cli import main
from rnnshape.formulas import TensorShape, tensor_shapes

SPECS = """
models:
  encoder:
    type: lstm
    input_size: 10
    hidden_size: 20
    num_layers: 2
    bidirectional: true
    input: {lengths: [4, 2, 1]}
    expect: {output_features: 40, h_n: [4, 3, 20]}
  head:
    type: gru_cell
    input_size: 40
    hidden_size: 8
    input: {unbatched: true}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return str(path)


def test_run_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    path = write(tmp_path, "m.yaml", SPECS)
    code = main(["check", path, "--run", "--device", "cpu", "--dtype", "float64", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    document = json.loads(out)
    assert document["ran_forward"] is True
    encoder, head = document["results"]
    lstm = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    assert encoder["num_parameters"] == sum(p.numel() for p in lstm.parameters())
    assert encoder["output_shape"] == [7, 40]  # packed: sum(lengths) rows
    assert head["output_shape"] == [8]
    assert head["num_parameters"] == sum(p.numel() for p in torch.nn.GRUCell(40, 8).parameters())


def test_verify_rule_when_torch_and_formulas_disagree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")

    def off_by_one(*args: Any) -> list[TensorShape]:
        return [
            TensorShape(t.name, (*t.shape[:-1], t.shape[-1] + 1), t.dims, t.direction)
            if t.name == "output"
            else t
            for t in tensor_shapes(*args)
        ]

    monkeypatch.setattr("rnnshape.pipeline.tensor_shapes", off_by_one)
    path = write(tmp_path, "m.yaml", "type: gru\ninput_size: 3\nhidden_size: 4\n")
    code = main(["check", path, "--run"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert out.startswith(f"{path}: line 1: torch and rnnshape's formulas disagree")
    code = main(["check", path, "--run", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert [e["rule"] for e in document["results"][0]["errors"]] == ["verify"]


@pytest.mark.parametrize(
    ("option", "fragment"), [("--device=tpu", "--device 'tpu'"), ("--dtype=int8", "--dtype 'int8'")]
)
def test_run_with_a_device_or_dtype_that_cannot_be_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, fragment: str
) -> None:
    path = write(tmp_path, "m.yaml", "type: gru\ninput_size: 3\nhidden_size: 4\n")
    code = main(["check", path, "--run", option])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {fragment}")


PROBE = """
import sys
from rnnshape.cli import main
code = main({args!r})
sys.stdout.flush()
print("TORCH_LOADED" if "torch" in sys.modules else "TORCH_ABSENT", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(("run", "loaded"), [(False, "TORCH_ABSENT"), (True, "TORCH_LOADED")])
def test_check_imports_torch_only_with_run(tmp_path: Path, run: bool, loaded: str) -> None:
    good = write(tmp_path, "good.yaml", SPECS)
    bad = write(
        tmp_path, "bad.toml", 'type = "lstm"\ninput_size = 3\nhidden_size = 3\nproj_size = 3\n'
    )
    data = write(tmp_path, "m.json", '{"type": "rnn", "input_size": 1, "hidden_size": 2}')
    args = ["check", good, bad, data, "--json", *(["--run"] if run else [])]
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr  # bad.toml fails, the others are checked
    assert len(json.loads(done.stdout)["results"]) == 4
    assert done.stderr.strip().splitlines()[-1] == loaded, done.stderr
