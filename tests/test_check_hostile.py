"""``rnnshape check`` on hostile and extreme config files (issue 11, "every reader is bounded").

Every case is a problem of its own file, with a rule id, while the other files are still
checked; never an "unexpected" error. The resource cases also run in a child process under
an address-space limit and a timeout (generous bounds, not timings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rnnshape.check.files import MAX_FILE_BYTES
from rnnshape.check.parsers import MAX_ALIAS_NODES, MAX_DEPTH
from rnnshape.cli import main

REPORT_SCHEMA = json.loads(
    files("rnnshape").joinpath("schemas/check-report-v1.schema.json").read_text()
)
GOOD = "type: lstm\ninput_size: 10\nhidden_size: 20\n"
posix_only = pytest.mark.skipif(os.name != "posix", reason="fifos, devices and rlimits are POSIX")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["check", *args, "--json"])
    out, err = capsys.readouterr()
    assert "unexpected" not in err, err
    document = json.loads(out)
    jsonschema.validate(document, REPORT_SCHEMA)
    return code, document, out


def errors_by_file(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for result in document["results"]:
        found.setdefault(result["file"], []).extend(result["errors"])
    return found


def only_error(document: dict[str, Any], path: str) -> dict[str, Any]:
    [error] = errors_by_file(document)[path]
    return error


def assert_good_still_checked(document: dict[str, Any], good: str) -> None:
    [result] = [r for r in document["results"] if r["file"] == good]
    assert result["ok"], result


def run_child(
    *args: str, timeout: float = 20, memory: int = 1 << 30
) -> subprocess.CompletedProcess[str]:
    """``rnnshape check ARGS`` in a child limited to ``memory`` bytes of address space."""
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
        "from rnnshape.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- only regular files, up to the size cap -------------------------------------------------


@posix_only
def test_fifo_and_device_are_problems_of_their_own(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")  # reading it would never end
    good = write(tmp_path, "good.yaml", GOOD)
    done = run_child(str(fifo), str(zero), good, "--json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    found = errors_by_file(document)
    assert [e["rule"] for e in found[str(fifo)]] == ["file"]
    assert "a fifo" in found[str(fifo)][0]["message"]
    assert [e["rule"] for e in found[str(zero)]] == ["file"]
    assert "a character device, not a regular file" in found[str(zero)][0]["message"]
    assert_good_still_checked(document, good)


def test_file_over_the_cap_names_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = write(tmp_path, "big.yaml", GOOD + "#" * MAX_FILE_BYTES)
    at_cap = write(tmp_path, "at.yaml", GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1) + "\n")
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, _ = run_json(capsys, big, at_cap, good)
    assert code == 1
    error = only_error(document, big)
    assert error["rule"] == "file"
    assert "larger than the 1 MiB limit" in error["message"]
    assert errors_by_file(document)[at_cap] == []  # exactly the cap is read
    assert_good_still_checked(document, good)


def test_directory_with_a_config_suffix_is_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "odd.yaml").mkdir()
    code, document, _ = run_json(capsys, str(tmp_path / "odd.yaml"))
    assert code == 1
    assert only_error(document, str(tmp_path / "odd.yaml"))["rule"] == "file"


# --- alias bombs ----------------------------------------------------------------------------


def laughs(levels: int = 9) -> str:
    """Anchors a0..a8, each a list of ten aliases of the one before: 10**9 values in all."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMB_PLACES = {
    "size": "hidden_size: *a8\n",
    "expect": "hidden_size: 20\nexpect: {output: *a8}\n",
    "lengths": "hidden_size: 20\ninput: {lengths: *a8}\n",
}


@pytest.mark.parametrize("place", list(BOMB_PLACES))
def test_alias_bomb_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], place: str
) -> None:
    bomb = write(
        tmp_path,
        "bomb.yaml",
        "bomb:\n"
        + "".join("  " + line + "\n" for line in laughs().splitlines())
        + "type: lstm\ninput_size: 10\n"
        + BOMB_PLACES[place],
    )
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, out = run_json(capsys, bomb, good)
    assert code == 1
    error = only_error(document, bomb)
    assert error["rule"] == "parse"
    assert "alias" in error["message"] and error["line"] is not None
    assert len(out) < 5000
    assert_good_still_checked(document, good)


