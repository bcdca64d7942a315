"""The fast paths never import torch: checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from rnnshape.cli import main
code = main({args!r})
sys.stdout.flush()
print("TORCH_LOADED" if "torch" in sys.modules else "TORCH_ABSENT", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["lstm", "--help"],
        ["lstm", "10", "20", "2", "--dry-run"],
        ["lstm", "100000", "100000", "10", "--dry-run", "--json"],
        ["gru", "10", "20", "--lengths", "5,3,2", "--dry-run", "--json"],
        ["lstm-cell", "10", "20", "--dry-run", "--device", "cuda"],
        ["schema"],
        ["lstm", "10", "20", "2", "--bidirectional", "--explain", "--dry-run", "--json"],
        ["gru-cell", "10", "20", "--explain", "--dry-run"],
        ["lstm", "10", "20", "--proj-size", "20"],  # a usage error is caught before torch
    ],
)
def test_path_does_not_import_torch(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 2), done.stderr
    assert done.stderr.strip().splitlines()[-1] == "TORCH_ABSENT", done.stderr


def test_probe_detects_torch_when_a_real_run_happens() -> None:
    """The probe above can fail: a real run does load torch."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["lstm", "3", "4", "--json"])],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "TORCH_LOADED"


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, rnnshape; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_a_real_run_without_torch_says_so() -> None:
    """With torch unimportable, a real run is a usage error naming the fix; dry runs work."""
    probe = (
        "import sys; sys.modules['torch'] = None\n"
        "from rnnshape.cli import main\n"
        "sys.exit(main(['lstm', '10', '20', '--json']))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: a real run needs PyTorch")
    assert "--dry-run" in done.stderr
