"""The ONNX and safetensors readers are bounded by what the file holds (issue 15 items 7, 10,
12, 17): files of tiny fields, tensors declaring more than they hold, long names, references
and loops shape inference cannot read. Floods run in a child process held to 60 s and an
address space of 1 GiB (an ONNX infer needs ~60 MiB of memory)."""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
import numpy as np  # noqa: E402
from onnx import AttributeProto, TensorProto, helper, numpy_helper  # noqa: E402

from rnnshape.checkpoint.onnx_nodes import INFERENCE_COPIES  # noqa: E402
from rnnshape.checkpoint.onnx_proto import memory_budget, read_graph_only  # noqa: E402

LIMIT_AS = 1024**3
FLOOD = 20 * 1024 * 1024  # the issue's 20 MiB file


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def infer(path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``rnnshape infer PATH`` in a child under the address-space limit and a time limit."""
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", "infer", str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit,  # noqa: PLW1509 - no threads here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    return done


def peak_rss(path: Path) -> tuple[int, int]:
    """Peak RSS (bytes) and exit status of a child that reads ``path`` as ``infer`` does."""
    code = (
        "import resource, sys\n"
        "from rnnshape.cli import main\n"
        "status = main(['infer', sys.argv[1]])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    return int(done.stdout.split()[-1]) * 1024, done.returncode


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def model_bytes(graph: bytes) -> bytes:
    """A ModelProto: ir_version 7, opset 22, and ``graph`` (GraphProto fields) as its graph."""
    return b"\x08\x07" + field(8, field(1, b"") + b"\x10\x16") + field(7, graph)


def lstm_graph_fields() -> bytes:
    """An LSTM node reading small W and R initializers: a complete module at the end."""
    w = numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="rnn", hidden_size=4)
    return (
        field(1, node.SerializeToString())
        + field(5, w.SerializeToString())
        + field(5, r.SerializeToString())
    )


# GraphProto fields, each repeated: 2 bytes in the file, an object in protobuf.
TINY = {
    "empty nodes": lambda n: b"\x0a\x00" * n,
    "empty node inputs": lambda n: field(1, b"\x0a\x00" * n + field(4, b"Relu")),
    "empty value_info": lambda n: b"\x6a\x00" * n,
    "tensor dims": lambda n: field(
        5, b"\x08\x01" * n + b"\x10\x01" + field(8, b"D") + field(4, b"\0\0\0\0")
    ),
    "shape dims": lambda n: field(
        13, field(1, b"v") + field(2, field(1, b"\x08\x01" + field(2, b"\x0a\x00" * n)))
    ),
    "attribute ints": lambda n: field(
        1, field(5, field(1, b"a") + b"\xa0\x01\x07" + field(8, b"\x01" * 2 * n))
    ),
}


@pytest.mark.parametrize("kind", list(TINY))
def test_a_file_of_tiny_fields_is_refused_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "tiny.onnx"
    path.write_bytes(model_bytes(TINY[kind](FLOOD // 2) + lstm_graph_fields()))
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "too many fields" in done.stderr and "MiB" in done.stderr, done.stderr
    assert len(done.stderr) < 1000


@pytest.mark.parametrize("kind", ["empty nodes", "empty node inputs", "empty value_info"])
def test_the_estimate_holds_what_the_reader_really_takes(tmp_path: Path, kind: str) -> None:
    """Files just under the budget are read, and their measured memory (over a small model's)
    stays within the cost the reader estimated: the refusal above is a promise."""
    small = tmp_path / "small.onnx"
    small.write_bytes(model_bytes(lstm_graph_fields()))
    baseline, status = peak_rss(small)
    assert status == 0
    path = tmp_path / "near.onnx"
    count = 250_000 if kind != "empty node inputs" else 1_500_000
    path.write_bytes(model_bytes(TINY[kind](count) + lstm_graph_fields()))
    read = read_graph_only(str(path))
    assert read.cost <= read.budget == memory_budget(path.stat().st_size)
    assert read.cost > read.budget // 2  # near the budget: a test of the worst case
    rss, status = peak_rss(path)
    assert status == 0
    assert rss - baseline <= read.cost, (rss - baseline, read.cost)


def _initializer(name: str, dims: list[int], **data: object) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    for key, value in data.items():
        if key == "external":
            tensor.data_location = TensorProto.EXTERNAL
            for k, v in value.items():  # type: ignore[attr-defined]
                tensor.external_data.add(key=k, value=v)
        else:
            getattr(tensor, key).extend(value) if isinstance(value, list) else setattr(
                tensor, key, value
            )
    return tensor


def _lstm_model(w: TensorProto, r: TensorProto) -> onnx.ModelProto:
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="rnn")
    graph = helper.make_graph([node], "g", [], [], initializer=[w, r])
    model = onnx.ModelProto(ir_version=7, graph=graph)
    model.opset_import.append(helper.make_opsetid("", 22))
    return model


HUGE = [1, 4 * 2**40, 2**40]


@pytest.mark.parametrize(
    ("w", "words"),
    [
        (_initializer("W", HUGE), ["'W'", "holds no data"]),
        (_initializer("W", [1, 16, 3], raw_data=b"\0" * 4), ["192 bytes", "holds 4 bytes"]),
        (_initializer("W", [1, 16, 3], float_data=[0.0] * 47), ["48 values", "47 values"]),
        (
            _initializer("W", HUGE, external={"location": "w.bin", "length": "4"}),
            ["external data has 4 bytes"],
        ),
        (_initializer("W", [1, 16, 3], external={"location": "w.bin"}), ["no length"]),
        (_initializer("W", [1, -16, 3], raw_data=b""), ["negative dimension"]),
    ],
    ids=["no-data", "raw-short", "floats-short", "external-length", "external-no-length", "neg"],
)
def test_declared_dims_must_agree_with_the_data(
    tmp_path: Path, w: TensorProto, words: list[str]
) -> None:
    r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")
    path = tmp_path / "declared.onnx"
    onnx.save(_lstm_model(w, r), path)
    done = infer(path)
    assert done.returncode == 1, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    assert "LSTM(" not in done.stdout


def test_the_issues_164_byte_file_is_refused(tmp_path: Path) -> None:
    w, r = _initializer("W", HUGE), _initializer("R", HUGE)
    path = tmp_path / "declared.onnx"
    onnx.save(_lstm_model(w, r), path)
    assert path.stat().st_size < 200
    done = infer(path)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert "declares shape [1, 4398046511104, 1099511627776]" in done.stderr


def test_external_data_of_the_declared_length_is_read_never_opened(tmp_path: Path) -> None:
    w = _initializer("W", [1, 16, 3], external={"location": "missing.bin", "length": "192"})
    r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")
    path = tmp_path / "external.onnx"
    onnx.save(_lstm_model(w, r), path)
    done = infer(path, "--json")
    assert done.returncode == 0, done.stderr
    [module] = json.loads(done.stdout)["modules"]
    assert module["constructor"] == "nn.LSTM(3, 4, bias=False)"


def test_ref_attr_name_outside_a_function_is_a_problem(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")
    model = _lstm_model(w, r)
    ref = AttributeProto(name="hidden_size", ref_attr_name="hs", type=AttributeProto.INT)
    model.graph.node[0].attribute.append(ref)
    path = tmp_path / "ref.onnx"
    onnx.save(model, path)
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "refers to the attribute 'hs' of a function" in done.stderr


def test_a_loop_of_one_input_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # The LSTM's W is computed (Unsqueeze), so shape inference runs, and onnx's C++ fails on
    # a Loop that has no condition input (ValueError: vector::reserve).
    inits = [
        numpy_helper.from_array(np.zeros((16, 3), np.float32), "W0"),
        numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
    ]
    body = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["W0", "axes"], ["W"]),
            helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="rnn", hidden_size=4),
        ],
        "body",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    loop = helper.make_node("Loop", ["M"], ["out"], name="loop", body=body)
    graph = helper.make_graph(
        [loop],
        "g",
        [helper.make_tensor_value_info("M", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "loop.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), path)
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "loop/body/rnn" in done.stderr and "cannot be known statically" in done.stderr


def test_long_names_are_cut_in_every_message(tmp_path: Path) -> None:
    """Names of megabytes (a node's, its inputs', nested subgraphs') give short lines."""
    long = "n" * 2_000_000
    w = numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "W" + long)
    node = helper.make_node(
        "LSTM", ["X", "W" + long, "R" + long], ["Y"], name=long, direction="x" * 100_000
    )
    body = helper.make_graph([node], "b", [], [], initializer=[w])
    branch = helper.make_node("If", ["c"], ["o"], name="i" * 1_000_000, then_branch=body)
    graph = helper.make_graph([branch], "g", [], [])
    path = tmp_path / "long.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), path)
    assert path.stat().st_size > 5_000_000
    for args in ((), ("--json",)):
        done = infer(path, *args)
        assert done.returncode == 1, done.stderr
        assert len(done.stderr) < 3000 and len(done.stdout) < 3000, len(done.stderr)
        assert "direction='xxx" in done.stderr and "…" in done.stderr


def _safetensors(path: Path, header: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def test_safetensors_deeply_nested_header_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "nested.safetensors"
    _safetensors(path, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "nested too deeply" in done.stderr


def test_safetensors_long_names_and_values_are_cut(tmp_path: Path) -> None:
    name = "w" * 3_000_000
    header = {name: {"dtype": "F32", "shape": [2] * 60 + ["x" * 1_000_000], "data_offsets": [0, 4]}}
    path = tmp_path / "long.safetensors"
    _safetensors(path, json.dumps(header).encode())
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "invalid shape" in done.stderr and len(done.stderr) < 1000
    huge = b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}'
    _safetensors(path, huge)
    done = infer(path)
    assert done.returncode == 1 and "corrupt safetensors header" in done.stderr, done.stderr


def test_large_typed_data_is_left_out_and_checked_not_charged(tmp_path: Path) -> None:
    """Weights in float_data (not raw_data), and a packed int64 list, over 64 KiB: their data
    is counted against the dims and dropped, never charged as if parsed."""
    w = _initializer("W", [1, 64, 3000], float_data=[0.5] * (64 * 3000))
    r = numpy_helper.from_array(np.zeros((1, 64, 16), np.float32), "R")
    extra = TensorProto(name="I", data_type=TensorProto.INT64, dims=[2_000_000])
    extra.int64_data.extend(np.full(2_000_000, 300, np.int64).tolist())
    model = _lstm_model(w, r)
    model.graph.initializer.append(extra)
    path = tmp_path / "typed.onnx"
    onnx.save(model, path)
    read = read_graph_only(str(path))
    assert read.cost < read.budget // 4
    done = infer(path, "--json")
    assert done.returncode == 0, done.stderr
    [module] = json.loads(done.stdout)["modules"]
    assert module["constructor"] == "nn.LSTM(3000, 16, bias=False)"
    w.float_data.pop()
    onnx.save(_lstm_model(w, r), path)
    done = infer(path)
    assert done.returncode == 1 and "(192,000 values), but the file holds 191,999" in done.stderr


def test_shape_inference_runs_only_within_the_budget(tmp_path: Path) -> None:
    """Shape inference holds the model several times over: a graph that fits the budget once
    but not INFERENCE_COPIES times is read without it, and the problem says why."""
    inits = [
        numpy_helper.from_array(np.zeros((16, 3), np.float32), "W0"),
        numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["W0", "axes"], ["W"]),
            helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="rnn", hidden_size=4),
        ],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    small = tmp_path / "small.onnx"
    small.write_bytes(model_bytes(graph.SerializeToString()))
    done = infer(small, "--json")
    assert done.returncode == 0, done.stderr  # inferred: W is [1, 16, 3]
    path = tmp_path / "large.onnx"
    path.write_bytes(model_bytes(TINY["empty nodes"](250_000) + graph.SerializeToString()))
    read = read_graph_only(str(path))
    assert read.cost <= read.budget < INFERENCE_COPIES * read.cost
    done = infer(path)
    assert done.returncode == 1, done.stderr
    assert "shape inference was not run (the graph is too large" in done.stderr


def test_shape_inference_stays_within_its_estimate(tmp_path: Path) -> None:
    """A chain of 20,000 nodes before an LSTM whose W is computed: inference runs, and the
    memory it takes (over a small model's) stays within INFERENCE_COPIES times the cost."""
    small = tmp_path / "small.onnx"
    small.write_bytes(model_bytes(lstm_graph_fields()))
    baseline, _ = peak_rss(small)
    inits = [
        numpy_helper.from_array(np.zeros((16, 3), np.float32), "W0"),
        numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
    ]
    nodes = [helper.make_node("Identity", [f"v{i}"], [f"v{i + 1}"]) for i in range(20_000)]
    nodes += [
        helper.make_node("Unsqueeze", ["W0", "axes"], ["W"]),
        helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="rnn", hidden_size=4),
    ]
    inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3]),
        helper.make_tensor_value_info("v0", TensorProto.FLOAT, [3, 4]),
    ]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    path = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), path)
    read = read_graph_only(str(path))
    assert read.cost * INFERENCE_COPIES <= read.budget  # inference runs
    rss, status = peak_rss(path)
    assert status == 0  # W's shape came from inference
    assert rss - baseline <= INFERENCE_COPIES * read.cost, (rss - baseline, read.cost)