@posix_only
def test_alias_bomb_in_bounded_memory_and_time(tmp_path: Path) -> None:
    bomb = write(tmp_path, "bomb.yaml", laughs() + "type: lstm\ninput_size: *a8\nhidden_size: 2\n")
    done = run_child(bomb, memory=512 << 20)
    assert done.returncode == 1, done.stderr
    assert "alias bomb" in done.stdout
    assert len(done.stdout) + len(done.stderr) < 2000


def test_aliases_within_the_limit_are_checked_as_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two levels of ten aliases: 1000 values, far under the limit, still a bad size.
    path = write(
        tmp_path,
        "m.yaml",
        laughs(3) + "type: lstm\ninput_size: 10\nhidden_size: 20\ninput: {lengths: *a2}\n",
    )
    assert MAX_ALIAS_NODES > 1000
    code, document, _ = run_json(capsys, path)
    assert code == 1
    messages = [e["message"] for e in only_error_list(document)]
    assert any(m.startswith("input.lengths") for m in messages)
    assert all(len(m) <= 500 for m in messages)


def only_error_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for r in document["results"] for e in r["errors"]]


def test_normal_anchors_and_merges_keep_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "hidden: &h 20\n"
        "base: &base {type: lstm, input_size: 10}\n"
        "models:\n"
        "  enc: {type: lstm, input_size: 10, hidden_size: *h}\n"
        "  dec:\n"
        "    <<: *base\n"
        "    hidden_size: *h\n"
        "    expect: {output_features: *h}\n",
    )
    code, document, _ = run_json(capsys, path)
    assert code == 0, document
    assert [r["output_shape"] for r in document["results"]] == [[5, 3, 20], [5, 3, 20]]


# --- parse failures are per file ------------------------------------------------------------


def nested(fmt: str, depth: int) -> str:
    inner = "[" * depth + "]" * depth
    if fmt == "toml":
        return f"type = 'lstm'\nx = {inner}\n"
    if fmt == "json":
        return '{"type": "lstm", "x": ' + inner + "}"
    return "type: lstm\nx: " + inner + "\n"


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_a_parse_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, depth: int
) -> None:
    deep = write(tmp_path, f"deep.{fmt}", nested(fmt, depth))
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, _ = run_json(capsys, deep, good)
    assert code == 1
    error = only_error(document, deep)
    assert error["rule"] == "parse"
    assert "nested" in error["message"] and str(MAX_DEPTH) in error["message"]
    assert_good_still_checked(document, good)


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_nesting_up_to_the_limit_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = write(tmp_path, f"m.{fmt}", nested(fmt, MAX_DEPTH - 1))
    code, document, _ = run_json(capsys, path)
    assert code == 1
    assert {e["rule"] for e in only_error_list(document)} == {"unknown_key", "value"}


@posix_only
def test_deep_yaml_in_a_child_does_not_crash(tmp_path: Path) -> None:
    # libyaml's composer recursed until the C stack overflowed: a segmentation fault.
    deep = write(tmp_path, "deep.yaml", nested("yaml", 100_000))
    done = run_child(deep)
    assert done.returncode == 1, done.stderr
    assert "nested more than" in done.stdout


