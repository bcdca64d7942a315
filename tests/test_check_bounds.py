"""``rnnshape check`` round 3 (issue 15 items 5, 8, 18; issue 16 items 3, 11): keys that all
hash alike, unreadable folders, 10,000 files streamed, standard input, mappings of named specs,
and YAML 1.1 booleans. Floods run in a child process held to 60 s and 1 GiB of address space.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rnnshape.check import CheckStream, iter_checked
from rnnshape.check.files import MAX_FILE_BYTES
from rnnshape.cli import main
from rnnshape.render.check import RENDERERS

REPORT_SCHEMA = json.loads(
    files("rnnshape").joinpath("schemas/check-report-v1.schema.json").read_text()
)
GOOD = "type: lstm\ninput_size: 10\nhidden_size: 20\n"
HASH_MODULUS = 2**61 - 1  # Python hashes an int as its value modulo this
LIMIT_AS = 1024**3


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def check_child(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``rnnshape check ARGS`` in a child under an address-space limit and a time limit."""
    done = subprocess.run(
        [sys.executable, "-m", "rnnshape", "check", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        preexec_fn=_limit,  # noqa: PLW1509 - no threads here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    return done


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["check", "--json", *args])
    out, err = capsys.readouterr()
    document = json.loads(out)
    jsonschema.validate(document, REPORT_SCHEMA)
    return code, document, err


# --- item 5: integer keys equal modulo 2**61 - 1 ------------------------------------------


def colliding_yaml(size: int, top_level: bool) -> str:
    """A mapping of integer keys that all hash alike, ``size`` bytes of YAML."""
    lines = [] if top_level else ["models:"]
    indent = "" if top_level else "  "
    total, n = 8, 1
    while total < size - 64:
        line = f"{indent}{5 + n * HASH_MODULUS}: 1"
        lines.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("top_level", [False, True], ids=["models", "one-spec"])
def test_keys_that_all_hash_alike_cost_linear_time(tmp_path: Path, top_level: bool) -> None:
    # Before: 33 s (models) and 86 s (the file) on a 1 MiB file; each key took time
    # proportional to the keys before it.
    path = tmp_path / "collide.yaml"
    path.write_text(colliding_yaml(MAX_FILE_BYTES, top_level))
    assert path.stat().st_size <= MAX_FILE_BYTES
    done = check_child(str(path), timeout=20)  # ~1 s now
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-1].startswith("checked "), done.stdout[-300:]


def test_wide_integer_keys_still_find_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = 4 * HASH_MODULUS + 5  # 2**63 + 1, beyond 64 bits: hashed from its bytes
    assert wide > 2**63 and len(str(wide)) == 19
    path = tmp_path / "m.yaml"
    path.write_text(f"models:\n  {wide}: {{{GOOD.strip().replace(chr(10), ', ')}}}\n")
    code, document, _ = run_json(capsys, str(path))
    assert code == 0, document
    [result] = document["results"]
    assert result["name"] == str(wide)
    code, document, _ = run_json(capsys, str(path), "--key", f"models.{wide}")
    assert code == 0, document
    assert [r["name"] for r in document["results"]] == [str(wide)]
    path.write_text(f"models:\n  {wide}: 1\n  {wide}: 2\n")
    code, document, _ = run_json(capsys, str(path))
    [result] = document["results"]
    assert (
        result["errors"][0]["rule"] == "parse" and "duplicate key" in result["errors"][0]["message"]
    )


# --- item 8: unreadable folders and files --------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    (root / "secret").mkdir(parents=True)
    (root / "good.yaml").write_text(GOOD)
    (root / "secret" / "broken.yaml").write_text("type: lstm\n")
    return root


def test_unreadable_subfolder_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, document, _ = run_json(capsys, str(root))
    assert code == 1
    by_file = {r["file"]: r for r in document["results"]}
    assert by_file[str(root / "good.yaml")]["ok"]
    [error] = by_file[str(root / "secret")]["errors"]
    assert (
        error["rule"] == "file" and "cannot read this folder: Permission denied" in error["message"]
    )
    code = main(["check", str(root)])
    out, _ = capsys.readouterr()
    assert code == 1 and "all ok" not in out


