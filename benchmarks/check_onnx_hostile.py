"""Wall time, peak memory and exit status of ``rnnshape check`` on issue 15's config-file
recipes and of ``rnnshape infer`` on its ONNX and safetensors recipes, each as a whole process.

    python benchmarks/check_onnx_hostile.py [--runs 1] [--only WORD] [--files 100000]

The files are written by a separate process into a temporary directory (a child's peak RSS
starts at its parent's); 100,000 config files take a minute to write. Peak memory is the
child's maximum resident set size (``wait4``); interpreter start is included. The long-names
case also prints how many bytes reached stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import compile_package, console_script, report

MIB = 1024 * 1024
HASH_MODULUS = 2**61 - 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _model(graph: bytes) -> bytes:
    return b"\x08\x07" + _field(8, _field(1, b"") + b"\x10\x16") + _field(7, graph)


def _yaml_keys(path: Path, step: int) -> None:
    """1 MiB of ``models:`` keys ``5 + n * step``: all hashing alike when step is 2**61 - 1."""
    lines, total, n = ["models:"], 8, 1
    while total < MIB - 64:
        lines.append(f"  {5 + n * step}: 1")
        total += len(lines[-1]) + 1
        n += 1
    path.write_text("\n".join(lines) + "\n")


def write_files(folder: Path, count: int) -> None:
    """Runs in its own process: every recipe's file."""
    import numpy as np
    import onnx
    from onnx import AttributeProto, TensorProto, helper, numpy_helper

    _yaml_keys(folder / "keys_colliding.yaml", HASH_MODULUS)
    _yaml_keys(folder / "keys_control.yaml", 1_000_003 * 10**12)
    flood = 10 * MIB  # 2-byte fields: a 20 MiB file
    (folder / "tiny_nodes.onnx").write_bytes(_model(b"\x0a\x00" * flood))
    (folder / "tiny_inputs.onnx").write_bytes(_model(_field(1, b"\x0a\x00" * flood)))
    (folder / "tiny_value_info.onnx").write_bytes(_model(b"\x6a\x00" * flood))

    def lstm(name: str = "rnn", w: str = "W", r: str = "R", **attrs: object) -> onnx.NodeProto:
        return helper.make_node("LSTM", ["X", w, r], ["Y"], name=name, **attrs)

    def save(graph: onnx.GraphProto, name: str) -> None:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
        onnx.save(model, folder / name)

    w = numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")
    node = lstm(hidden_size=4)
    node.attribute.append(
        AttributeProto(name="direction", ref_attr_name="dir", type=AttributeProto.STRING)
    )
    save(helper.make_graph([node], "g", [], [], initializer=[w, r]), "ref_attr_name.onnx")

    w0 = numpy_helper.from_array(np.zeros((16, 3), np.float32), "W0")
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    body = helper.make_graph(
        [helper.make_node("Unsqueeze", ["W0", "axes"], ["W"]), lstm(hidden_size=4)],
        "body",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=[w0, r, axes],
    )
    loop = helper.make_node("Loop", ["M"], ["out"], name="loop", body=body)
    save(helper.make_graph([loop], "g", [], []), "loop_one_input.onnx")

    huge = [1, 4 * 2**40, 2**40]
    declared = helper.make_graph(
        [lstm()],
        "g",
        [],
        [],
        initializer=[
            TensorProto(name="W", data_type=TensorProto.FLOAT, dims=huge),
            TensorProto(name="R", data_type=TensorProto.FLOAT, dims=huge),
        ],
    )
    model = onnx.ModelProto(ir_version=7, graph=declared)
    model.opset_import.append(helper.make_opsetid("", 22))
    onnx.save(model, folder / "declared_no_data.onnx")

    long = "n" * 7_000_000  # three of them: a 21 MB file
    inner = helper.make_graph([lstm(long, "W" + long, "R" + long, hidden_size=4)], "b", [], [])
    branch = helper.make_node("If", ["c"], ["o"], name="i" * 100, then_branch=inner)
    save(helper.make_graph([branch], "g", [], []), "long_names.onnx")

    nodes = [
        helper.make_node("LSTM", ["X", "W", "R"], [f"Y{i}"], name=f"rnn{i}", hidden_size=4)
        for i in range(20_000)
    ]
    save(helper.make_graph(nodes, "g", [], [], initializer=[w, r]), "nodes_20000.onnx")

    header = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    (folder / "nested.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)

    configs = folder / "configs"
    for i in range(count):
        sub = configs / f"d{i // 1000:03}"
        sub.mkdir(parents=True, exist_ok=True)
        spec = {"type": "lstm", "input_size": 1 + i % 50, "hidden_size": 1 + i % 70}
        (sub / f"m{i:06}.json").write_text(json.dumps(spec))


def stderr_bytes(argv: list[str]) -> int:
    done = subprocess.run(argv, capture_output=True, check=False)
    return len(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", help="run only the cases whose label contains this")
    parser.add_argument("--files", type=int, default=100_000, help="config files to check")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write_files(args.write_only, args.files)
        return
    compile_package()
    script = console_script()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = [sys.executable, __file__, "--write-only", str(folder), "--files", str(args.files)]
        subprocess.run(argv, check=True)
        cases = [
            ("check 1 MiB YAML, colliding int keys", ["check", "keys_colliding.yaml"]),
            ("check 1 MiB YAML, control keys", ["check", "keys_control.yaml"]),
            ("infer 20 MiB ONNX, empty nodes", ["infer", "tiny_nodes.onnx"]),
            ("infer 20 MiB ONNX, empty input names", ["infer", "tiny_inputs.onnx"]),
            ("infer 20 MiB ONNX, empty value_info", ["infer", "tiny_value_info.onnx"]),
            ("infer ONNX ref_attr_name", ["infer", "ref_attr_name.onnx"]),
            ("infer ONNX Loop of one input", ["infer", "loop_one_input.onnx"]),
            ("infer safetensors nested header", ["infer", "nested.safetensors"]),
            ("infer ONNX declared dims, no data", ["infer", "declared_no_data.onnx"]),
            ("infer ONNX 20,000 LSTM nodes", ["infer", "nodes_20000.onnx"]),
            ("infer ONNX 21 MB of long names", ["infer", "long_names.onnx"]),
            (f"check {args.files:,} files", ["check", "configs"]),
            (f"check {args.files:,} files --json", ["check", "configs", "--json"]),
        ]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} run(s)")
        for label, (command, name, *rest) in cases:
            if args.only and args.only not in label:
                continue
            path = folder / name
            size = (
                sum(p.is_file() for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
            )
            unit = "files" if path.is_dir() else "B"
            full = [*script, command, str(path), *rest]
            report(f"{label} ({size:,} {unit})", full, args.runs)
            if "long names" in label:
                print(f"{'':34} stderr {stderr_bytes(full):,} bytes")


if __name__ == "__main__":
    main()
