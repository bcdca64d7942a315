"""Whether one intra-op thread is the better default for small layers on a CPU.

Times ``--bench`` of a few small and mid-size layers in child processes with torch's
default thread count and with ``OMP_NUM_THREADS=1``, quiet and beside N spinning processes,
and prints median and interquartile range of each.

    python benchmarks/threads.py [--busy 2] [--bench 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LAYERS = [
    ["lstm", "16", "16"],
    ["gru", "64", "64", "--seq", "50", "--batch", "8"],
    ["lstm", "256", "256", "2", "--seq", "50", "--batch", "16"],
    ["lstm", "1024", "1024", "--seq", "20", "--batch", "64"],
]
RUNS = {"lstm 1024 1024 --seq 20 --batch 64": 30}  # slower layers: fewer passes


def bench(args: list[str], threads: str | None, runs: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args, "--bench", str(runs), "--json"]
        + ["--max-seconds", "600"],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)}: {done.stderr.strip()}")
    figures: dict[str, float] = json.loads(done.stdout)["bench"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("--bench", type=int, default=300)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores; median / IQR in ms; 'auto' is rnnshape's own choice")
    print(f"{'layer':<44} {'load':>6} {'auto':>16} {'torch default':>16} {'1 thread':>16}")
    for busy in (0, args.busy):
        spinners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)
        ]
        try:
            for layer in LAYERS:
                cells = []
                for threads in (None, str(os.cpu_count()), "1"):
                    b = bench(layer, threads, RUNS.get(" ".join(layer), args.bench))
                    cells.append(f"{b['median_ms']:.3f}/{b['iqr_ms']:.3f} ({b['threads']})")
                print(f"{' '.join(layer):<44} {busy:>6} " + " ".join(f"{c:>16}" for c in cells))
        finally:
            for spinner in spinners:
                spinner.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
