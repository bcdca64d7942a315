"""Wall time, peak memory and exit status of ``rnnshape infer`` on issue 15's hostile
checkpoints (and issue 16's 30,000-module table), each as a whole process.

    python benchmarks/infer_hostile.py [--runs 1] [--only WORD]

The files are built by ``tests/infer_recipes.py`` in a temporary directory (the deflate bomb
writes 1.5 GiB through zlib: about 10 s). Peak memory is the child's maximum resident set
size (``wait4``); interpreter start is included.
"""

from __future__ import annotations

import argparse
import json
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from _common import compile_package, console_script, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.infer_recipes import (  # noqa: E402 - the repository root is on the path now
    PROTO2,
    binput,
    dag,
    deflate_bomb,
    global_,
    hash_alike_dict,
    legacy,
    text,
    torch_zip,
)


def _storage_pid(key: str, numel: int = 4) -> bytes:
    return (
        b"("
        + text("storage")
        + global_("torch", "FloatStorage")
        + text(key)
        + text("cpu")
        + struct.pack("<BB", ord("K"), numel)
        + b"tQ"
    )


def _tensor(key: str, numel: int, size: int | None = None, build: bytes = b"") -> bytes:
    """_rebuild_tensor_v2(storage, 0, (size,), (1,), False, OrderedDict()), a BUILD on the
    storage record first if ``build`` is given."""
    return (
        global_("torch._utils", "_rebuild_tensor_v2")
        + b"("
        + _storage_pid(key, numel)
        + build
        + b"K\x00K"
        + bytes([numel if size is None else size])
        + b"\x85K\x01\x85\x89"
        + global_("collections", "OrderedDict")
        + b")RtR"
    )


def _zip_with(folder: Path, name: str, entries: list[tuple[str, bytes]]) -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as z:
        for entry, data in entries:
            z.writestr(entry, data)
    return path


def _thirty_thousand(folder: Path) -> Path:
    """A safetensors file of 30,000 GRUCell(3, 4, bias=False) modules."""
    header: dict[str, object] = {}
    offset = 0
    for i in range(30_000):
        for role, rows in (("weight_ih", (12, 3)), ("weight_hh", (12, 4))):
            size = rows[0] * rows[1] * 4
            header[f"m{i}.{role}"] = {
                "dtype": "F32",
                "shape": list(rows),
                "data_offsets": [offset, offset + size],
            }
            offset += size
    raw = json.dumps(header).encode()
    path = folder / "modules.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


def recipes(folder: Path) -> dict[str, Callable[[], Path]]:
    dict_key = PROTO2 + b"}" + binput(250) + dag(24) + b"K\x01s."
    grown = PROTO2 + b"}" + text("weight_ih_l0") + _tensor("0", 4) + b"s."
    return {
        "1 DAG as a dict key, zip (depth 24)": lambda: torch_zip(folder / "k.pt", dict_key),
        "1 DAG as a dict key, legacy (depth 24)": lambda: legacy(folder / "kl.pt", dict_key),
        "1 DAG in a frozenset (depth 40)": lambda: torch_zip(
            folder / "f.pt", PROTO2 + b"(" + dag(40) + b"\x91."
        ),
        "2 DAG of lists in a message (depth 26)": lambda: torch_zip(
            folder / "r26.pt", PROTO2 + dag(26, "list") + b"Q."
        ),
        "2 DAG of lists in a message (depth 40)": lambda: torch_zip(
            folder / "r40.pt", PROTO2 + dag(40, "list") + b"Q."
        ),
        "3 deflate bomb, 1.5 GiB BINBYTES8": lambda: deflate_bomb(folder / "b.pt", 3 * 2**29),
        "3 deflated 200 MiB BINBYTES8 (cap 256)": lambda: deflate_bomb(
            folder / "b2.pt", 200 * 2**20
        ),
        "5 keys hashing alike, 519 KB pickle": lambda: torch_zip(
            folder / "h.pt", hash_alike_dict(40_000)
        ),
        "9 REDUCE of a 9.5 MiB string": lambda: torch_zip(
            folder / "s.pt", PROTO2 + global_("foo", "Bar") + text("x" * 9_961_472) + b"R."
        ),
        "10 BUILD on a tensor record": lambda: torch_zip(
            folder / "bt.pt",
            grown[:-2] + b"}" + text("shape") + b"K\x07sbs.",
            extra=[("data/0", bytes(16))],
        ),
        "10 legacy header: int of 5,000 digits": lambda: legacy(
            folder / "lh.pt", pickle.dumps(10**5000, protocol=2)
        ),
        "11 torch.load global": lambda: torch_zip(
            folder / "g.pt", PROTO2 + global_("torch", "load") + b")R."
        ),
        "11 numpy.load global": lambda: torch_zip(
            folder / "n.pt", PROTO2 + global_("numpy", "load") + b")R."
        ),
        "12 storage key of 5 MB": lambda: torch_zip(
            folder / "sk.pt", PROTO2 + _storage_pid("k" * 5_000_000) + b"."
        ),
        "12 storage key of 900 KB": lambda: torch_zip(
            folder / "sk2.pt", PROTO2 + _storage_pid("k" * 900_000) + b"."
        ),
        "14 storage record 4 bytes too long": lambda: torch_zip(
            folder / "rl.pt", grown, extra=[("data/0", bytes(20))]
        ),
        "14 zip with two top-level folders": lambda: _zip_with(
            folder,
            "tf.pt",
            [
                ("archive/data.pkl", grown),
                ("archive/data/0", bytes(16)),
                ("other/version", b"3\n"),
            ],
        ),
        "14 storage size raised by BUILD": lambda: torch_zip(
            folder / "sb.pt",
            PROTO2
            + b"}"
            + text("weight_ih_l0")
            + _tensor("0", 4, 200, build=b"(" + text("0") + text("float32") + b"M\xe8\x03tb")
            + b"s.",
            extra=[("data/0", bytes(16))],
        ),
        "16 infer table of 30,000 modules": lambda: _thirty_thousand(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", help="run the recipes whose label holds this word")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        for index, (label, build) in enumerate(recipes(args.write_only).items()):
            if not args.only or args.only in label:
                build().rename(args.write_only / f"{index}.bin")
        return
    compile_package()
    script = console_script()
    with tempfile.TemporaryDirectory() as tmp:
        # Written by another process: a child's peak RSS starts at its parent's (fork).
        only = ["--only", args.only] if args.only else []
        subprocess.run([sys.executable, __file__, "--write-only", tmp, *only], check=True)
        for index, label in enumerate(recipes(Path(tmp))):
            path = Path(tmp) / f"{index}.bin"
            if not path.exists():
                continue
            size = path.stat().st_size
            report(f"{label} ({size:,} B)", [*script, "infer", str(path)], args.runs)
            path.unlink()


if __name__ == "__main__":
    main()
