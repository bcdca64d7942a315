"""Every checkpoint reader is bounded (issue 11 §2, §3): hostile files built here, small on
disk, each refused with exit 1 and one clear line, in a child process held to 20 s and an
address space of 2 GiB (the interpreter with rich and yaml needs well under that)."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import re
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from rnnshape.checkpoint import infer_checkpoint
from rnnshape.render.infer import render_spec

LIMIT_AS = 2 * 1024**3


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process with an address-space limit and a timeout."""
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=_limit,  # noqa: PLW1509 - no threads here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_refused(path: Path, *words: str) -> None:
    done = run_bounded("infer", str(path))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            z.writestr(name, data)


def _legacy_with(first_pickle: bytes, path: Path) -> None:
    path.write_bytes(first_pickle)


def test_memo_index_far_away_costs_nothing(tmp_path: Path) -> None:
    # 9 bytes: protocol 2, None, LONG_BINPUT 2**27, STOP. The C unpickler grows its memo
    # array to 2**28 slots (2 GiB); ours is a dict.
    path = tmp_path / "memo.pt"
    path.write_bytes(b"\x80\x02Nr" + struct.pack("<I", 2**27) + b".")
    assert len(path.read_bytes()) == 9
    assert_refused(path, "not a torch checkpoint")


@pytest.mark.parametrize(
    "opcode",
    [b"\x8e", b"\x8d", b"\x96"],  # BINBYTES8, BINUNICODE8, BYTEARRAY8
    ids=["BINBYTES8", "BINUNICODE8", "BYTEARRAY8"],
)
def test_declared_size_beyond_the_stream_is_refused_at_once(tmp_path: Path, opcode: bytes) -> None:
    data = b"\x80\x05" + opcode + struct.pack("<Q", 1_500_000_000) + b"x" * 1000 + b"."
    path = tmp_path / "big.pt"
    _zip(path, [("big/data.pkl", data)])
    assert_refused(path, "1,500,000,000 bytes", "remain")


def _ops(value: object) -> bytes:
    """The opcodes that push ``value`` (protocol 2, no memo)."""
    return pickletools.optimize(pickle.dumps(value, protocol=2))[2:-1]


def _replace_size_stride(data: bytes, numel: int, new: bytes) -> bytes:
    """Replace the pushes of (numel,) and (1,) (each followed by a memo PUT) by ``new``."""
    pattern = re.escape(_ops((numel,))) + b"q.?" + re.escape(_ops((1,))) + b"q.?"
    out, n = re.subn(pattern, lambda _: new, data, count=1, flags=re.DOTALL)
    assert n == 1
    return out


def _storage_zip(path: Path, size: object, stride: object, numel: int = 1) -> None:
    """A real torch zip of one float tensor whose data.pkl's size/stride are replaced."""
    torch.save({"weight_ih_l0": torch.zeros(numel)}, path)
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    out = []
    for name, data in entries:
        if name.endswith("data.pkl"):
            # the real pickle has the tuple (numel,) for size, then (1,) for stride
            data = _replace_size_stride(data, numel, _ops(size) + _ops(stride))
        out.append((name, data))
    path.unlink()
    _zip(path, out)


def test_string_stride_is_refused_before_any_arithmetic(tmp_path: Path) -> None:
    path = tmp_path / "stride.pt"
    _storage_zip(path, (2**31,), ("x",), numel=3)
    assert_refused(path, "invalid stride")


def test_view_larger_than_its_storage_is_refused_zip(tmp_path: Path) -> None:
    path = tmp_path / "view.pt"
    _storage_zip(path, (400000,), (1,), numel=3)
    assert_refused(path, "storage")
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)  # torch refuses it too


def test_view_larger_than_its_storage_is_refused_legacy(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"weight_ih_l0": torch.zeros(3)}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(_replace_size_stride(data, 3, _ops((400000,)) + _ops((1,))))
    assert_refused(path, "storage")
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)


def _safetensors(path: Path, header: dict[str, object], data: int) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data))


def test_safetensors_overlapping_offsets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "overlap.safetensors"
    entry = {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]}
    _safetensors(path, {"weight_ih_l0": entry, "weight_hh_l0": entry}, 32)
    assert_refused(path, "overlap")


def test_safetensors_unknown_dtype_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dtype.safetensors"
    _safetensors(path, {"weight_ih_l0": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 4]}}, 4)
    assert_refused(path, "unknown dtype", "Q99")


def test_zip_storage_larger_than_its_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.pt"
    torch.save({"weight_ih_l0": torch.zeros(100)}, path)
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    path.unlink()
    _zip(path, [(n, d[:8] if "/data/" in n else d) for n, d in entries])
    assert_refused(path, "400 bytes")


def test_duplicate_zip_entries_are_refused(tmp_path: Path) -> None:
    lstm, gru = tmp_path / "lstm.pt", tmp_path / "gru.pt"
    torch.save(nn.LSTM(3, 4).state_dict(), lstm)
    torch.save(nn.GRU(3, 4).state_dict(), gru)
    with zipfile.ZipFile(lstm) as a, zipfile.ZipFile(gru) as b:
        first = [(i.filename, a.read(i.filename)) for i in a.infolist()]
        name = next(i.filename for i in b.infolist() if "data.pkl" in i.filename)
        pkl = (name, b.read(name))
    path = tmp_path / "twice.pt"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        _zip(path, [*first, (pkl[0].replace("gru", "lstm"), pkl[1])])
    assert_refused(path, "two entries named", "data.pkl")


def test_a_huge_layer_number_answers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    header = {
        "weight_ih_l100000000000": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]},
        "weight_hh_l100000000000": {"dtype": "F32", "shape": [4, 1], "data_offsets": [32, 48]},
    }
    _safetensors(path, header, 48)
    done = run_bounded("infer", str(path))
    assert done.returncode == 1
    assert "100,000,000,000 layers are missing" in done.stderr


@pytest.mark.parametrize("prefix", ["a\rb.", "x\ny: 1\n.", "c\u2028d.", "[/bold].", "yes.", "é."])
def test_spec_parses_back_into_exactly_the_modules(tmp_path: Path, prefix: str) -> None:
    """A prefix with a line break must not break out of a comment or inject a spec."""
    state = {f"{prefix}{k}": v for k, v in nn.GRU(3, 4).state_dict().items()}
    state |= {f"{prefix}{k}": v for k, v in nn.GRU(3, 4).state_dict().items()}
    path = tmp_path / "model.pt"
    torch.save({"model": state, "second": nn.LSTM(2, 5).state_dict()}, path)
    result = infer_checkpoint(str(path))
    doc = yaml.safe_load(render_spec(result))
    assert list(doc["models"]) != [] and len(doc["models"]) == len(result.modules) == 2
    by_type = sorted(spec["type"] for spec in doc["models"].values())
    assert by_type == ["gru", "lstm"]
    assert prefix.removesuffix(".") in doc["models"]
    for line in render_spec(result).splitlines():
        assert "\r" not in line and "\u2028" not in line
