"""Fuzz ``rnnshape check`` over config contents (YAML, JSON, TOML) and ``--key`` values.

Whatever the file says, the command ends with a documented exit code (0 all ok, 1 problems,
2 a usage error), never a traceback or an "unexpected" error, and prints output bounded by
the file's size. Hypothesis runs derandomized with a fixed number of examples, so CI spends
the same small budget every time (about 20 s here); most examples run in-process through
``rnnshape.cli.main``, a few in a child process under an address-space limit.

Sizes stay small or beyond 64 bits: an in-range extreme size (``num_layers: 10**9``) is the
formulas' concern (issue 11, section 3), not the readers'.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnshape.cli import main
from rnnshape.family import INPUT_KEYS, TORCH_KEYS

REPORT_SCHEMA = json.loads(
    files("rnnshape").joinpath("schemas/check-report-v1.schema.json").read_text()
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYS = [
    *TORCH_KEYS,
    *INPUT_KEYS,
    "type",
    "input",
    "expect",
    "models",
    "num_parameters",
    "max_parameters",
    "output_features",
    "output",
    "h_n",
    "c_n",
    "h_1",
]
TYPES = ["lstm", "gru", "rnn", "lstm_cell", "GRUCell", "rnn-cell", "LSTM", "transformer", ""]

# Beyond int64 (refused before any formula), or small enough that any formula is instant.
integers = st.one_of(
    st.integers(-3, 64),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**300]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(TYPES),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=30,
)
spec_like = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
documents = st.one_of(
    spec_like,
    st.lists(spec_like, max_size=3),
    st.builds(lambda models: {"models": models}, st.dictionaries(st.text(max_size=6), spec_like)),
    values,
)


def to_yaml(doc: object) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def to_json(doc: object) -> str:
    return json.dumps(doc)  # NaN and Infinity as Python writes them: json reads them back


def toml_value(value: object) -> str:
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (
            f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(value)


def to_toml(doc: object) -> str:
    if not isinstance(doc, dict):
        doc = {"value": doc}
    return "".join(
        f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}\n" for k, v in doc.items()
    )


EMITTERS = {"yaml": to_yaml, "json": to_json, "toml": to_toml}
# Characters that mean something to one of the parsers, for mutating emitted text.
SPECIAL = list("[]{}:,-&*!|>'\"#%@`?\n\t 0123456789._+xob=\\") + [
    "---",
    "<<: ",
    "!!int ",
    "&a ",
    "*a",
]


@st.composite
def hostile_blocks(draw: st.DrawFn, fmt: str) -> str:
    """A value written to cost much from little text: an alias bomb (YAML), deep nesting, a
    long integer, a number form YAML versions disagree on, an invalid date."""
    kind = draw(st.sampled_from(["bomb", "deep", "long", "number", "date"]))
    if kind == "bomb" and fmt == "yaml":
        fanout, levels = draw(st.integers(2, 10)), draw(st.integers(2, 9))
        lines = [f"a0: &a0 [{', '.join(['1'] * fanout)}]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
        return "\n".join(lines) + f"\nhidden_size: *a{levels - 1}\n"
    if kind == "deep" or kind == "bomb":
        depth = draw(st.sampled_from([50, 99, 100, 101, 1000, 50_000]))
        return (
            {"yaml": "x: ", "json": '{"x": ', "toml": "x = "}[fmt]
            + "[" * depth
            + "]" * depth
            + ("}" if fmt == "json" else "\n")
        )
    if kind == "long":
        number = "9" * draw(st.sampled_from([19, 20, 300, 3000, 4300, 4301, 6000]))
    elif kind == "number":
        number = draw(st.sampled_from(["020", "1:30", "0x14", "0b1", "1_000", "0o7", "1e5", "-.5"]))
    else:
        number = "2024-13-45"
    return {"yaml": f"hidden_size: {number}\n", "json": f'{{"hidden_size": {number}}}'}.get(
        fmt, f"hidden_size = {number}\n"
    )


@st.composite
def config_texts(draw: st.DrawFn) -> tuple[str, str]:
    """A suffix and a text: an emitted document, sometimes mutated into something else."""
    fmt = draw(st.sampled_from(sorted(EMITTERS)))
    if draw(st.integers(0, 3)) == 0:
        head = "type: lstm\ninput_size: 10\n" if fmt == "yaml" else ""
        return fmt, head + draw(hostile_blocks(fmt))
    text = EMITTERS[fmt](draw(documents))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(st.sampled_from(SPECIAL)) + text[at + cut :]
    return fmt, text


key_parts = st.one_of(
    st.sampled_from(["models", "0", "1", "-1", "enc", "type", "expect", "input"]),
    st.sampled_from(["²", "١", "٣٤", "1" * 5000, "9" * 20, "0x1", " 1", "1_0"]),
    st.text(alphabet=st.characters(categories=["Nd", "No", "L"]), min_size=1, max_size=5),
    st.text(max_size=4),
)
keys = st.lists(key_parts, min_size=1, max_size=4).map(".".join)

_DIR = tempfile.mkdtemp(prefix="rnnshape-fuzz-")


def check(text: str, suffix: str, *args: str) -> tuple[int, str, str]:
    """``rnnshape check`` on a file holding ``text``, in-process."""
    path = Path(_DIR) / f"fuzz.{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["check", str(path), *args])
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, out: str, err: str, text: str) -> None:
    assert code in (0, 1, 2), (code, out, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len(out) + len(err) <= 20 * len(text) + 5000, (len(out), len(err), len(text))
    if code == 2:
        assert out == "" and err.startswith("error: "), (out, err)


@FUZZ
@given(config_texts())
def test_any_config_text(case: tuple[str, str]) -> None:
    fmt, text = case
    code, out, err = check(text, fmt)
    assert_clean(code, out, err, text)
    assert code != 2, err  # a file's content is never a usage error
    assert out.splitlines()[-1].startswith("checked "), out


@FUZZ
@given(config_texts())
def test_any_config_text_as_json(case: tuple[str, str]) -> None:
    fmt, text = case
    code, out, err = check(text, fmt, "--json")
    assert_clean(code, out, err, text)
    document = json.loads(out)
    jsonschema.validate(document, REPORT_SCHEMA)
    assert code == (0 if document["status"] == "ok" else 1)


@FUZZ
@given(documents, keys, st.sampled_from(sorted(EMITTERS)))
def test_any_key(doc: Any, key: str, fmt: str) -> None:
    text = EMITTERS[fmt](doc)
    code, out, err = check(text, fmt, "--key", key)
    assert_clean(code, out, err, text + key)


@pytest.mark.skipif(os.name != "posix", reason="resource limits are POSIX")
@settings(FUZZ, max_examples=6)
@given(config_texts())
def test_in_a_child_under_a_memory_limit(case: tuple[str, str]) -> None:
    fmt, text = case
    path = Path(_DIR) / f"child.{fmt}"
    path.write_text(text, encoding="utf-8")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from rnnshape.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "check", str(path)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert_clean(done.returncode, done.stdout, done.stderr, text)
