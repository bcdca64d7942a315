"""Issue 15's pickle recipes, each rebuilt: DAGs hashed and shown, a deflate bomb, keys that
all hash alike, shared reader state, non-tuple call arguments, BUILD where it has no place,
long file text in messages. Costly ones run the real CLI in a child process under an
address-space limit and a time limit (``run_bounded``); the rest run in process."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import torch
from torch import nn

import rnnshape
from rnnshape.checkpoint import CheckpointError, infer_checkpoint
from tests.infer_recipes import (
    PROTO2,
    PROTO4,
    binget,
    binput,
    dag,
    deflate_bomb,
    global_,
    hash_alike_dict,
    legacy,
    text,
    torch_zip,
)
from tests.test_infer_bounds import _limit

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())
MESSAGE_CHARS = 1_000  # what one error line may reach, whatever the file


def run_bounded(path: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """``rnnshape infer`` in a child held to 2 GiB of address space and ``timeout``."""
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", "infer", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit,  # noqa: PLW1509 - no threads here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert "Traceback" not in done.stderr, done.stderr[:2000]
    assert "please report" not in done.stderr, done.stderr[:2000]  # an unexpected error
    return done


def refused(path: Path, *words: str, timeout: float = 20) -> str:
    """The CLI ends with exit 1 and one short error line holding ``words``."""
    done = run_bounded(path, timeout)
    assert done.returncode == 1, done.stderr[:2000]
    assert len(done.stderr) < MESSAGE_CHARS + len(str(path)) + 20, done.stderr[:2000]
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


def error_of(path: Path) -> str:
    with pytest.raises(CheckpointError) as caught:
        infer_checkpoint(str(path))
    message = caught.value.message
    assert len(message) < MESSAGE_CHARS + len(str(path)), message[:2000]
    assert "\n" not in message
    return message


# -- item 1: hashing a DAG ------------------------------------------------------------------


def _dag_key_pickles(depth: int) -> dict[str, bytes]:
    """x_depth (2**depth leaves) used where Python would hash it, every way a pickle can."""
    return {
        "SETITEM": PROTO2 + b"}" + binput(250) + dag(depth) + b"K\x01s.",
        "DICT": PROTO2 + b"(" + dag(depth) + b"K\x01d.",
        "FROZENSET": PROTO4 + b"(" + dag(depth) + b"\x91.",
        "ADDITEMS": PROTO4 + b"\x8f" + binput(250) + b"(" + dag(depth) + b"\x90.",
        "builtins.frozenset": PROTO2 + global_("builtins", "frozenset") + b"]"
        + dag(depth) + b"a\x85R.",
        "builtins.set": PROTO2 + global_("builtins", "set") + b"]" + dag(depth) + b"a\x85R.",
        "OrderedDict": PROTO2 + global_("collections", "OrderedDict") + b"]"
        + dag(depth) + b"K\x01\x86a\x85R.",
    }  # fmt: skip


@pytest.mark.parametrize("how", sorted(_dag_key_pickles(1)))
def test_a_dag_used_as_a_key_costs_what_the_file_is(tmp_path: Path, how: str) -> None:
    data = _dag_key_pickles(40)[how]  # 2**40 leaves: hashing it would never end
    assert len(data) < 400
    for path in (torch_zip(tmp_path / "dag.pt", data), legacy(tmp_path / "dag-legacy.pt", data)):
        refused(path)  # no state dict: exit 1 at once


# -- item 2: turning a DAG into text -------------------------------------------------------


def _list_dag(depth: int) -> bytes:
    return dag(depth, "list")


@pytest.mark.parametrize(
    "where",
    ["persistent id", "storage record", "tensor size", "device", "call arguments", "legacy"],
)
def test_a_dag_in_a_message_is_shown_bounded(tmp_path: Path, where: str) -> None:
    x = _list_dag(40)  # 2**40 leaves; its repr would be terabytes
    storage = b"(" + text("storage") + global_("torch", "FloatStorage") + text("0")
    storage += text("cpu") + b"K\x04tQ"
    rebuild = global_("torch._utils", "_rebuild_tensor_v2")
    pickles = {
        "persistent id": PROTO2 + x + b"Q.",
        "storage record": PROTO2 + b"(" + text("storage") + global_("torch", "FloatStorage")
        + x + text("cpu") + b"K\x04tQ.",
        "tensor size": PROTO2 + rebuild + b"(" + storage + b"K\x00" + x + b"(K\x01t\x89"
        + global_("collections", "OrderedDict") + b")Rt" + b"R.",
        "device": PROTO2 + global_("torch", "device") + x + b"\x85R.",
        "call arguments": PROTO2 + global_("foo", "Bar") + x + b"R.",
        "legacy": b"",
    }  # fmt: skip
    if where == "legacy":
        path = legacy(tmp_path / "dag.pt", PROTO2 + x + b".")
        message = refused(path, "protocol version")
    else:
        path = torch_zip(tmp_path / "dag.pt", pickles[where], extra=[("data/0", bytes(16))])
        message = refused(path, "corrupt")
    assert "…" in message


def test_the_bounded_repr_caps_depth_items_and_characters() -> None:
    from rnnshape.checkpoint.file_text import file_repr

    assert file_repr([1, "a", None, (2,)]) == "[1, 'a', None, (2,)]"
    assert file_repr(list(range(100))) == "[0, 1, 2, 3, 4, 5, …]"
    assert file_repr([[[[[1]]]]]) == "[[[[…]]]]"
    assert file_repr(10**5000) == "<int of 16,610 bits>"
    assert file_repr("x" * 10**6).startswith("'xxx") and len(file_repr("x" * 10**6)) <= 80
    assert file_repr("\x1b[31m") == "'\\x1b[31m'"


# -- item 3: a deflate bomb ----------------------------------------------------------------


def test_a_data_pkl_past_the_cap_is_refused_naming_the_cap(tmp_path: Path) -> None:
    from rnnshape.checkpoint.torchzip import MAX_DATA_PKL

    path = deflate_bomb(tmp_path / "bomb.pt", MAX_DATA_PKL + 1)
    assert path.stat().st_size < 1024**2  # a 256 MiB data.pkl in well under 1 MB
    declared = MAX_DATA_PKL + 1 + 12  # the value, with its opcodes
    refused(path, f"data.pkl is {declared:,} bytes", "256 MiB")


def test_a_long_value_inside_the_cap_is_read_past_not_held(tmp_path: Path) -> None:
    # 200 MiB of bytes in a deflated data.pkl, read in a process held to 2 GiB: kept, the
    # value alone would cost 200 MiB twice over (the read, then the bytes object), here it
    # is read in 1 MiB chunks and dropped.
    path = deflate_bomb(tmp_path / "bomb.pt", 200 * 1024**2)
    refused(path, "no recurrent layers found")


def test_long_text_and_bytes_become_markers(tmp_path: Path) -> None:
    from rnnshape.checkpoint.pickle_records import SkippedData
    from rnnshape.checkpoint.unpickler import KEEP_BYTES, KEEP_TEXT, ShapeUnpickler

    for op, n, kind in ((b"B", KEEP_BYTES + 1, "bytes"), (b"X", KEEP_TEXT + 1, "text")):
        data = PROTO2 + op + struct.pack("<I", n) + b"a" * n + b"."
        assert ShapeUnpickler(io.BytesIO(data), None).load() == SkippedData(kind, n)
        short = PROTO2 + op + struct.pack("<I", 5) + b"a" * 5 + b"."
        assert ShapeUnpickler(io.BytesIO(short), None).load() in (b"aaaaa", "aaaaa")


# -- item 4: shared reader state -----------------------------------------------------------


def _clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.pt"
    torch.save(nn.GRU(3, 4).state_dict(), path)
    return path


@pytest.mark.parametrize(
    "target",
    [
        global_("torch", "FloatStorage"),
        global_("torch", "float32"),
        global_("torch", "Tensor"),
        global_("torch", "Size"),
        global_("torch._utils", "_rebuild_tensor_v2"),
        global_("collections", "OrderedDict"),
    ],
)
def test_a_hostile_file_then_a_clean_one_in_one_process(tmp_path: Path, target: bytes) -> None:
    """BUILD on what a global resolves to (once: rewrite FloatStorage's dtype to int8)."""
    state = b"(" + text("int8") + b"t" + b"}" + text("dtype") + text("int8") + b"s" + b"\x86"
    hostile = torch_zip(tmp_path / "hostile.pt", PROTO2 + target + state + b"b.")
    with pytest.raises(CheckpointError):
        rnnshape.infer_checkpoint(str(hostile))
    result = rnnshape.infer_checkpoint(str(_clean(tmp_path)))
    assert [(m.spec.constructor(), m.dtype) for m in result.modules] == [
        ("nn.GRU(3, 4)", "float32")
    ]


# -- item 5: keys that all hash alike ------------------------------------------------------


def test_keys_that_hash_alike_cost_linear_time(tmp_path: Path) -> None:
    data = hash_alike_dict(40_000)  # 519 KB; it took 13.4 s, growing quadratically
    assert 500_000 < len(data) < 540_000
    refused(torch_zip(tmp_path / "flood.pt", data), "no recurrent layers", timeout=20)


def test_text_memo_indices_past_the_binary_ones_are_refused(tmp_path: Path) -> None:
    data = PROTO2 + b"Np%d\n0g%d\n." % (2**61 - 1, 2**61 - 1)
    refused(torch_zip(tmp_path / "memo.pt", data), "memo index")


# -- item 9: REDUCE with a non-tuple -------------------------------------------------------


@pytest.mark.parametrize("opcode", [b"R", b"\x81"], ids=["REDUCE", "NEWOBJ"])
def test_call_arguments_must_be_a_tuple(tmp_path: Path, opcode: bytes) -> None:
    data = PROTO2 + global_("foo", "Bar") + text("x" * 500_000) + opcode + b"."
    refused(torch_zip(tmp_path / "args.pt", data), "not a tuple")


# -- item 10: BUILD on a tensor record, bad legacy headers ---------------------------------


def _zip_entries(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def _rewrite_zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    path.unlink()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            z.writestr(name, data)


def _with_data_pkl(path: Path, edit: object) -> None:
    assert callable(edit)
    _rewrite_zip(
        path, [(n, edit(d) if n.endswith("data.pkl") else d) for n, d in _zip_entries(path)]
    )


@pytest.mark.parametrize(
    "state",
    [b"}" + text("shape") + b"(K\x07t" + b"s", b"N}" + text("shape") + b"(K\x07ts\x86"],
    ids=["dict", "slots"],
)
def test_build_on_a_tensor_record_is_refused(tmp_path: Path, state: bytes) -> None:
    path = tmp_path / "build.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path)
    # the last REDUCE makes the tensor record (_rebuild_tensor_v2): a BUILD right after it
    # sets state on the record
    _with_data_pkl(path, lambda d: d[: d.rindex(b"R") + 1] + state + b"b" + d[d.rindex(b"R") + 1 :])
    message = refused(path, "BUILD")
    assert "tensor" in message


@pytest.mark.parametrize(
    "header",
    [
        pickle.dumps(10**5000, protocol=2),
        PROTO2 + _list_dag(40) + b".",
        PROTO2 + b"\x8b" + struct.pack("<i", 10**6) + bytes(10**6) + b".",
        PROTO2 + global_("foo", "Bar") + b")R.",
        PROTO2 + b"(" * 100_000 + b".",
        b"\x80\x02.",
        PROTO2 + b"(" * 100_000 + b"l" * 100_000 + b".",
    ],
    ids=["huge-int", "dag", "long4", "placeholder", "marks", "empty", "nested"],
)
def test_bad_legacy_headers_are_clean_errors(tmp_path: Path, header: bytes) -> None:
    path = legacy(tmp_path / "legacy.pt", header)
    refused(path)
    sys_info = legacy(tmp_path / "sys.pt", pickle.dumps(1001, protocol=2), header)
    refused(sys_info)


# -- item 11: globals that load, deserialise, compile or evaluate --------------------------

CODE_RUNNING = [
    ("torch", "load"), ("torch.serialization", "load"), ("torch.jit", "load"),
    ("torch", "compile"), ("torch.hub", "load"), ("torch.package", "PackageImporter"),
    ("torch.fx.graph_module", "reduce_graph_module"),
    ("torch.fx.graph_module", "reduce_package_graph_module"),
    ("torch.utils.cpp_extension", "load_inline"), ("torch.storage", "_load_from_bytes"),
    ("torch._ops", "ops"), ("numpy", "load"), ("numpy", "loads"), ("numpy", "fromfile"),
    ("numpy.lib.npyio", "load"), ("numpy", "memmap"), ("yaml", "unsafe_load"),
    ("yaml", "load"), ("yaml", "full_load"), ("sympy", "sympify"),
    ("sympy.parsing.sympy_parser", "parse_expr"), ("sympy.core.sympify", "sympify"),
    ("pandas", "read_pickle"), ("pandas", "eval"), ("numexpr", "evaluate"),
    ("joblib", "load"), ("dill", "loads"), ("marshal", "loads"), ("shelve", "open"),
    ("jsonpickle", "decode"), ("ast", "literal_eval"), ("builtins", "eval"),
    ("builtins", "compile"), ("builtins", "__import__"), ("importlib", "import_module"),
    ("pickle", "loads"), ("_pickle", "load"), ("copyreg", "_reconstructor_unsafe"),
    ("code", "InteractiveInterpreter"), ("runpy", "run_path"), ("os", "system"),
    ("subprocess", "Popen"), ("functools", "partial"), ("operator", "attrgetter"),
    ("transformers", "AutoModel.from_pretrained"), ("pathlib", "Path.write_text"),
    ("keras.models", "load_model"), ("onnx", "load"), ("jinja2", "Template"),
]  # fmt: skip
INERT = [
    ("argparse", "Namespace"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"), ("collections", "defaultdict"),
    ("datetime", "datetime"), ("pathlib", "PosixPath"), ("torch.nn.modules.rnn", "LSTM"),
    ("torch._utils", "_rebuild_qtensor"), ("__main__", "Config"), ("enum", "Enum"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("torch.utils.data", "DataLoader"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "name"), CODE_RUNNING, ids=[f"{m}.{n}" for m, n in CODE_RUNNING]
)
def test_code_running_globals_are_refused_and_named(tmp_path: Path, module: str, name: str) -> None:
    data = PROTO2 + global_(module, name) + b")R."
    for path in (torch_zip(tmp_path / "g.pt", data), legacy(tmp_path / "gl.pt", data)):
        message = error_of(path)
        assert "refused" in message and f"{module}.{name}" in message, message


@pytest.mark.parametrize(("module", "name"), INERT, ids=[f"{m}.{n}" for m, n in INERT])
def test_inert_globals_stay_placeholders(module: str, name: str) -> None:
    from rnnshape.checkpoint.unpickler import dangerous

    assert not dangerous(module, name)


def test_the_refused_list_is_at_least_the_issues(tmp_path: Path) -> None:
    assert len(CODE_RUNNING) >= 39


# -- item 12: file text in messages is cut -------------------------------------------------


@pytest.mark.parametrize("length", [900_000, 5_000_000])
def test_a_long_storage_key_gives_a_short_error_line(tmp_path: Path, length: int) -> None:
    key = "k" * length
    pid = b"(" + text("storage") + global_("torch", "FloatStorage") + text(key)
    pid += text("cpu") + b"K\x04tQ"
    path = torch_zip(tmp_path / "key.pt", PROTO2 + pid + b".")
    refused(path, "storage")


def test_a_long_global_name_is_refused_before_it_is_joined(tmp_path: Path) -> None:
    data = PROTO2 + b"\x8c\x02os" + text("system" + "x" * 50_000) + b"\x93)R."
    refused(torch_zip(tmp_path / "g.pt", PROTO4 + data[2:]), "a global named by 50,008 characters")


def test_names_repeated_through_the_memo_are_refused_past_the_budget(tmp_path: Path) -> None:
    """One 1 MiB tensor name and one tensor record, memoised, put in 2,000 dicts: 2 GB of
    names described by a 1 MB file."""
    path = tmp_path / "names.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path)
    name = "n" * 1024**2

    def repeat(data: bytes) -> bytes:
        at = data.rindex(b"R") + 1  # the tensor record, then memo index 200 holds it
        tensor = data[data.index(b"ctorch._utils") : at]
        each = b"}" + binget(201) + binget(200) + b"s"
        body = text(name) + binput(201) + b"0" + tensor + binput(200) + b"0"
        return PROTO2 + body + b"(" + each * 2_000 + b"l."

    _with_data_pkl(path, repeat)
    refused(path, "characters per byte")


# -- item 14: files torch refuses ----------------------------------------------------------


def _torch_refuses(path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any refusal of torch's
        torch.load(path, weights_only=True)


def test_a_storage_record_longer_than_its_storage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path)
    _rewrite_zip(path, [(n, d + bytes(4) if "/data/" in n else d) for n, d in _zip_entries(path)])
    _torch_refuses(path)
    refused(path, "holds 16")


@pytest.mark.parametrize("moved", ["version", "data/0", "byteorder"])
def test_a_zip_with_two_top_level_folders_is_refused(tmp_path: Path, moved: str) -> None:
    path = tmp_path / "two.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path)
    entries = [
        (n.replace("two/", "other/") if n.endswith(moved) else n, d) for n, d in _zip_entries(path)
    ]
    _rewrite_zip(path, entries)
    _torch_refuses(path)
    refused(path, "other")


def test_a_zip_without_a_version_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noversion.pt"
    torch.save(nn.GRU(3, 4).state_dict(), path)
    _rewrite_zip(path, [(n, d) for n, d in _zip_entries(path) if not n.endswith("/version")])
    _torch_refuses(path)
    refused(path, "version")


def test_a_storage_size_raised_by_build_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raised.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path)
    # After the persistent id (BINPERSID 'Q'), BUILD a larger element count into the
    # storage record, then ask for a tensor of 1,000 elements.
    state = b"(" + text("0") + text("float32") + b"M\xe8\x03t"
    _with_data_pkl(path, lambda d: d.replace(b"Q", b"Q" + state + b"b", 1))
    _torch_refuses(path)
    refused(path, "BUILD")


# -- item 16: depth and size of listings ---------------------------------------------------


def _nested(depth: int, inner: object) -> dict[str, object]:
    obj: object = inner
    for _ in range(depth):
        obj = {"a": obj}
    assert isinstance(obj, dict)
    return obj


def test_a_state_dict_nested_deeper_than_64_is_found(tmp_path: Path) -> None:
    path = tmp_path / "deep.pt"
    torch.save(_nested(200, nn.GRU(3, 4).state_dict()), path)
    result = infer_checkpoint(str(path))
    assert [m.container for m in result.modules] == [".".join(["a"] * 200)]


def test_past_the_search_depth_the_search_says_it_stopped(tmp_path: Path) -> None:
    from rnnshape.checkpoint.state_dicts import MAX_SEARCH_DEPTH

    path = tmp_path / "deeper.pt"
    inner = {"rnn": nn.GRU(3, 4).state_dict()}
    # pickle's writer recurses per level: build the nesting as bytes instead
    head = b"".join(b"}" + text("a") for _ in range(MAX_SEARCH_DEPTH + 5))
    tail = b"s" * (MAX_SEARCH_DEPTH + 5)
    torch.save(inner, path)
    _with_data_pkl(path, lambda d: d[:2] + head + d[2:-1] + tail + b".")
    result = infer_checkpoint(str(path))
    assert result.modules == ()
    assert any(
        f"nested more than {MAX_SEARCH_DEPTH:,} levels deep" in p.message and "stopped" in p.message
        for p in result.problems
    ), result.problems


def test_the_table_elides_past_1000_modules_with_exact_totals() -> None:
    from rich.console import Console

    from rnnshape.checkpoint import CheckpointFormat, InferResult, TensorInfo, infer_state_dict
    from rnnshape.render.infer import render_tables

    tensors = {}
    for i in range(1_200):
        tensors[f"m{i}.weight_ih"] = TensorInfo((12, 3), "float32")
        tensors[f"m{i}.weight_hh"] = TensorInfo((12, 4), "float32")
    modules, problems = infer_state_dict(tensors)
    assert len(modules) == 1_200 and not problems
    result = InferResult("x.pt", CheckpointFormat.TORCH, tuple(modules), (), len(tensors))
    out = io.StringIO()
    render_tables(result, Console(file=out, width=100, color_system=None))
    text_out = out.getvalue()
    assert "2400 tensors · 1200 recurrent modules" in text_out
    assert "… 200 modules left out …" in text_out
    titles = re.findall(r"^(m\d+) · GRUCell *$", text_out, flags=re.MULTILINE)
    assert len(titles) == 1_000 and titles[499] == "m499"
    assert titles[500] == "m700"


# -- issue 16 item 11: what a pickled module stores ----------------------------------------


def test_a_pickled_module_tells_batch_first_and_dropout(tmp_path: Path) -> None:
    model = nn.Module()
    model.encoder = nn.LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.25)
    model.cell = nn.RNNCell(3, 4, nonlinearity="relu")
    path = tmp_path / "model.pt"
    torch.save(model, path)
    result = infer_checkpoint(str(path))
    by_prefix = {m.prefix: m for m in result.modules}
    encoder, cell = by_prefix["encoder."], by_prefix["cell."]
    assert encoder.spec.batch_first and encoder.spec.dropout == 0.25
    assert encoder.unknown == ()
    assert "--batch-first" in encoder.command()
    assert cell.spec.nonlinearity == "relu" and cell.unknown == ()
    assert encoder.to_dict()["config"]["batch_first"] is True
    jsonschema.validate(result.to_dict(), SCHEMA)


class _Scripted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.LSTM(3, 4, batch_first=True)
        self.b = nn.LSTM(3, 4)
        self.c = nn.GRU(3, 4, num_layers=2, dropout=0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.a(x)[0], self.b(x)[0], self.c(x)[0]


def test_a_torchscript_archive_tells_batch_first_and_dropout(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(_Scripted()), str(path))
    result = infer_checkpoint(str(path))
    found = {m.prefix: (m.spec.constructor(), m.unknown) for m in result.modules}
    assert found == {
        "a.": ("nn.LSTM(3, 4, batch_first=True)", ()),
        "b.": ("nn.LSTM(3, 4)", ()),
        "c.": ("nn.GRU(3, 4, num_layers=2, dropout=0.5)", ()),
    }
    jsonschema.validate(result.to_dict(), SCHEMA)
