"""Fuzz ``rnnshape infer`` over mutated ONNX models (issue 15, "the fuzz tests ... ONNX").

A valid model with an LSTM whose weight is computed (so shape inference runs) and a GRU in
each branch of an ``If`` is serialised, then bytes are flipped, cut, repeated or inserted, and
varints are rewritten. Whatever the file becomes, ``infer`` ends with exit 0 or 1 (2 never:
no flag is wrong), never a traceback or an "unexpected" error, with output bounded by the
file's size. Hypothesis runs derandomized with a fixed number of examples (about 20 s here).
"""

from __future__ import annotations

import io
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rnnshape.cli import main  # noqa: E402

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed_model() -> bytes:
    zeros = np.zeros
    lstm_init = [
        numpy_helper.from_array(zeros((16, 3), np.float32), "W0"),
        numpy_helper.from_array(zeros((1, 16, 4), np.float32), "R"),
        numpy_helper.from_array(zeros((1, 32), np.float32), "B"),
        numpy_helper.from_array(zeros((1, 12, 4), np.float32), "GW"),
        numpy_helper.from_array(zeros((1, 12, 4), np.float32), "GR"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
        numpy_helper.from_array(np.array([1], np.int64), "directions"),
    ]
    branch = helper.make_graph(
        [
            helper.make_node(
                "GRU", ["Y0", "GW", "GR"], ["Z"], name="gru", hidden_size=4, linear_before_reset=1
            ),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("Unsqueeze", ["W0", "axes"], ["W"]),
        helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=4),
        helper.make_node("Squeeze", ["Y", "directions"], ["Y0"]),
        helper.make_node("If", ["c"], ["Z"], name="if", then_branch=branch, else_branch=branch),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)],
        initializer=lstm_init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    return bytes(model.SerializeToString())


SEED = _seed_model()
BYTES = st.binary(min_size=1, max_size=12)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "varint", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(BYTES)
        elif kind == "repeat":
            piece = bytes(data[at : at + draw(st.integers(1, 40))])
            data[at:at] = piece * draw(st.integers(1, 50))
        elif kind == "varint":  # a large length or value where a small one was
            data[at : at + 1] = draw(
                st.sampled_from([b"\xff\xff\xff\xff\x0f", b"\x80" * 9 + b"\x01"])
            )
        else:
            del data[at:]
        if not data:
            data = bytearray(b"\x08")
    return bytes(data)


def infer(data: bytes) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["infer", str(path)])
    return code, out.getvalue(), err.getvalue()


def test_the_seed_reads_as_three_modules() -> None:
    code, out, err = infer(SEED)
    assert code == 0, err
    assert "3 recurrent modules" in out, out


@FUZZ
@given(data=mutated())
def test_mutated_models_end_cleanly(data: bytes) -> None:
    code, out, err = infer(data)
    assert code in (0, 1), err
    assert "Traceback" not in err and "unexpected" not in err and "please report" not in err, err
    assert len(out) + len(err) < 20 * len(data) + 20_000


def test_names_that_are_not_utf8_are_text() -> None:
    """protobuf gives bytes for a string field that is not UTF-8 (found by the fuzz test)."""
    data = SEED.replace(b"\n\x02Y0\n\x02GW", b"\n\x02\xd90\n\x02GW", 1)
    assert data != SEED
    code, out, err = infer(data)
    assert (code, err) == (0, ""), err
    assert "3 recurrent modules" in out
