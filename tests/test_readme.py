"""The README's examples are the tool's own output (regenerate: pytest --update-golden).

Conventions in README.md:

- An example is a fenced block whose first line is ``$ <command>`` (continued by lines ending
  in a backslash); the rest of the block is what the command prints on stdout. The command
  runs in bash from the repository root, with ``rnnshape`` and ``python`` meaning this
  checkout under this interpreter. It must exit 0 (or the N of a trailing ``# exits N``
  comment) and print nothing on stderr. A line ``…`` alone stands for lines left out: the
  parts between such lines must appear in the output in that order, each line for line.
- A fenced block right after a line ``<!-- output: tests/golden/NAME -->`` is that golden
  file (rendered by its own test, e.g. from a checkpoint the tests build).
- Lines are compared without trailing spaces, which a README cannot keep.

``pytest --update-golden`` rewrites each block from the tool's output (an excerpt keeps its
parts, each re-read from the line it starts with); review the diff. Every top-level key of
the JSON schemas is also checked to be named in the README section that lists them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ELISION = "…"
GOLDEN_MARK = re.compile(r"^<!-- output: (tests/golden/[\w.\-]+) -->$")
EXIT_COMMENT = re.compile(r"\s+# exits (\d+)$")
# The terminal and the environment must not change what a pipe receives.
SCRUBBED_ENV = (
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "NO_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "RNNSHAPE_DEBUG",
    "PYTHONWARNINGS",
)


class Block(NamedTuple):
    """One fenced block of the README: its body lines and what precedes it."""

    start: int  # index of the first body line in the README's lines
    body: list[str]
    mark: str | None  # the golden file named by an <!-- output: ... --> line before it

    @property
    def command(self) -> str:
        """The shell command of a ``$`` example, continuation lines joined as bash would."""
        lines = self.command_lines
        return "\n".join(lines)[2:]

    @property
    def command_lines(self) -> list[str]:
        lines = [self.body[0]]
        while lines[-1].endswith("\\") and len(lines) < len(self.body):
            lines.append(self.body[len(lines)])
        return lines

    @property
    def expected(self) -> list[str]:
        return self.body[len(self.command_lines) :] if self.mark is None else self.body


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of the README (fences of three backticks or more)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(`{3,})", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == fence.group(1))
        previous = lines[i - 1] if i else ""
        mark = GOLDEN_MARK.match(previous)
        blocks.append(Block(i + 1, lines[i + 1 : end], mark.group(1) if mark else None))
        i = end + 1
    return blocks


def examples(text: str | None = None) -> list[Block]:
    """The README's examples: ``$`` blocks and golden-file blocks."""
    text = README.read_text(encoding="utf-8") if text is None else text
    return [b for b in readme_blocks(text) if b.mark or (b.body and b.body[0].startswith("$ "))]


def example_id(block: Block) -> str:
    return block.mark or block.command.split("\n")[0].rstrip(" \\")


