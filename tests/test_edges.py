"""Small edges: a device name matched whole, Ctrl-C's exit code, torch's warnings held back
under --trust-torchscript."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from rnnshape.cli import main
from rnnshape.errors import SpecError
from rnnshape.family import check_device_name

BAD_DEVICES = ["cpu\n", "cpu ", " cpu", "cuda:0\n", "cuda:١", "cuda:", "CPU", "", "cpu\x00"]


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_check_device_name_matches_the_whole_string(device: str) -> None:
    with pytest.raises(SpecError):
        check_device_name(device)


@pytest.mark.parametrize("device", ["cpu", "mps", "auto", "cuda", "cuda:0", "cuda:12"])
def test_check_device_name_accepts_the_documented_names(device: str) -> None:
    assert check_device_name(device) == device


@pytest.mark.parametrize("dry_run", [["--dry-run"], []])
@pytest.mark.parametrize("device", ["cpu\n", "cuda:١"])
def test_a_bad_device_is_exit_2_with_or_without_dry_run(
    device: str, dry_run: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lstm", "2", "3", "--device", device, *dry_run])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: --device ") and "must be cpu, cuda" in err
    assert err.count("\n") == 1 and "unexpected" not in err


def test_check_run_refuses_a_bad_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("type: lstm\ninput_size: 2\nhidden_size: 3\n")
    code = main(["check", str(path), "--run", "--device", "cpu\n"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("error: --device 'cpu\\n'")


def test_an_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rnnshape.pipeline

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rnnshape.pipeline, "run_report", interrupted)
    assert main(["lstm", "2", "3", "--dry-run"]) == 130
    assert capsys.readouterr() == ("", "error: interrupted\n")


# --- --trust-torchscript: torch's warnings -----------------------------------------------------


def test_trusted_load_holds_python_and_c10_warnings(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A UserWarning and a line that c10 writes to fd 2 become notes; the noise is dropped;
    any other line on fd 2 passes on, escaped."""
    torch = pytest.importorskip("torch")
    from rnnshape.torchrun.torchscript import load_state_shapes

    class Loaded:
        def state_dict(self) -> dict[str, object]:
            return {"weight_ih_l0": torch.zeros(4, 2)}

    def load(*_: object, **__: object) -> Loaded:
        warnings.warn("the archive was saved by a newer torch", UserWarning, stacklevel=1)
        warnings.warn("`torch.jit.load` is deprecated.", DeprecationWarning, stacklevel=1)
        os.write(2, b"[W1201 00:56:05.36 Quantizer.cpp:111] Warning: odd storage (function f)\n")
        os.write(
            2, b"[W1201 00:56:05.36 Quantizer.cpp:111] Warning: x is deprecated (function f)\n"
        )
        os.write(2, b"printed by the archive\x1b[2J\n")
        return Loaded()

    monkeypatch.setattr(torch.jit, "load", load)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        shapes = load_state_shapes("scripted.pt", notes)
    assert shapes == {"weight_ih_l0": ((4, 2), "float32")}
    assert sorted(notes) == ["torch: odd storage", "torch: the archive was saved by a newer torch"]
    assert outside == []
    assert capfd.readouterr().err == "printed by the archive\\x1b[2J\n"


def test_trust_torchscript_prints_no_raw_torch_warning(tmp_path: Path) -> None:
    """A real archive that only torch can read (a dynamically quantized LSTM): stderr holds
    no ``UserWarning``/``DeprecationWarning`` text nor c10's ``[W...]`` lines."""
    torch = pytest.importorskip("torch")
    model = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(torch.nn.LSTM(3, 4)), {torch.nn.LSTM}, dtype=torch.qint8
    )
    path = tmp_path / "quantized.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(model).save(str(path))
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    child = subprocess.run(
        [sys.executable, "-m", "rnnshape", "infer", str(path), "--trust-torchscript"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode in (0, 1), child.stderr
    assert "Warning" not in child.stderr and "[W" not in child.stderr, child.stderr
    assert "Traceback" not in child.stderr
    assert all(line.startswith(("error: ", "warning: ")) for line in child.stderr.splitlines())
