"""Wall time and peak memory of ``rnnshape infer`` on an ONNX model of more than 1 GB.

Writes one model (an embedding, two bidirectional ONNX LSTM layers of hidden size 2048 and
a linear head: about 1.3 GB of float32 initializers, stored inside the .onnx file) to a
temporary directory, then runs, each as a whole process (interpreter start included):
``rnnshape infer`` on it, ``python -c "import onnx"``, and ``onnx.load`` of the same file,
which parses every tensor's bytes: the cost rnnshape avoids.

    python benchmarks/onnx_large.py [--runs 5] [--keep DIR]

Peak memory is the child's maximum resident set size (``wait4``). The model is written by
a separate process so that this one stays small (Linux children inherit the parent's
high-water mark). The file was just written, so it sits in the page cache: the figures are
for a warm cache.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import report

FILE = "large.onnx"


def write_model(folder: Path) -> None:
    """Runs in its own process: the only place the weights are in memory."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def tensor(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape, np.float32), name)

    vocab, embed, hidden = 32000, 1024, 2048
    inits = [tensor("embed", vocab, embed)]
    nodes = [helper.make_node("Gather", ["embed", "tokens"], ["x0"], name="embed")]
    width = embed
    for layer in range(2):
        inits += [
            tensor(f"W{layer}", 2, 4 * hidden, width),
            tensor(f"R{layer}", 2, 4 * hidden, hidden),
            tensor(f"B{layer}", 2, 8 * hidden),
        ]
        nodes += [
            helper.make_node(
                "LSTM",
                [f"x{layer}", f"W{layer}", f"R{layer}", f"B{layer}"],
                [f"y{layer}"],
                name=f"encoder.lstm{layer}",
                hidden_size=hidden,
                direction="bidirectional",
            ),  # fmt: skip
            helper.make_node("Transpose", [f"y{layer}"], [f"t{layer}"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"t{layer}", "merge"], [f"x{layer + 1}"]),
        ]
        width = 2 * hidden
    inits += [
        numpy_helper.from_array(np.array([0, 0, -1], np.int64), "merge"),
        tensor("head", width, vocab),
    ]
    nodes.append(helper.make_node("MatMul", ["x2", "head"], ["logits"], name="head"))
    graph = helper.make_graph(
        nodes,
        "large",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["seq", "batch"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, folder / FILE)
    print(f"onnx {onnx.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the model here and keep it")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write_model(args.write_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        path = folder / FILE
        if not path.exists():
            subprocess.run([python, __file__, "--write-only", str(folder)], check=True)
        print(f"python {sys.version.split()[0]}, {args.runs} runs each")
        print(f"{FILE}: {path.stat().st_size / 1e9:.2f} GB")
        print()
        report("python -c pass", [python, "-c", "pass"], args.runs)
        report('python -c "import onnx"', [python, "-c", "import onnx"], args.runs)
        load = f"import onnx; onnx.load({str(path)!r})"
        report("onnx.load (parses every tensor)", [python, "-c", load], args.runs)
        report("rnnshape infer --json", [python, "-m", "rnnshape", "infer", str(path), "--json"],
               args.runs)  # fmt: skip
        argv = [python, "-m", "rnnshape", "infer", str(path), "--explain"]
        report("rnnshape infer --explain", argv, args.runs)


if __name__ == "__main__":
    main()