@pytest.fixture(scope="module")
def shims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose ``rnnshape`` and ``python`` are this checkout under this interpreter."""
    folder = tmp_path_factory.mktemp("bin")
    for name, args in (("rnnshape", "-m rnnshape"), ("python", "")):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {args} "$@"\n', encoding="utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return folder


def run_example(command: str, shims: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail\n{command}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stripped(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and out[-1] == "":
        out.pop()
    return out


_TOOK = re.compile(r"took \S+ \S+( \(estimated \S+ \S+\))?")
_MEASURED_ROW = re.compile(r"^(peak \(measured\)).*")


def measured_free(lines: list[str]) -> list[str]:
    """The lines with what a run measures afresh (its time, its peak memory) blanked, and
    spacing and rules collapsed (a wider measured number widens its table)."""
    out = []
    for line in lines:
        line = _MEASURED_ROW.sub(r"\1 <measured>", _TOOK.sub("took <time>", line))
        out.append(re.sub(r"─+", "─", re.sub(r" +", " ", line)).rstrip())
    return out


def parts(lines: list[str]) -> list[list[str]]:
    """The runs of lines between ``…`` lines."""
    runs: list[list[str]] = [[]]
    for line in lines:
        if line == ELISION:
            runs.append([])
        else:
            runs[-1].append(line)
    return runs


def find_run(run: list[str], actual: list[str], start: int) -> int:
    """Where ``run`` appears line for line in ``actual`` at or after ``start``, or -1."""
    for i in range(start, len(actual) - len(run) + 1):
        if actual[i : i + len(run)] == run:
            return i
    return -1


def matches_excerpt(expected: list[str], actual: list[str]) -> bool:
    position = 0
    for run in parts(expected):
        found = find_run(run, actual, position)
        if found < 0:
            return False
        position = found + len(run)
    return True


def regenerate_excerpt(expected: list[str], actual: list[str]) -> list[str]:
    """Each part re-read from ``actual``: from the line it starts with, as many lines, up
    to its old last line where that still follows."""
    out: list[str] = []
    position = 0
    for n, run in enumerate(parts(expected)):
        if n:
            out.append(ELISION)
        if not run:
            continue
        starts = [i for i in range(position, len(actual)) if actual[i] == run[0]]
        assert starts, f"excerpt line {run[0]!r} is no longer in the output: edit the README"
        first = starts[0]
        ends = [i for i in range(first, len(actual)) if actual[i] == run[-1]]
        last = ends[0] if ends else min(first + len(run), len(actual)) - 1
        out.extend(actual[first : last + 1])
        position = last + 1
    return out


def rewrite_block(block: Block, new_expected: list[str]) -> None:
    """Replace the block's output lines in README.md (found again by its command)."""
    lines = README.read_text(encoding="utf-8").split("\n")
    current = next(
        b
        for b in examples("\n".join(lines))
        if b.mark == block.mark and (b.mark or b.command == block.command)
    )
    head = len(current.body) - len(current.expected)
    begin = current.start + head
    lines[begin : current.start + len(current.body)] = new_expected
    README.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("block", examples(), ids=example_id)
def test_readme_example_is_the_tools_output(block: Block, shims: Path, update_golden: bool) -> None:
    if block.mark is not None:
        actual = stripped((ROOT / block.mark).read_text(encoding="utf-8").split("\n"))
    else:
        exit_code = EXIT_COMMENT.search(block.command_lines[-1])
        result = run_example(block.command, shims)
        assert result.returncode == (int(exit_code.group(1)) if exit_code else 0), result.stderr
        assert result.stderr == "", f"{block.command!r} wrote to stderr:\n{result.stderr}"
        actual = stripped(result.stdout.split("\n"))
    expected = stripped(block.expected)
    excerpt = ELISION in expected
    if update_golden:
        new = regenerate_excerpt(expected, actual) if excerpt else actual
        if new != expected:
            rewrite_block(block, new)
        expected = new
    if excerpt:
        assert matches_excerpt(measured_free(expected), measured_free(actual)), (
            f"README excerpt of {example_id(block)!r} differs from the output:\n"
            + "\n".join(actual)
            + "\n(see pytest --update-golden)"
        )
    else:
        assert measured_free(expected) == measured_free(actual), (
            f"README block of {example_id(block)!r} differs (see pytest --update-golden)"
        )


def test_readme_has_examples() -> None:
    ids = [example_id(b) for b in examples()]
    assert len(ids) >= 4 and len(set(ids)) == len(ids), ids


# --- every documented key list names every key of its schema -----------------------------


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        files("rnnshape").joinpath("schemas", name).read_text(encoding="utf-8")
    )
    return loaded


def readme_section(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}")
    level = heading.split(" ")[0]
    following = re.search(rf"\n#{{1,{len(level)}}} ", text[start + 1 :])
    return text[start : start + 1 + following.start()] if following else text[start:]


def keys_of(document: dict[str, Any], pointer: str) -> list[str]:
    node: dict[str, Any] = document
    for part in pointer.split("/"):
        if part:
            node = node[part]
    names = list(node.get("properties", {})) + list(node.get("required", []))
    return sorted(set(names))


KEY_LISTS = [
    ("## JSON for scripts", "report-v1.schema.json", ""),
    ("## JSON for scripts", "report-v1.schema.json", "$defs/parameter"),
    ("## JSON for scripts", "report-v1.schema.json", "$defs/tensor"),
    ("## Cost, memory and speed", "report-v1.schema.json", "$defs/cost"),
    ("## Cost, memory and speed", "report-v1.schema.json", "$defs/memory"),
    ("## Cost, memory and speed", "report-v1.schema.json", "$defs/bench"),
    ("## Explain", "report-v1.schema.json", "$defs/explain"),
    ("## Read checkpoints", "infer-v1.schema.json", ""),
    ("## Read checkpoints", "infer-v1.schema.json", "$defs/module"),
    ("## Read checkpoints", "infer-v1.schema.json", "$defs/problem"),
    ("## Python API", "model-v1.schema.json", ""),
]