def test_unreadable_top_folder_and_file_are_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    real_scandir, real_open = os.scandir, os.open

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(root):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, document, _ = run_json(capsys, str(root))
    assert code == 1
    [result] = document["results"]
    assert "cannot read this folder" in result["errors"][0]["message"]
    monkeypatch.setattr(os, "scandir", real_scandir)

    def open_(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith("good.yaml"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    code, document, _ = run_json(capsys, str(root / "good.yaml"))
    assert code == 1
    assert "cannot read: Permission denied" in document["results"][0]["errors"][0]["message"]


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root reads a folder of mode 0000"
)
def test_unreadable_subfolder_for_real(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _tree(tmp_path)
    (root / "secret").chmod(0)
    try:
        code, document, _ = run_json(capsys, str(root))
    finally:
        (root / "secret").chmod(0o755)
    assert code == 1
    assert any(
        "cannot read this folder" in e["message"] for r in document["results"] for e in r["errors"]
    )


# --- item 18: results streamed ---------------------------------------------------------------


def _peak_rss_of_check(folder: Path) -> int:
    code = (
        "import resource, sys\n"
        "from rnnshape.cli import main\n"
        "sys.stdout = open('/dev/null', 'w')\n"
        "main(['check', '--json', sys.argv[1]])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120
    )
    return int(done.stderr.split()[-1]) * 1024


@pytest.mark.skipif(os.name != "posix", reason="ru_maxrss and /dev/null")
def test_memory_stays_flat_with_the_number_of_files(tmp_path: Path) -> None:
    """10,000 files cost what 1,000 do (before: ~7 KiB more per file, 725 MiB for 100,000)."""
    sizes = {}
    for count in (1_000, 10_000):
        folder = tmp_path / str(count)
        for i in range(count):
            sub = folder / f"d{i // 500}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"m{i}.yaml").write_text(
                f"type: gru\ninput_size: {i % 50 + 1}\nhidden_size: 8\n"
            )
        sizes[count] = _peak_rss_of_check(folder)
    assert sizes[10_000] - sizes[1_000] < 20 * 1024**2, sizes


def test_a_stream_renders_what_a_finished_run_does(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD + "---\ntype: gru\ninput_size: 1\n")
    (tmp_path / "b.json").write_text('{"models": {"x": {"type": "rnn"}}}')
    from rnnshape.check import check_files

    paths = [str(tmp_path), str(tmp_path / "a.yaml")]
    for fmt in RENDERERS:
        finished, streamed = io.StringIO(), io.StringIO()
        RENDERERS[fmt](check_files(paths), finished)
        RENDERERS[fmt](CheckStream(iter_checked(paths)), streamed)
        assert streamed.getvalue() == finished.getvalue()
    document = json.loads(streamed.getvalue())
    jsonschema.validate(document, REPORT_SCHEMA)
    assert document["summary"] == {"files": 3, "specs": 5, "ok": 2, "failed": 3}


# --- issue 16 item 11: standard input, YAML 1.1 booleans --------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        '{"type": "lstm", "input_size": 10, "hidden_size": 20}',
        'type = "lstm"\ninput_size = 10\nhidden_size = 20\n',
    ],
    ids=["yaml", "json", "toml"],
)
def test_dash_reads_standard_input(text: str) -> None:
    done = check_child("-", "--json", stdin=text)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert (result["file"], result["module"], result["num_parameters"]) == (
        "<stdin>",
        "LSTM",
        4 * 20 * (10 + 20) + 8 * 20,
    )


def test_standard_input_problems_and_limits() -> None:
    done = check_child("-", stdin="type: lstm\ninput_size: 10\n")
    assert done.returncode == 1 and "<stdin>: line 1: missing key 'hidden_size'" in done.stdout
    done = check_child("-", stdin="x: " + "y" * MAX_FILE_BYTES)
    assert done.returncode == 1 and "larger than the 1 MiB limit" in done.stdout
    done = check_child("-", stdin="")
    assert done.returncode == 1 and "empty" in done.stdout


@pytest.mark.parametrize("word", ["yes", "Yes", "on", "ON", "no", "off", "Off"])
def test_yaml_11_booleans_are_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], word: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"{GOOD}bias: {word}\n")
    code, document, err = run_json(capsys, str(path))
    assert code == 0
    [result] = document["results"]
    [warning] = result["warnings"]
    value = "true" if word.lower() in ("yes", "on") else "false"
    assert warning.startswith(f"line 4, column 7: bias: {word} reads as {value} in YAML 1.1")
    assert f"write {value}, or quote it" in warning and "(rule boolean)" in warning
    assert f"{path}: {warning}" in err
    # As YAML 1.1 reads it: bias=False means no bias parameters.
    assert (result["num_parameters"] == 4 * 20 * 30) is (value == "false")


def test_yaml_12_booleans_and_quoted_words_pass_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"{GOOD}bias: true\nbatch_first: FALSE\n---\n{GOOD}bias: 'yes'\n")
    code, document, err = run_json(capsys, str(path))
    assert [r["warnings"] for r in document["results"]] == [[], []]
    assert err == ""
    assert document["results"][1]["errors"][0]["rule"] == "wrong_type"


# --- issue 16 item 3: --key naming a mapping of named specs ----------------------------------


EXPERIMENT = """\
model:
  encoder: {type: lstm, input_size: 10, hidden_size: 20}
  decoder: {type: gru, input_size: 20, hidden_size: 30, expect: {num_parameters: 1}}
optimizer: {lr: 0.1}
"""


def test_key_naming_a_mapping_of_specs_checks_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    code, document, _ = run_json(capsys, str(path), "--key", "model")
    assert code == 1
    results = {r["name"]: r for r in document["results"]}
    assert set(results) == {"model.encoder", "model.decoder"}
    assert results["model.encoder"]["ok"]
    assert results["model.encoder"]["label"] == f"{path}::model.encoder"
    [error] = results["model.decoder"]["errors"]
    assert (error["rule"], error["line"]) == ("expect.num_parameters", 3)
    # The hint the labels give works as a --key of its own.
    code, document, _ = run_json(capsys, str(path), "--key", "model.encoder")
    assert code == 0 and len(document["results"]) == 1


def test_a_spec_is_never_taken_for_a_mapping_of_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("model:\n  input: {seq: 5}\n  expect: {output: [5, 1, 20]}\n")
    code, document, _ = run_json(capsys, str(path), "--key", "model")
    [result] = document["results"]  # one spec with its own problems (no type)
    assert result["name"] == "model" and result["errors"][0]["rule"] == "type"
