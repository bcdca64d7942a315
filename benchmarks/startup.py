"""Whole-process start-up cost of rnnshape against what a user would otherwise run.

Times, alternating the two commands of each pair so that machine noise hits both alike:
  * a full run (`--json`, and the table) against the hand-written script a user would
    write (import torch, build nn.LSTM(10, 20, 2), one forward pass, print shapes as JSON);
  * `rnnshape --help` against the `--help` of a minimal Typer app with the same commands
    (built here: same names and one-line docstrings, no options), the floor for any Typer
    CLI's Rich-formatted help;
  * `--dry-run --json` (and the tables) against `python -c "import typer, rich"`.
Prints the median of each command's wall time and the median of the per-pair ratios.

    python benchmarks/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import compile_package, console_script

HAND_WRITTEN = """
import json, torch
from torch import nn
m = nn.LSTM(10, 20, num_layers=2)
x = torch.randn(5, 3, 10)
out, (h, c) = m(x)
print(json.dumps({"params": {n: list(p.shape) for n, p in m.named_parameters()},
                  "output": list(out.shape), "h_n": list(h.shape), "c_n": list(c.shape)}))
"""


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def compare(
    name: str, cmd: list[str], base: list[str], runs: int, target: float | None = None
) -> None:
    wall(cmd), wall(base)  # warm the file cache
    ours, theirs, ratios = [], [], []
    for i in range(runs):
        pair = [(cmd, ours), (base, theirs)]
        for command, sink in pair if i % 2 == 0 else reversed(pair):
            sink.append(wall(command))
        ratios.append(ours[-1] / theirs[-1])
    ratio = statistics.median(ratios)
    verdict = ""
    if target is not None:
        verdict = f"  (target <= {target:.2f}: {'ok' if ratio <= target else 'OVER TARGET'})"
    print(
        f"{name:<28} {statistics.median(ours):7.3f} s  vs {statistics.median(theirs):7.3f} s"
        f"  ratio {ratio:5.3f}{verdict}"
    )


BREAKDOWN = """
import contextlib, io, time
import torch
from torch import nn
t = time.perf_counter(); nn.LSTM(10, 20, num_layers=2)(torch.randn(5, 3, 10))
raw = time.perf_counter() - t
t = time.perf_counter(); from rnnshape.cli import main
imported = time.perf_counter() - t
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    main(["lstm", "10", "20", "2", "--json"])
run = time.perf_counter() - t
import gc; gc.freeze()  # as the command does after its run
t = time.perf_counter(); import rich.console, rich.table
rich_import = time.perf_counter() - t
import rnnshape
from rnnshape.render.report import render_tables
report = rnnshape.inspect("lstm", 10, 20, 2, run=False)
t = time.perf_counter()
render_tables(report, rich.console.Console(file=io.StringIO(), width=80))
render = time.perf_counter() - t
print(f"  import rnnshape.cli (Typer included)    {imported * 1000:6.1f} ms")
print(f"  --json run, torch already imported      {run * 1000:6.1f} ms"
      f"  (a bare first build + forward: {raw * 1000:.1f} ms)")
print(f"  tables: import Rich console and table   {rich_import * 1000:6.1f} ms")
print(f"  tables: render the five tables          {render * 1000:6.1f} ms")
"""


def minimal_app(path: Path) -> Path:
    """A Typer app with rnnshape's commands and nothing else, written to ``path``."""
    from rnnshape.family import Mode

    lines = [
        "import typer",
        "app = typer.Typer(name='rnnshape', no_args_is_help=True, add_completion=False)",
        "@app.callback()",
        "def root() -> None:",
        "    'Show exactly what a PyTorch recurrent layer holds and returns.'",
    ]
    commands = [(m.value, m.family.summary) for m in Mode]
    commands += [("check", "Check specs."), ("infer", "Infer layers."), ("schema", "Schemas.")]
    for i, (name, doc) in enumerate(commands):
        lines += [f"@app.command({name!r})", f"def c{i}() -> None:", f"    {doc!r}"]
    lines.append("app()")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    (exe,) = console_script()
    py = sys.executable
    compile_package()
    hand = [py, "-c", HAND_WRITTEN]
    light = [py, "-c", "import typer, rich"]
    print(f"median of {runs} alternating runs each, python {sys.version.split()[0]}")
    compare(
        "rnnshape lstm 10 20 2 --json", [exe, "lstm", "10", "20", "2", "--json"], hand, runs, 1.05
    )
    compare("rnnshape lstm 10 20 2", [exe, "lstm", "10", "20", "2"], hand, runs, 1.10)
    # rnnshape freezes the garbage collector after its run, which also spares it the
    # collector's pass over torch's objects at exit; like for like, the script does too:
    frozen = [py, "-c", HAND_WRITTEN + "import gc; gc.freeze()\n"]
    print("against the same script ending with gc.freeze():")
    compare(
        "rnnshape lstm 10 20 2 --json", [exe, "lstm", "10", "20", "2", "--json"], frozen, runs, 1.05
    )
    compare("rnnshape lstm 10 20 2", [exe, "lstm", "10", "20", "2"], frozen, runs, 1.10)
    with tempfile.TemporaryDirectory() as tmp:
        minimal = [py, str(minimal_app(Path(tmp) / "minimal_typer_app.py")), "--help"]
        compare("rnnshape --help", [exe, "--help"], minimal, runs, 1.05)
    print('against python -c "import typer, rich":')
    compare("rnnshape --help", [exe, "--help"], light, runs)
    dry = [exe, "lstm", "10", "20", "2", "--dry-run"]
    compare("... --dry-run --json", [*dry, "--json"], light, runs, 1.15)
    compare("... --dry-run (tables)", dry, light, runs)
    print("where a full run's extra time goes (one process, after import torch):")
    subprocess.run([py, "-c", BREAKDOWN], check=True)


if __name__ == "__main__":
    main()