def number_file(fmt: str, digits: int) -> str:
    big = "9" * digits
    if fmt == "toml":
        return f"type = 'lstm'\ninput_size = 10\nhidden_size = {big}\n"
    if fmt == "json":
        return '{"type": "lstm", "input_size": 10, "hidden_size": ' + big + "}"
    return f"type: lstm\ninput_size: 10\nhidden_size: {big}\n"


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_huge_integers(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    long = write(tmp_path, f"long.{fmt}", number_file(fmt, 3000))  # read, then refused
    longer = write(tmp_path, f"longer.{fmt}", number_file(fmt, 5000))  # beyond Python's reading
    just = write(tmp_path, f"just.{fmt}", number_file(fmt, 20))
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, out = run_json(capsys, long, longer, just, good)
    assert code == 1
    for path in (long, just):
        error = only_error(document, path)
        assert error["rule"] == "value"
        assert "beyond the 64-bit integers" in error["message"]
    assert "(3000 digits)" in only_error(document, long)["message"]
    error = only_error(document, longer)
    assert (error["rule"], error["line"]) == ("parse", 3 if fmt != "json" else 1)
    assert "5000 digits" in error["message"]
    assert_good_still_checked(document, good)
    assert len(out) < 10_000


def test_big_integer_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = "7" * 3000
    path = write(tmp_path, "m.yaml", f"models:\n  ? {key}\n  : {{type: lstm, input_size: 1}}\n")
    code, document, out = run_json(capsys, path)
    assert code == 1
    [result] = document["results"]
    assert result["name"] == key  # the JSON keeps the name whole; the label is shortened
    assert len(result["label"]) <= len(f"{path}::") + 60
    assert [e["rule"] for e in result["errors"]] == ["value"]
    code = main(["check", path, "--key", f"models.{key}"])
    out, err = capsys.readouterr()
    assert code == 1 and "unexpected" not in err
    assert len(out) < 1000


@pytest.mark.parametrize(
    "part",
    ["١", "²", "٣٤", "1" * 5000, "-1", "9" * 19, "0x1", " 1", "1_0"],
    ids=[
        "arabic-1",
        "superscript-2",
        "arabic-34",
        "5000-digits",
        "-1",
        "19-digits",
        "0x1",
        "space",
        "underscore",
    ],
)
def test_unusual_key_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str], part: str) -> None:
    path = write(tmp_path, "m.yaml", f"models:\n  - {{{GOOD.strip().replace(chr(10), ', ')}}}\n")
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, out = run_json(capsys, path, good, "--key", f"models.{part}")
    assert code == 1
    assert only_error(document, path)["rule"] == "key"
    assert len(out) < 2000
    # the other file has no "models" either: a key problem of its own, still reported
    assert only_error(document, good)["rule"] == "key"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2024-13-45", "month must be in 1..12"),
        ("!!int abc", "'abc' is not a number"),
        ("!!float abc", "'abc' is not a number"),
        ("!!binary abc", "base64"),
        ("!!python/object:os.system ls", "could not determine a constructor"),
    ],
)
def test_values_no_constructor_builds_are_parse_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, fragment: str
) -> None:
    path = write(tmp_path, "m.yaml", f"type: lstm\ninput_size: 10\nhidden_size: {value}\n")
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, _ = run_json(capsys, path, good)
    assert code == 1
    error = only_error(document, path)
    assert error["rule"] == "parse" and error["line"] == 3
    assert fragment in error["message"]
    assert_good_still_checked(document, good)


# --- YAML numbers: plain decimal only -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("020", "020 reads as 16 (octal) in YAML 1.1 and as 20 in YAML 1.2: write 16 or 20"),
        ("1:30", "1:30 reads as 90 (base 60) in YAML 1.1 and as a string in YAML 1.2: write 90"),
        ("0x14", "0x14 reads as 20 (hexadecimal): write 20"),
        ("0b10100", "0b10100 reads as 20 (binary) in YAML 1.1 and as a string in YAML 1.2"),
        ("1_000", "1_000 reads as 1000 in YAML 1.1 and as a string in YAML 1.2: write 1000"),
        ("0o24", "0o24 reads as a string in YAML 1.1 and as 20 (octal) in YAML 1.2: write 20"),
        ("09", "09 reads as a string in YAML 1.1 and as 9 in YAML 1.2: write 9"),
        ("1e2", "1e2 reads as a string in YAML 1.1 and as 100.0 in YAML 1.2: write 100.0"),
        ("1" * 60 + ":00", "(63 characters) is a number not written in plain decimal"),
    ],
    ids=lambda v: v[:12] if isinstance(v, str) else None,
)
def test_yaml_numbers_read_differently_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, "m.yaml", f"type: lstm\ninput_size: 10\nhidden_size: {text}\n")
    code, document, _ = run_json(capsys, path)
    assert code == 1
    error = only_error(document, path)
    assert error["rule"] == "number"
    assert (error["line"], error["column"]) == (3, 14)
    assert error["message"].startswith("hidden_size: ")
    assert expected in error["message"]


def test_numbers_deep_in_a_spec_and_in_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "type: lstm\ninput_size: 10\nhidden_size: 20\n"
        "input: {lengths: [5, 0_3]}\nexpect: {output: [5, 1:00, 20]}\n010: x\n",
    )
    code, document, _ = run_json(capsys, path)
    assert code == 1
    messages = sorted(e["message"].split(":")[0] for e in only_error_list(document))
    assert messages == ["a key", "expect.output[1]", "input.lengths[1]"]
    assert {e["rule"] for e in only_error_list(document)} == {"number"}


