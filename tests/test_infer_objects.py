"""``rnnshape infer`` on training checkpoints that hold ordinary Python objects (issue 10).

Every object is a placeholder: never imported, never built; the tensors are still found,
and the modules equal those of the same model saved as a plain state dict.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import enum
import importlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from torch import nn

from rnnshape.checkpoint import infer_checkpoint

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/infer-v1.schema.json").read_text())


class Colour(enum.Enum):
    RED = 1
    GREEN = 2


class AttributeDict(dict):  # type: ignore[type-arg]
    """Lightning's AttributeDict, as it is defined (a dict with attribute access)."""

    def __getattr__(self, key: str) -> object:
        return self[key]


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Module()
    model.encoder = nn.LSTM(6, 8, num_layers=2, bidirectional=True)
    model.cell = nn.GRUCell(8, 5)
    return model


def _modules(path: Path) -> list[tuple[str, str]]:
    result = infer_checkpoint(str(path))
    jsonschema.validate(result.to_dict(), SCHEMA)
    return [(m.prefix, m.spec.constructor()) for m in result.modules]


OBJECTS: dict[str, tuple[Callable[[], object], list[str]]] = {
    "argparse.Namespace": (
        lambda: argparse.Namespace(lr=0.1, layers=2, data=pathlib.PurePosixPath("/data")),
        ["argparse.Namespace"],
    ),
    "numpy scalars and array": (
        lambda: {"best": np.float64(0.93), "loss": np.float64(1.5), "hist": np.arange(4)},
        ["numpy.float64", "numpy.ndarray"],
    ),
    "pathlib.Path": (lambda: pathlib.PurePosixPath("/runs/1"), ["pathlib.PurePosixPath"]),
    "Counter and defaultdict": (
        lambda: [collections.Counter("aab"), collections.defaultdict(int, {"a": 1})],
        ["collections.Counter", "collections.defaultdict"],
    ),
    "datetime": (lambda: datetime.datetime(2024, 5, 1, 12, 0), ["datetime.datetime"]),
    "enum": (lambda: Colour.GREEN, [f"{__name__}.Colour"]),
    "AttributeDict": (lambda: AttributeDict(lr=0.1, hidden=8), [f"{__name__}.AttributeDict"]),
}


def _save(obj: object, path: Path, legacy: bool) -> None:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("case", list(OBJECTS))
def test_objects_beside_the_weights_are_recorded_and_the_modules_found(
    tmp_path: Path, case: str, legacy: bool
) -> None:
    make, kinds = OBJECTS[case]
    model = _model()
    plain = tmp_path / "plain.pt"
    _save(model.state_dict(), plain, legacy)
    path = tmp_path / "checkpoint.pt"
    _save({"state_dict": model.state_dict(), "extra": make(), "epoch": 3}, path, legacy)
    assert _modules(path) == _modules(plain) and _modules(plain)
    result = infer_checkpoint(str(path))
    assert {m.container for m in result.modules} == {"state_dict"}
    assert sorted(s.type for s in result.skipped_objects) == sorted(kinds)
    types = [s.type for s in result.skipped_objects]
    assert types == sorted(types)


def test_numpy_scalars_are_counted_by_type(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": _model().state_dict(), "a": np.float64(1), "b": np.float64(2)}, path)
    doc = infer_checkpoint(str(path)).to_dict()
    assert doc["skipped_objects"] == [{"type": "numpy.float64", "count": 2}]


def test_plain_state_dict_has_no_skipped_objects(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(_model().state_dict(), path)
    assert infer_checkpoint(str(path)).to_dict()["skipped_objects"] == []


def test_omegaconf_dictconfig(tmp_path: Path) -> None:
    omegaconf = pytest.importorskip("omegaconf", reason="omegaconf is an optional test extra")
    config = omegaconf.OmegaConf.create({"model": {"hidden": 8}, "lr": 0.1})
    model = _model()
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": config}, path)
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    assert _modules(path) == _modules(plain)
    kinds = [s.type for s in infer_checkpoint(str(path)).skipped_objects]
    assert kinds == ["omegaconf.dictconfig.DictConfig"]


def _user_module(folder: Path, name: str, body: str) -> object:
    """Import ``body`` as module ``name`` from ``folder``; the caller removes it afterwards."""
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))


def test_user_dataclass_from_a_module_that_is_gone(tmp_path: Path) -> None:
    """The class's module no longer exists at read time; tensors inside it are found."""
    src = tmp_path / "src"
    src.mkdir()
    mod: object = _user_module(
        src,
        "rnnshape_test_gone_config",
        """
        from dataclasses import dataclass, field
        @dataclass
        class RunConfig:
            hidden: int = 8
            weights: dict = field(default_factory=dict)
        """,
    )
    model = _model()
    config = mod.RunConfig(weights=model.state_dict())  # type: ignore[attr-defined]
    path = tmp_path / "checkpoint.pt"
    torch.save({"config": config}, path)
    del sys.modules["rnnshape_test_gone_config"]
    (src / "rnnshape_test_gone_config.py").unlink()
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    result = infer_checkpoint(str(path))
    assert [(m.prefix, m.spec.constructor()) for m in result.modules] == _modules(plain)
    assert {m.container for m in result.modules} == {"config.weights"}
    assert [(s.type, s.count) for s in result.skipped_objects] == [
        ("rnnshape_test_gone_config.RunConfig", 1)
    ]