@pytest.mark.parametrize(
    ("heading", "name", "pointer"), KEY_LISTS, ids=[f"{n}#{p or 'top'}" for _, n, p in KEY_LISTS]
)
def test_readme_names_every_key(heading: str, name: str, pointer: str) -> None:
    section = readme_section(heading)
    keys = keys_of(schema(name), pointer)
    assert keys, (name, pointer)
    missing = [k for k in keys if f"`{k}`" not in section and f'"{k}"' not in section]
    assert not missing, f"README {heading!r} does not name {missing} ({name} {pointer})"


def test_the_torch_range_is_stated_alike() -> None:
    """pyproject's torch range is what the README's CPU install and the install script use,
    and CI installs its lower bound."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the package depends on tomli there
        import tomli as tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirement = next(
        d for d in pyproject["project"]["dependencies"] if d.startswith("torch")
    ).replace(" ", "")
    match = re.fullmatch(r"torch>=([\d.]+),<[\d.]+", requirement)
    assert match, requirement
    assert f"pip install '{requirement}' --index-url" in README.read_text(encoding="utf-8")
    script = (ROOT / "scripts" / "install-cpu-torch.sh").read_text(encoding="utf-8")
    assert f"requirement=${{1:-'{requirement}'}}" in script
    oldest = match.group(1)
    assert f"'torch=={oldest}" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_pre_commit_snippet_names_a_rev_that_exists() -> None:
    """pre-commit clones ``repo`` at ``rev``: ``v0.1.0`` did not exist ("pathspec 'v0.1.0' did
    not match"). The rev must be a tag or commit of this repository, on main's history, whose
    hook manifest has every hook id the snippet uses."""
    import yaml

    if _git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        pytest.skip("not a git checkout: the revisions cannot be looked up")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("a shallow clone may lack the commit the README names")
    snippets = [
        config
        for block in readme_blocks(README.read_text(encoding="utf-8"))
        if "rev:" in "\n".join(block.body)
        for config in [yaml.safe_load("\n".join(block.body))]
    ]
    repos = [r for config in snippets for r in config["repos"] if r["repo"] != "local"]
    assert repos, "the README's pre-commit snippet with a rev"
    for repo in repos:
        rev = str(repo["rev"])
        tags = _git("tag", "--list").stdout.split()
        assert rev in tags or re.fullmatch(r"[0-9a-f]{40}", rev), (
            f"rev {rev!r} is neither a tag of this repository ({tags}) nor a full commit hash"
        )
        commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        assert commit.returncode == 0, f"rev {rev!r} is not a commit of this repository"
        ancestor = _git("merge-base", "--is-ancestor", commit.stdout.strip(), "HEAD")
        assert ancestor.returncode == 0, f"rev {rev!r} is not on the history of HEAD"
        manifest = _git("show", f"{rev}:.pre-commit-hooks.yaml")
        assert manifest.returncode == 0, manifest.stderr
        ids = {hook["id"] for hook in yaml.safe_load(manifest.stdout)}
        assert {hook["id"] for hook in repo["hooks"]} <= ids


def test_the_layer_table_names_every_module() -> None:
    """'How the code is laid out' names each module of the package in its folder's row."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## How the code is laid out") : text.index("Where a change goes")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    package = ROOT / "rnnshape"
    missing = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.name == "__init__.py" and len(rel.parts) > 1:
            continue  # a folder's __init__ is its row
        if len(rel.parts) == 1:
            named = any(f"`{rel.name}`" in row.split("|")[1] for row in rows)
        else:
            folder = f"`{rel.parts[0]}/`"
            row = next((r for r in rows if folder in r.split("|")[1]), "")
            named = f"`{rel.stem}`" in row or f"`{rel.stem}.py`" in row
        if not named:
            missing.append(str(rel))
    assert missing == [], f"modules the README's layer table does not name: {missing}"