def test_plain_decimal_numbers_and_quoted_text_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "type: lstm\ninput_size: +10\nhidden_size: 20\nnum_layers: 2\ndropout: .5\n"
        "bogus_label: '020'\n",
    )
    code, document, _ = run_json(capsys, path)
    # only the unknown key; the quoted '020' is text, +10 and .5 read the same everywhere
    assert [e["rule"] for e in only_error_list(document)] == ["unknown_key"]
    assert code == 1


def test_numbers_outside_the_spec_are_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "mode: 0644\ntime: 1:30\nmodel:\n"
        + "".join("  " + line + "\n" for line in GOOD.splitlines()),
    )
    code, document, _ = run_json(capsys, path, "--key", "model")
    assert code == 0, document


def test_toml_number_forms_are_unambiguous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m.toml", "type = 'lstm'\ninput_size = 0x0a\nhidden_size = 2_0\n")
    code, document, _ = run_json(capsys, path)
    assert code == 0, document
    assert document["results"][0]["output_shape"] == [5, 3, 20]


# --- messages stay short --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "type: " + "x" * 100_000 + "\n",
        "type: lstm\ninput_size: 10\nhidden_size: 20\n" + "y" * 1000 + ": 1\n",
        "type: lstm\ninput_size: 10\nhidden_size: '" + "z" * 100_000 + "'\n",
        "type: lstm\ninput_size: 10\nhidden_size: [" + "1, " * 100_000 + "]\n",
        "type: lstm\ninput_size: 10\nhidden_size: 20\nexpect: {output: ["
        + "[1], " * 50_000
        + "]}\n",
        "models:\n" + "".join(f"  m{i}: {{}}\n" for i in range(2000)),
    ],
    ids=["type", "key", "string", "list", "expect", "models"],
)
def test_messages_quote_values_shortened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = write(tmp_path, "m.yaml", text)
    code, document, _ = run_json(capsys, path)
    assert code == 1
    for error in only_error_list(document):
        assert len(error["message"]) <= 500, error["message"][:600]


def test_key_listing_is_shortened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "m.yaml", "".join(f"k{i}: 1\n" for i in range(5000)))
    code, document, _ = run_json(capsys, path, "--key", "nope")
    error = only_error(document, path)
    assert error["message"].endswith("k9, … (4990 more))")


# --- folders --------------------------------------------------------------------------------


def test_folder_is_every_config_under_it_sorted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "configs"
    texts = {
        "yaml": GOOD,
        "yml": GOOD,
        "json": '{"type": "gru", "input_size": 1, "hidden_size": 2}',
        "toml": "type = 'rnn'\ninput_size = 1\nhidden_size = 2\n",
    }
    for name in ("b.yaml", "a/z.json", "a/b/c.toml", "A.yml", ".hidden/x.yaml", ".dot.yaml"):
        write(root, name, texts[name.rsplit(".", 1)[1]])
    write(root, "notes.txt", "not a config")
    write(root, "a/README.md", "# no")
    code, document, _ = run_json(capsys, str(root))
    assert code == 0, document
    got = [Path(r["file"]).relative_to(root).as_posix() for r in document["results"]]
    assert got == ["A.yml", "a/b/c.toml", "a/z.json", "b.yaml"]
    assert document["summary"]["files"] == 4


def test_folder_and_files_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "d", "one.yaml", GOOD)
    single = write(tmp_path, "single.json", '{"type": "lstm", "input_size": 1, "hidden_size": 2}')
    code = main(["check", single, str(tmp_path / "d") + os.sep])
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert out.splitlines()[-1] == "checked 2 specs in 2 files: all ok"


def test_folder_without_configs_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    write(empty, ".hidden/x.yaml", GOOD)
    write(empty, "notes.txt", "x")
    good = write(tmp_path, "good.yaml", GOOD)
    code, document, _ = run_json(capsys, str(empty), good)
    assert code == 1
    error = only_error(document, str(empty))
    assert error["rule"] == "file"
    assert error["message"].startswith("a folder with no config file under it")
    assert_good_still_checked(document, good)


@posix_only
def test_folder_symlink_loop_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "d", "m.yaml", GOOD)
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    code, document, _ = run_json(capsys, str(tmp_path / "d"))
    assert code == 0
    assert len(document["results"]) == 1