def test_a_planted_module_is_never_imported(tmp_path: Path) -> None:
    """A user class's module sits on the path, and importing it would leave a marker."""
    marker = tmp_path / "imported"
    plant = tmp_path / "plant"
    plant.mkdir()
    mod: object = _user_module(
        plant,
        "rnnshape_test_planted",
        """
        class Payload:
            def __init__(self):
                self.x = 1
            def __setstate__(self, state):
                open(MARKER, "w").write("setstate")
        """,
    )
    payload = mod.Payload()  # type: ignore[attr-defined]
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": _model().state_dict(), "payload": payload}, path)
    del sys.modules["rnnshape_test_planted"]
    # Now the planted module leaves a marker the moment it is imported.
    (plant / "rnnshape_test_planted.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "class Payload:\n    pass\n"
    )
    control = subprocess.run(
        [sys.executable, "-c", f"import torch; torch.load({str(path)!r}, weights_only=False)"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(plant), *sys.path])},
        capture_output=True,
        timeout=120,
    )
    assert marker.exists(), control.stderr  # the control: a full load does import it
    marker.unlink()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plant), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", "infer", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    doc = json.loads(done.stdout)
    assert doc["skipped_objects"] == [{"type": "rnnshape_test_planted.Payload", "count": 1}]
    assert len(doc["modules"]) == 2


@pytest.mark.parametrize(
    "name",
    ["builtins.exec", "builtins.eval", "builtins.getattr", "builtins.__import__",
     "subprocess.Popen", "posix.system", "nt.system", "importlib.import_module",
     "runpy.run_path", "pickle.loads", "marshal.loads", "code.InteractiveInterpreter",
     "ctypes.CDLL", "webbrowser.open", "pathlib.Path.write_text"],
)  # fmt: skip
def test_globals_that_would_run_code_are_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    module, _, attr = name.partition(".")
    if name == "pathlib.Path.write_text":
        module, attr = "pathlib", "Path.write_text"
    # {"model": <weights>, "hook": module.attr("x")} in protocol 4 (STACK_GLOBAL, dotted ok)
    inner = (
        b"\x8c" + bytes([len(module)]) + module.encode()
        + b"\x8c" + bytes([len(attr)]) + attr.encode() + b"\x93"
        + b"\x8c\x01x\x85R"
    )  # fmt: skip
    data = b"\x80\x04}\x8c\x04hook" + inner + b"s."
    path = tmp_path / "evil.pt"
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", data)
    code, out, err = _run(capsys, str(path))
    assert code == 1 and out == ""
    assert "refused" in err and name in err and "nothing from it was run" in err, err


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from rnnshape.cli import main

    code = main(["infer", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_table_says_what_else_the_file_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "checkpoint.pt"
    obj = {"model": _model().state_dict(), "args": argparse.Namespace(lr=1),
           "a": np.float64(1), "b": np.float64(2)}  # fmt: skip
    torch.save(obj, path)
    code, out, err = _run(capsys, str(path))
    assert code == 0, err
    assert "also holds (not loaded, nothing run): argparse.Namespace ×1, numpy.float64 ×2" in out


def test_placeholders_keep_memory_bounded() -> None:
    """APPEND/SETITEM on a placeholder keep references only: 1e5 appends of a memoised big
    list cost a reference each, not a copy."""
    from rnnshape.checkpoint.unpickler import ShapeUnpickler

    big = b"]q\x00(" + b"K\x01" * 1000 + b"e"  # a list of 1000 ints, memo 0
    body = b"\x80\x02cfoo\nBar\nq\x01)\x81q\x02" + big + b"0"
    body += b"h\x02" + b"h\x00e" * 0 + b"(" + b"h\x00" * 100_000 + b"e."
    import io

    obj = ShapeUnpickler(io.BytesIO(body), None).load()
    assert obj.kind == "foo.Bar" and len(obj.items) == 1  # EXTEND stores the reference


def test_the_maintained_list_is_read() -> None:
    """picklescan's list is in use (``requests.api`` and ``cProfile`` are only in its list)."""
    from rnnshape.checkpoint.pickle_globals import _MORE_DANGEROUS, dangerous

    assert "requests.api" not in _MORE_DANGEROUS and "cProfile" not in _MORE_DANGEROUS
    assert dangerous("requests.api", "get") and dangerous("cProfile", "run")
    assert not dangerous("argparse", "Namespace") and not dangerous("numpy", "dtype")
