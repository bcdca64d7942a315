"""Random command lines, in process: never a traceback nor an "unexpected" error, always a
documented exit code (0, 1, 2), one ``error:``/``warning:`` line per message, bounded output
that a strict UTF-8 terminal can take. Layer commands run with --dry-run (no torch), so a
fixed budget of examples runs in seconds."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnshape.cli import main

EXAMPLES = int(os.environ.get("RNNSHAPE_FUZZ_EXAMPLES", "300"))
MAX_OUTPUT = 1_000_000  # characters on stdout and stderr together
LAYER_MODES = ["rnn", "lstm", "gru", "rnn-cell", "lstm-cell", "gru-cell"]
# Any size is answered fast or refused (closed forms, elided listings, the run guards):
# num_layers and --lengths range up to 10**12.
MAX_LAYERS = 10**12
MAX_LENGTH = 10**12

# Text as a stranger types it: unicode, controls (no NUL: argv cannot carry one), lone
# surrogates (a file name of raw bytes), markup, quotes, dashes.
hostile_text = st.one_of(
    st.text(
        st.characters(blacklist_characters="\x00", blacklist_categories=()),
        max_size=12,
    ),
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "--",
            "--typo",
            "[/bold]",
            "[link=https://evil.example]x[/link]",
            "\x1b[2J",
            "cpu\n",
            "\u2028",
            "\udcff",
            "١٠",
            "1_000",
            " 10 ",
            "1e3",
            "nan",
            "inf",
            "0x10",
            "10" * 40,
        ]
    ),
)
numbers = st.one_of(
    st.integers(-3, 40),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2**31, 2**63, 10**30, -(10**30)]),
)
number_text = st.one_of(numbers.map(str), hostile_text)


def _within(limit: int) -> Callable[[str], bool]:
    """A filter: text whose comma-separated items are not integers above ``limit``."""

    def small(text: str) -> bool:
        for item in text.split(","):
            try:
                if abs(int(item)) > limit:
                    return False
            except ValueError:
                pass
        return True

    return small


layers_text = st.one_of(
    st.integers(-2, 40).map(str),
    st.integers(-2, MAX_LAYERS).map(str),
    hostile_text.filter(_within(MAX_LAYERS)),
)


def _lengths() -> st.SearchStrategy[str]:
    items = st.one_of(
        st.integers(-2, 300).map(str),
        st.integers(-2, MAX_LENGTH).map(str),
        st.sampled_from(["", " ", "x", "1.5"]),
    )
    return st.one_of(
        st.lists(items, max_size=6).map(",".join), hostile_text.filter(_within(MAX_LENGTH))
    )


# Each flag with what may follow it (None: a switch).
LAYER_FLAGS: dict[str, st.SearchStrategy[str] | None] = {
    "--nonlinearity": st.one_of(st.sampled_from(["tanh", "relu", "TANH", "sigmoid"]), hostile_text),
    "--bias": None,
    "--no-bias": None,
    "--batch-first": None,
    "--dropout": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str), number_text, hostile_text
    ),
    "--bidirectional": None,
    "--proj-size": number_text,
    "--seq": st.one_of(number_text, st.integers(-2, 10**15).map(str)),
    "--batch": number_text,
    "--unbatched": None,
    "--lengths": _lengths(),
    "--device": st.one_of(
        st.sampled_from(["cpu", "cuda", "cuda:0", "mps", "auto", "cuda:99", "cpu\n", "tpu"]),
        hostile_text,
    ),
    "--dtype": st.one_of(
        st.sampled_from(["float32", "float64", "float16", "bfloat16", "int8"]), hostile_text
    ),
    "--seed": number_text,
    "--bench": number_text,
    "--backward": None,
    "--explain": None,
    "--json": None,
    "--svg": st.sampled_from(["notes.yaml", "/no/such/folder/x.svg", ".", "x", "\x1b.svg"]),
}
CHECK_FLAGS: dict[str, st.SearchStrategy[str] | None] = {
    "--key": st.one_of(
        st.sampled_from(["model", "models.a", "a.0.b", "..", "a..b", "0"]), hostile_text
    ),
    "--json": None,
    "--device": hostile_text,
    "--dtype": hostile_text,
}
INFER_FLAGS: dict[str, st.SearchStrategy[str] | None] = {"--json": None, "--spec": None}


@st.composite
def flags(draw: st.DrawFn, table: dict[str, st.SearchStrategy[str] | None]) -> list[str]:
    words: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(table)), max_size=5)):
        words.append(name)
        value = table[name]
        if value is not None:
            words.append(draw(value))
    if draw(st.integers(0, 9)) == 0:  # now and then a stray word or an unknown flag
        # (never a huge integer: it could land where NUM_LAYERS goes)
        words.insert(
            draw(st.integers(0, len(words))), draw(hostile_text.filter(_within(MAX_LAYERS)))
        )
    return words


@st.composite
def layer_lines(draw: st.DrawFn) -> list[str]:
    mode = draw(st.sampled_from(LAYER_MODES))
    sizes = [draw(number_text), draw(number_text)]
    if draw(st.booleans()):
        sizes.append(draw(layers_text))
    sizes = sizes[: draw(st.integers(0, 3))] if draw(st.integers(0, 9)) == 0 else sizes
    return [mode, *sizes, *draw(flags(LAYER_FLAGS)), "--dry-run"]


# A path typed as hostile text, but never a folder above the test's own: `check /` would
# rightly check every config file on the machine.
path_text = hostile_text.filter(lambda t: not t.lstrip().startswith(("/", "..")))


@st.composite
def check_lines(draw: st.DrawFn, files: list[str]) -> list[str]:
    chosen = draw(st.lists(st.one_of(st.sampled_from(files), path_text), max_size=4))
    return ["check", *chosen, *draw(flags(CHECK_FLAGS))]


@st.composite
def infer_lines(draw: st.DrawFn, files: list[str]) -> list[str]:
    path = draw(st.one_of(st.sampled_from(files), hostile_text))
    return ["infer", path, *draw(flags(INFER_FLAGS))]


other_lines = st.one_of(
    st.lists(hostile_text, max_size=4),
    st.tuples(st.sampled_from(["schema", "--version"]), hostile_text).map(list),
)


def _safetensors(path: Path, names: dict[str, list[int]]) -> None:
    header, offset = {}, 0
    for name, shape in names.items():
        size = 4
        for n in shape:
            size *= n
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Config files and checkpoints, good and bad, for check and infer to read."""
    folder = tmp_path_factory.mktemp("fuzz")
    configs = {
        "good.yaml": "type: lstm\ninput_size: 10\nhidden_size: 20\nnum_layers: 2\n",
        "models.yaml": "models:\n  a: {type: gru, input_size: 3, hidden_size: 4}\n"
        "  '[/bold]\\x1b': {type: rnn, input_size: -1, hidden_size: 4}\n",
        "bad.yaml": "type: [\n",
        "model.json": '{"model": {"type": "lstm_cell", "input_size": 2, "hidden_size": 3}}',
        "x.toml": '[model]\ntype = "gru"\ninput_size = 2\nhidden_size = 3\n',
        "empty.yaml": "",
        "notes.txt": "hello\n",
    }
    for name, text in configs.items():
        (folder / name).write_text(text, encoding="utf-8")
    lstm = {
        "weight_ih_l0": [12, 2],
        "weight_hh_l0": [12, 3],
        "bias_ih_l0": [12],
        "bias_hh_l0": [12],
    }
    _safetensors(folder / "good.safetensors", {f"[/bold]\x1b.{k}": v for k, v in lstm.items()})
    _safetensors(folder / "partial.safetensors", {"rnn.weight_ih_l0": [12, 2]})
    (folder / "junk.pt").write_bytes(b"\x80\x02junk")
    return {
        "check": [str(folder / name) for name in configs],
        "infer": [str(folder / n) for n in ("good.safetensors", "partial.safetensors", "junk.pt")]
        + [str(folder / "good.yaml")],
    }


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr as a terminal would take them: strict UTF-8."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out.flush()
    err.flush()
    return code, out_bytes.getvalue().decode(), err_bytes.getvalue().decode()


def assert_clean(argv: list[str], code: int, out: str, err: str) -> None:
    where = f"argv={argv!r}\nstderr={err[-2000:]!r}"
    assert code in (0, 1, 2), where
    assert "Traceback" not in err and "error: unexpected " not in err, where
    assert len(out) + len(err) < MAX_OUTPUT, where
    for line in err.splitlines():
        assert line.startswith(("error: ", "warning: ", "Try '")), where
    if code == 2:
        assert "error: " in err, where
    if "--json" in argv and code == 0 and out:
        json.loads(out)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_command_lines(
    data: st.DataObject,
    sample_files: dict[str, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    argv = data.draw(
        st.one_of(
            layer_lines(),
            layer_lines(),
            check_lines(sample_files["check"]),
            infer_lines(sample_files["infer"]),
            other_lines,
        ),
        label="argv",
    )
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.getbasetemp())  # a relative --svg lands in the test folder
    try:
        code, out, err = run_in_process(argv)
    finally:
        os.chdir(cwd)
    assert_clean(argv, code, out, err)
