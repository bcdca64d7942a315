"""Whole-process time of ``rnnshape check`` over 50 config files, as pre-commit runs it.

Writes 50 generated configs (YAML, JSON and TOML; single specs, lists, ``models:``
mappings and multi-document YAML, with expectations) to a temporary folder, then times
the installed console script over all of them, interpreter start included, alternating
with the ``python -c "import typer, rich"`` baseline so that machine noise hits both alike.
Prints the median wall time of each; the target is under 0.5 s.

    python benchmarks/check_speed.py [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import compile_package, console_script

FILES = 50
TYPES = ("lstm", "gru", "rnn", "lstm_cell", "gru_cell", "rnn_cell")


def lstm_params(h_in: int, h: int) -> int:
    return 4 * h * (h_in + h) + 8 * h


def write_configs(folder: Path) -> list[str]:
    paths = []
    for i in range(FILES):
        kind = TYPES[i % len(TYPES)]
        spec = {"type": kind, "input_size": 8 + i, "hidden_size": 16 + i}
        if i % 3 == 0:
            path = folder / f"model_{i:02}.json"
            path.write_text(json.dumps({"models": {"encoder": spec, "decoder": spec}}))
        elif i % 3 == 1:
            path = folder / f"model_{i:02}.toml"
            path.write_text(
                f'type = "{kind}"\ninput_size = {8 + i}\nhidden_size = {16 + i}\n'
                f"[expect]\noutput_features = {16 + i}\n"
            )
        else:
            path = folder / f"model_{i:02}.yaml"
            path.write_text(
                f"type: lstm\ninput_size: {8 + i}\nhidden_size: {16 + i}\n"
                f"expect:\n  max_parameters: {lstm_params(8 + i, 16 + i)}\n"
                "  output: [5, null, null]\n"
                f"---\ntype: {kind}\ninput_size: 4\nhidden_size: 4\n"
            )
        paths.append(str(path))
    return paths


def timed(command: list[str], expect_code: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != expect_code:
        raise SystemExit(f"{command[:3]} exited {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    check = console_script()
    compile_package()
    baseline = [sys.executable, "-c", "import typer, rich"]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_configs(Path(folder))
        command = [*check, "check", *paths]
        timed(command, 0)  # warm the file cache and the bytecode
        times: dict[str, list[float]] = {"check": [], "baseline": []}
        for _ in range(args.runs):
            times["check"].append(timed(command, 0))
            times["baseline"].append(timed(baseline, 0))
    check_s = statistics.median(times["check"])
    base_s = statistics.median(times["baseline"])
    print(f"rnnshape check over {FILES} files: median {check_s:.3f} s of {args.runs} runs")
    print(f'python -c "import typer, rich": median {base_s:.3f} s')
    print(f"target: under 0.5 s -> {'met' if check_s < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
