"""``--svg`` never destroys anything: an .svg path checked before any work, the picture
written beside the target and renamed into place, a failed write leaving the target as it
was."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import rnnshape.render.report as report_module
from rnnshape.cli import main

DRY = ["lstm", "10", "20", "2", "--dry-run"]
OLD = "<svg>the user's picture</svg>\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("name", ["notes.yaml", "model.pt", "picture", "picture.svg.bak", ".svg"])
def test_a_path_that_is_not_svg_is_refused_before_any_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / name
    target.write_text("hidden_size: 20\n")
    # An impossible size too: the path is refused first, and nothing is printed.
    code, out, err = run(capsys, "lstm", "10", "-1", "--svg", str(target))
    assert code == 2 and out == ""
    assert err.startswith("error: --svg ") and "does not end in .svg" in err
    assert target.read_text() == "hidden_size: 20\n"


def test_upper_case_suffix_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "LSTM.SVG"
    code, _, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 0, err
    assert target.read_text().lstrip().startswith("<svg")


def test_a_link_to_a_file_that_is_not_svg_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "notes.yaml"
    config.write_text("keep me\n")
    link = tmp_path / "picture.svg"
    link.symlink_to(config)
    code, out, err = run(capsys, *DRY, "--svg", str(link))
    assert code == 2 and out == "" and "a link to" in err
    assert config.read_text() == "keep me\n"


def test_a_link_to_a_device_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "full.svg"
    link.symlink_to("/dev/full")
    code, out, err = run(capsys, *DRY, "--svg", str(link))
    assert code == 2 and out == "" and err.startswith("error: --svg ")


def test_a_link_to_an_svg_replaces_the_file_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.svg"
    real.write_text(OLD)
    link = tmp_path / "link.svg"
    link.symlink_to(real)
    assert run(capsys, *DRY, "--svg", str(link))[0] == 0
    assert link.is_symlink() and real.read_text().lstrip().startswith("<svg")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["directory", "missing folder", "read-only folder"])
def test_an_unwritable_place_is_refused_before_any_work(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "directory":
        target = tmp_path / "pictures.svg"
        target.mkdir()
    elif kind == "missing folder":
        target = tmp_path / "no" / "such" / "x.svg"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        target = folder / "x.svg"
    code, out, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 2 and out == "", err
    assert err.startswith("error: --svg ") and err.count("\n") == 1


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_the_existing_file_untouched(
    failing: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk (ENOSPC) at any step: the old picture stays whole, no temporary file."""
    target = tmp_path / "lstm.svg"
    target.write_text(OLD)
    target.chmod(0o640)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "write":
        real_write_text = Path.write_text

        def half_then_full(self: Path, text: str, *args: object, **kwargs: object) -> int:
            real_write_text(self, text[: len(text) // 2], encoding="utf-8")  # half reaches disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(Path, "write_text", half_then_full)
    else:
        monkeypatch.setattr(os, failing, full)
    code, out, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 2, err
    assert out == ""  # checked and written before the report is printed
    assert "No space left on device" in err and err.count("\n") == 1
    assert target.read_text() == OLD
    assert leftovers(tmp_path) == []


def test_a_successful_write_replaces_and_keeps_the_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "lstm.svg"
    target.write_text(OLD)
    target.chmod(0o640)
    code, out, _ = run(capsys, *DRY, "--svg", str(target))
    assert code == 0 and out.startswith("nn.LSTM(10, 20, num_layers=2)")
    assert target.read_text().lstrip().startswith("<svg")
    assert target.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "new.svg"
    old = os.umask(0o022)
    try:
        report_module.write_replacing(target, "<svg/>")
    finally:
        os.umask(old)
    assert target.read_text() == "<svg/>"
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_read_only_file_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--svg`` on a 0444 file: exit 2 and the file untouched, unless ``--force`` (checked on
    the mode bits, which root's own access would ignore)."""
    target = tmp_path / "picture.svg"
    target.write_text(OLD)
    target.chmod(0o444)
    code, out, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 2 and out == ""
    assert err.startswith("error: --svg '") and err.count("\n") == 1
    assert err.endswith("picture.svg' is read-only (mode 0444); give --force to replace it\n")
    assert target.read_text() == OLD
    code, out, err = run(capsys, *DRY, "--svg", str(target), "--force")
    assert code == 0, err
    assert target.read_text().lstrip().startswith("<svg")
    assert os.stat(target).st_mode & 0o777 == 0o444  # replaced, keeping its mode
    assert leftovers(tmp_path) == []


def test_a_writable_file_needs_no_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "picture.svg"
    target.write_text(OLD)
    target.chmod(0o644)
    code, _, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 0, err
    assert target.read_text() != OLD


@pytest.mark.parametrize("length", [256, 4096])
def test_a_name_too_long_is_a_clean_usage_error(
    length: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = str(tmp_path / ("a" * (length - 4) + ".svg"))
    code, out, err = run(capsys, *DRY, "--svg", name)
    assert code == 2 and out == "", err
    assert err.startswith("error: --svg ") and "File name too long" in err
    assert "please report it" not in err
    assert len(err) < 300  # the name is quoted shortened


def test_the_longest_name_a_folder_takes_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """255 bytes is a legal name: the temporary file beside it has a short name of its own."""
    target = tmp_path / ("a" * 251 + ".svg")
    code, _, err = run(capsys, *DRY, "--svg", str(target))
    assert code == 0, err
    assert target.read_text().lstrip().startswith("<svg")
    assert leftovers(tmp_path) == []
