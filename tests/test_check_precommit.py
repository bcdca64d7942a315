"""A real pre-commit run with rnnshape check as a hook, and the published hook manifest."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

GOOD = "type: lstm\ninput_size: 10\nhidden_size: 20\nexpect:\n  max_parameters: 2560\n"
BAD = "type: lstm\ninput_size: 10\nhiden_size: 20\n"


def pre_commit() -> list[str]:
    pytest.importorskip("pre_commit")
    return [sys.executable, "-m", "pre_commit"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def hook_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repository whose .pre-commit-config.yaml runs the installed rnnshape check."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    rnnshape = shutil.which("rnnshape")
    if rnnshape is None:
        pytest.skip("the rnnshape console script is not installed")
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: rnnshape-check\n"
        "        name: rnnshape check\n"
        f"        entry: {shlex.quote(rnnshape)} check\n"
        "        language: system\n"
        "        types_or: [yaml, json, toml]\n"
        "        files: ^configs/\n"
    )
    (repo / "configs").mkdir()
    (repo / "configs" / "good.yaml").write_text(GOOD)
    (repo / "configs" / "bad.yaml").write_text(BAD)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path),
    }
    return repo, env


def run_hook(repo: Path, env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pre_commit(), "run", "--color", "never", "--files", *names],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pre_commit_passes_a_good_config(hook_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = hook_repo
    done = run_hook(repo, env, "configs/good.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rnnshape check" in done.stdout
    assert "Passed" in done.stdout


def test_pre_commit_fails_a_bad_config(hook_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = hook_repo
    done = run_hook(repo, env, "configs/good.yaml", "configs/bad.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout
    assert (
        "configs/bad.yaml: line 3: unknown key 'hiden_size' (did you mean 'hidden_size'?)"
        in done.stdout
    )
    assert "configs/good.yaml: ok LSTM, 2560 parameters" in done.stdout  # 4·20·(10+20) + 8·20
    assert "checked 2 specs in 2 files: 1 ok, 1 failed" in done.stdout


def test_published_manifest_is_valid() -> None:
    manifest = REPO_ROOT / ".pre-commit-hooks.yaml"
    done = subprocess.run(
        [*pre_commit(), "validate-manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = manifest.read_text()
    for line in (
        "- id: rnnshape-check",
        "entry: rnnshape check",
        "language: python",
        "types_or: [yaml, json, toml]",
    ):
        assert line in text
