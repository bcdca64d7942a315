"""Hostile Keras files: bounded readers, links never followed, mutated files (issue 17 §3).

Mutated files run in a child process (HDF5 is C code: a crash must fail the test, not end
the session), held to an address space of 2 GiB. The oracle is h5py's own reading: a file
h5py cannot open must be refused with a clean exit 1; any other must give exit 0 or 1 with
no traceback, and every module reported must have the shapes h5py reads.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

os.environ["KERAS_BACKEND"] = "torch"
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
import numpy as np  # noqa: E402

from rnnshape.checkpoint import infer_checkpoint  # noqa: E402
from rnnshape.checkpoint.keras_h5 import MAX_JSON_BYTES  # noqa: E402
from rnnshape.checkpoint.records import CheckpointError  # noqa: E402

LIMIT_AS = 2 * 1024**3
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_bounded(*args: str, timeout: int = 20) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
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


def keras_files(tmp_path: Path) -> dict[str, Path]:
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((5, 6)),
            L.LSTM(4, return_sequences=True),
            L.Bidirectional(L.GRU(3, return_sequences=True)),
            L.SimpleRNN(2),
        ]
    )
    out = {"keras": tmp_path / "m.keras", "weights": tmp_path / "m.weights.h5"}
    model.save(out["keras"])
    model.save_weights(out["weights"])
    legacy = tmp_path / "legacy.h5"
    with h5py.File(legacy, "w") as f:
        config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "LSTM", "config": {"name": "lstm", "units": 4, "activation": "tanh",
                                              "recurrent_activation": "sigmoid"}}]}}  # fmt: skip
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [b"lstm"]
        group = root.create_group("lstm")
        names = [
            "lstm/lstm_cell/kernel:0",
            "lstm/lstm_cell/recurrent_kernel:0",
            "lstm/lstm_cell/bias:0",
        ]
        group.attrs["weight_names"] = [n.encode() for n in names]
        for name, shape in zip(names, [(6, 16), (4, 16), (16,)], strict=True):
            group.create_dataset(name, data=np.ones(shape, np.float32))
    out["legacy"] = legacy
    return out


CHILD = r"""
import json, sys
from rnnshape.checkpoint import infer_checkpoint
from rnnshape.errors import RnnShapeError
for path in sys.argv[1:]:
    try:
        result = infer_checkpoint(path)
        shapes = {}
        for m in result.modules:
            for b in m.keras.blocks:
                if b.dataset:
                    shapes[b.dataset] = None
        print(json.dumps({"path": path, "ok": True, "datasets": sorted(shapes),
                          "modules": [m.spec.constructor() for m in result.modules]}))
    except RnnShapeError as exc:
        print(json.dumps({"path": path, "ok": False, "message": exc.message}))
