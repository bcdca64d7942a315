"""Wall time and peak memory of ``rnnshape infer`` on a checkpoint of more than 1 GB.

Writes one model (an embedding, a 2-layer bidirectional LSTM of hidden size 2048 and a
linear head: about 1.1 GB in float32) to a temporary directory as a torch zip checkpoint,
a legacy torch pickle and a safetensors file, then runs ``rnnshape infer`` on each as a
whole process (interpreter start included), next to ``python -c "import torch"``.

    python benchmarks/infer_large.py [--runs 5] [--keep DIR]

Peak memory is the child's maximum resident set size (``wait4``). The checkpoints are
written by a separate process so that this one stays small (Linux children inherit the
parent's high-water mark). The files were just written, so they sit in the page cache:
the figures are for a warm cache.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import report


def write_checkpoints(folder: Path) -> None:
    """Runs in its own process: the only place torch and the weights are in memory."""
    import torch
    from safetensors.torch import save_file
    from torch import nn

    model = nn.ModuleDict(
        {
            "embed": nn.Embedding(32000, 1024),
            "encoder": nn.LSTM(1024, 2048, num_layers=2, bidirectional=True),
            "head": nn.Linear(4096, 32000),
        }
    )
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, folder / PATHS["torch zip"])
    torch.save(state, folder / PATHS["torch legacy"], _use_new_zipfile_serialization=False)
    save_file(state, str(folder / PATHS["safetensors"]))
    print(f"torch {torch.__version__}")


PATHS = {
    "torch zip": "large.pt",
    "torch legacy": "large-legacy.pt",
    "safetensors": "large.safetensors",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the checkpoints here and keep them")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write_checkpoints(args.write_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        subprocess.run([python, __file__, "--write-only", str(folder)], check=True)
        print(f"python {sys.version.split()[0]}, {args.runs} runs each")
        paths = {name: folder / file for name, file in PATHS.items()}
        for name, path in paths.items():
            print(f"{name}: {path.stat().st_size / 1e9:.2f} GB")
        print()
        report("python -c pass", [python, "-c", "pass"], args.runs)
        report('python -c "import torch"', [python, "-c", "import torch"], args.runs)
        for name, path in paths.items():
            argv = [python, "-m", "rnnshape", "infer", str(path), "--json"]
            report(f"rnnshape infer ({name})", argv, args.runs)


if __name__ == "__main__":
    main()
