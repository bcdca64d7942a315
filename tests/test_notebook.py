"""A Report shows as its tables: Rich's protocol, IPython's formatter, str(), show()."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import rnnshape
from rnnshape.render.report import render_tables


@pytest.fixture(scope="module")
def report() -> rnnshape.Report:
    return rnnshape.inspect("gru", 10, 20, 2, run=False)


def test_rich_console_prints_the_same_tables(report: rnnshape.Report) -> None:
    def plain(draw: object) -> str:
        out = io.StringIO()
        console = Console(width=100, file=out, color_system=None, soft_wrap=False)
        if draw is None:
            console.print(report)
        else:
            render_tables(report, console)
        return out.getvalue()

    assert plain(None) == plain(render_tables)
    assert "states (h_0, h_n)" in plain(None)


def test_rich_protocol_with_explain_keeps_the_explanation() -> None:
    explained = rnnshape.inspect("lstm", 4, 3, run=False, explain=True)
    out = io.StringIO()
    Console(width=90, file=out, color_system=None).print(explained)
    text = out.getvalue()
    assert "Equations of nn.LSTM" in text and "Gate blocks" in text


def test_str_is_the_plain_tables(report: rnnshape.Report) -> None:
    text = str(report)
    assert text.startswith("nn.GRU(10, 20, num_layers=2)")
    assert "Parameters (named_parameters() order)" in text
    assert "\x1b[" not in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert repr(report).startswith("Report(spec=")  # repr stays the record's


def test_show_prints_on_a_stream(report: rnnshape.Report) -> None:
    out = io.StringIO()
    report.show(out)
    assert out.getvalue().rstrip("\n") == str(report)


def test_jupyter_mimebundle(report: rnnshape.Report) -> None:
    bundle = report._repr_mimebundle_()
    assert bundle["text/plain"] == str(report)
    assert bundle["text/html"].startswith("<pre")
    assert "weight_ih_l0" in bundle["text/html"]


def test_ipython_formatter_shows_the_tables(report: rnnshape.Report) -> None:
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(report)
    assert data["text/plain"] == str(report)
    assert "<pre" in data["text/html"] and "r|z|n" in data["text/html"]


def test_dir_and_tab_completion_offer_the_public_api() -> None:
    """``dir(rnnshape)`` and IPython's ``rnnshape.<TAB>`` list ``__all__``, loaded or not,
    and not the lazy loader's helpers (``import_module``, ``TYPE_CHECKING``, ``Any``)."""
    import subprocess
    import sys

    fresh = subprocess.run(
        [sys.executable, "-c", "import rnnshape; print(' '.join(dir(rnnshape)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert fresh == sorted(rnnshape.__all__)
    assert dir(rnnshape) == sorted(rnnshape.__all__)  # after names were loaded, too
    for name in fresh:
        assert getattr(rnnshape, name) is not None
    assert not {"import_module", "TYPE_CHECKING", "Any"} & set(fresh)
    IPython = pytest.importorskip("IPython")
    from IPython.core.completer import provisionalcompleter

    shell = IPython.core.interactiveshell.InteractiveShell.instance()
    shell.user_ns["rnnshape"] = rnnshape
    with provisionalcompleter():
        offered = {c.text for c in shell.Completer.completions("rnnshape.", 9)}
    assert {"inspect_model", "Report", "infer_checkpoint"} <= offered
    assert "import_module" not in offered
