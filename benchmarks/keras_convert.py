"""Wall time and peak memory of ``rnnshape infer`` and ``rnnshape convert`` on Keras files.

Writes one Keras 3 model (two Bidirectional LSTMs of 1024 units on 512 features, then a GRU
of 1024 units: about 189 MB of float32 weights) as ``.keras`` and ``.weights.h5`` to a
temporary directory, in a separate process running keras on its torch backend, then runs
each command as a whole process (interpreter start included). The files were just written,
so they sit in the page cache: the figures are for a warm cache.

    python benchmarks/keras_convert.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import report


def write_model(folder: Path) -> None:
    """Runs in its own process: the only place keras is imported."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((None, 512)),
            layers.Bidirectional(layers.LSTM(1024, return_sequences=True)),
            layers.Bidirectional(layers.LSTM(1024, return_sequences=True)),
            layers.GRU(1024),
        ]
    )
    model.save(folder / "big.keras")
    model.save_weights(folder / "big.weights.h5")
    print(f"keras {keras.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write_model(args.write_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        if not (folder / "big.keras").exists():
            subprocess.run([python, __file__, "--write-only", str(folder)], check=True)
        print(f"python {sys.version.split()[0]}, {args.runs} runs each")
        for name in ("big.keras", "big.weights.h5"):
            print(f"{name}: {(folder / name).stat().st_size / 1e6:.0f} MB")
        print()
        rnnshape = [python, "-m", "rnnshape"]
        for name in ("big.keras", "big.weights.h5"):
            path = str(folder / name)
            report(f"infer {name} --json", [*rnnshape, "infer", path, "--json"], args.runs)
        for suffix in ("safetensors", "pt"):
            out = str(folder / f"out.{suffix}")
            argv = [*rnnshape, "convert", str(folder / "big.keras"), out, "--force"]
            report(f"convert big.keras → .{suffix}", argv, args.runs)


if __name__ == "__main__":
    main()
