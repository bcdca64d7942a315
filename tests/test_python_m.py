"""``python -m rnnshape`` imports what the console script imports: never a module that lies
in the working folder (``-m`` puts that folder first on ``sys.path``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the commands below import, or would import, by these names.
PLANTED = ("yaml", "onnx", "picklescan", "typer", "rich", "numpy", "safetensors")


def _plant(folder: Path) -> None:
    for name in PLANTED:
        marker = folder / f"imported-{name}"
        (folder / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'w').close()\nraise SystemExit('planted {name} ran')\n"
        )


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["lstm", "10", "20", "2", "--dry-run"],
        ["check", "spec.yaml"],
        ["infer", "model.onnx"],
        ["schema"],
    ],
)
def test_planted_modules_in_the_working_folder_are_not_imported(
    tmp_path: Path, args: list[str]
) -> None:
    _plant(tmp_path)
    (tmp_path / "spec.yaml").write_text("type: lstm\ninput_size: 10\nhidden_size: 20\n")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")  # not a model: read, refused, exit 1
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONSAFEPATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    ran = sorted(p.name for p in tmp_path.glob("imported-*"))
    assert ran == [], (ran, done.stderr)
    assert "planted" not in done.stderr
    assert done.returncode in (0, 1), done.stderr  # the command's own answer
    assert "please report it" not in done.stderr


def test_the_control_planted_module_does_run_when_imported(tmp_path: Path) -> None:
    """The recipe is live: with the folder on the path, the planted module runs."""
    _plant(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "import yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (tmp_path / "imported-yaml").exists()
    assert "planted yaml ran" in done.stderr