"""


def h5py_opens(path: Path) -> bool:
    """The oracle: can h5py open the file (or the zip's HDF5 entry) and visit every object?"""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as entry:
                entry._expected_crc = None  # type: ignore[attr-defined]  # rnnshape never reads it whole
                data = entry.read()
            import io

            handle = h5py.File(io.BytesIO(data), "r")
        else:
            handle = h5py.File(path, "r")
        with handle:
            handle.visititems(
                lambda name, obj: obj.shape if isinstance(obj, h5py.Dataset) else None
            )
        return True
    except Exception:  # noqa: BLE001 - any failure of h5py is the oracle's "no"
        return False


@pytest.mark.parametrize("seed", ["keras", "weights", "legacy"])
def test_mutated_files_are_refused_cleanly(seed: str, tmp_path: Path) -> None:
    source = keras_files(tmp_path)[seed]
    data = source.read_bytes()
    rng = random.Random(f"{seed}-17")
    paths: list[Path] = []
    for i in range(40):
        mutated = bytearray(data)
        if i % 4 == 0:
            mutated = mutated[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randrange(1, 8)):
                at = rng.randrange(len(mutated))
                mutated[at] = rng.randrange(256)
        path = tmp_path / f"mutated_{i}{source.suffix}"
        path.write_bytes(bytes(mutated))
        paths.append(path)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit,  # noqa: PLW1509 - no threads here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(paths)
    for result in results:
        path = Path(result["path"])
        if not h5py_opens(path):
            assert not result["ok"] or not result["modules"], result
        if not result["ok"]:
            assert "\n" not in result["message"]


def test_truncated_files_exit_1_on_the_cli(tmp_path: Path) -> None:
    for name, source in keras_files(tmp_path).items():
        data = source.read_bytes()
        path = tmp_path / f"cut_{name}{source.suffix}"
        path.write_bytes(data[: len(data) // 2])
        done = run_bounded("infer", str(path))
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: "), done.stderr


def test_external_and_soft_links_are_never_followed(tmp_path: Path) -> None:
    files = keras_files(tmp_path)
    path = tmp_path / "links.weights.h5"
    with h5py.File(path, "w") as f:
        layer = f.create_group("layers/lstm")
        layer["cell"] = h5py.ExternalLink(str(files["weights"]), "/layers/lstm/cell")
        f.create_group("layers/lstm_1")
        f["layers/lstm_1/cell"] = h5py.SoftLink("/layers/lstm/cell")
    result = run_bounded("infer", str(path))
    assert result.returncode == 1
    assert "no LSTM, GRU or SimpleRNN layer found" in result.stderr


def test_groups_nested_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "deep.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("/".join(["g"] * 80))
    assert_refused(path, "nested more than 64 deep")


def test_config_nested_too_deep(tmp_path: Path) -> None:
    files = keras_files(tmp_path)
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(files["keras"]) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                data = b"[" * 200_000 + b"]" * 200_000
            dst.writestr(info, data)
    assert_refused(path, "config.json is nested too deeply")


def test_models_nested_too_deep_in_the_config(tmp_path: Path) -> None:
    files = keras_files(tmp_path)
    path = tmp_path / "deepmodel.keras"
    config: dict[str, object] = {"class_name": "LSTM", "config": {"name": "x"}}
    for _ in range(100):
        config = {"class_name": "Sequential", "config": {"name": "s", "layers": [config]}}
    with zipfile.ZipFile(files["keras"]) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                data = json.dumps(config).encode()
            dst.writestr(info, data)
    assert_refused(path, "models nested more than 64 deep")


def test_oversized_config_is_refused_before_reading(tmp_path: Path) -> None:
    files = keras_files(tmp_path)
    path = tmp_path / "big.keras"
    with zipfile.ZipFile(files["keras"]) as src:
        weights = src.read("model.weights.h5")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("config.json", b" " * (MAX_JSON_BYTES + 1))
        dst.writestr("model.weights.h5", weights)
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(CheckpointError, match="at most"):
        infer_checkpoint(str(path))


def test_file_text_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "evil.h5"
    evil = "x\x1b[2J[link=https:evil.example]y\u202e"  # no "/": HDF5 reads it as a path
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [evil.encode()]
        group = f.create_group(evil)
        names = [f"{evil}/kernel:0", f"{evil}/recurrent_kernel:0"]
        group.attrs["weight_names"] = [n.encode() for n in names]
        group.create_dataset(names[0], data=np.ones((3, 8), np.float32))
        group.create_dataset(names[1], data=np.ones((2, 8), np.float32))
    done = run_bounded("infer", str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "\\x1b" in done.stdout and "[link=" in done.stdout


def test_deflated_weights_entry_is_read_through_a_bounded_copy(tmp_path: Path) -> None:
    files = keras_files(tmp_path)
    path = tmp_path / "deflated.keras"
    with zipfile.ZipFile(files["keras"]) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    plain = infer_checkpoint(str(files["keras"]))
    deflated = infer_checkpoint(str(path))
    assert [m.spec for m in deflated.modules] == [m.spec for m in plain.modules]
    assert len(plain.modules) == 3


def test_deflated_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("config.json", b"{}")
        dst.writestr("metadata.json", b"{}")
        dst.writestr("model.weights.h5", b"\0" * (64 * 1024 * 1024))
    assert path.stat().st_size < 200_000
    assert_refused(path, "more than 1000x")


def test_a_flood_of_weight_names_is_bounded(tmp_path: Path) -> None:
    """150,000 weight names in one layer (no datasets behind them): one bounded answer."""
    path = tmp_path / "flood.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"layer"]
        group = f.create_group("layer")
        names = [
            f"p{i}/{'forward_' if i % 2 else ''}x/recurrent_kernel:0".encode()
            for i in range(150_000)
        ]
        for k in range(0, len(names), 2000):  # Keras 2 splits what HDF5's header cannot hold
            group.attrs[f"weight_names{k // 2000}"] = names[k : k + 2000]
    done = run_bounded("infer", str(path), timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.startswith(("warning: ", "error: ")), done.stderr[:2000]
