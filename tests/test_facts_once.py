"""Facts written once (issue 16 item 16): the tables everything else derives from are complete,
and each derived place reads them."""

from __future__ import annotations

import json
import shlex
from io import StringIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnshape.checkpoint import CheckpointFormat
from rnnshape.checkpoint.result import InferredModule, command_line
from rnnshape.cli import app
from rnnshape.cli.layer import OPTIONS
from rnnshape.family import OPTIONAL_KWARGS, LayerSpec, Mode, make_input, make_spec
from rnnshape.family.table import KEYWORD_FLAGS, NOT_IN_WEIGHTS
from rnnshape.formulas import (
    LISTING_LIMIT,
    elided_dict,
    parameter_shapes,
    parameters_per_direction,
)
from rnnshape.render.infer import _FORMAT_LABEL
from rnnshape.text import omitted_text

# A value other than torch's default for each optional keyword (num_layers=2 for layers).
OTHER_VALUE: dict[str, object] = {
    "bias": False,
    "bidirectional": True,
    "proj_size": 5,
    "batch_first": True,
    "dropout": 0.25,
    "nonlinearity": "relu",
}
CASES = [(mode, key) for mode in Mode for key in KEYWORD_FLAGS if key in mode.kwargs]


def _spec(mode: Mode, key: str) -> LayerSpec:
    return make_spec(mode, 10, 20, None if mode.is_cell else 2, **{key: OTHER_VALUE[key]})


def test_every_constructor_keyword_has_one_flag_in_the_family_table() -> None:
    assert set(KEYWORD_FLAGS) == set(OPTIONAL_KWARGS) - {"num_layers"}
    assert set(OTHER_VALUE) == set(KEYWORD_FLAGS)


def test_the_layer_commands_options_are_spelled_by_the_family_table() -> None:
    decls = {o.key: o.decls for o in OPTIONS}
    for key, flag in KEYWORD_FLAGS.items():
        assert decls[key] == (flag.flag,), key


@pytest.mark.parametrize(("mode", "key"), CASES, ids=[f"{m.value}-{k}" for m, k in CASES])
def test_every_keyword_reaches_the_command_and_the_command_rebuilds_the_module(
    mode: Mode, key: str
) -> None:
    spec = _spec(mode, key)
    command = InferredModule("", None, spec, "float32").command()
    words = shlex.split(command)
    assert KEYWORD_FLAGS[key].flag.partition("/")[2 if OTHER_VALUE[key] is False else 0] in words
    assert words[:2] == ["rnnshape", mode.value]
    result = CliRunner().invoke(app, [*words[1:], "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"] == spec.torch_kwargs()


@pytest.mark.parametrize("mode", list(Mode))
def test_a_module_with_torch_defaults_is_the_bare_command(mode: Mode) -> None:
    assert command_line(LayerSpec(mode, 10, 20)) == f"rnnshape {mode.value} 10 20"


@pytest.mark.parametrize(("mode", "key"), CASES, ids=[f"{m.value}-{k}" for m, k in CASES])
def test_in_weights_says_whether_the_weights_change_with_the_keyword(mode: Mode, key: str) -> None:
    """A keyword the weights record changes the parameters' names or shapes; one they do not
    record leaves them alone, so ``infer`` lists it as unknown."""
    default = make_spec(mode, 10, 20, None if mode.is_cell else 2)
    weights = [(p.name, p.shape) for p in parameter_shapes(default)]
    changed = [(p.name, p.shape) for p in parameter_shapes(_spec(mode, key))]
    assert (weights != changed) is KEYWORD_FLAGS[key].in_weights
    unknown = InferredModule("", None, default, "float32").unknown
    assert (key in unknown) is (key in NOT_IN_WEIGHTS)


def test_every_checkpoint_format_has_a_display_label() -> None:
    assert set(_FORMAT_LABEL) == set(CheckpointFormat)
    assert len(set(_FORMAT_LABEL.values())) == len(CheckpointFormat)


PACKAGE = Path(__file__).resolve().parent.parent / "rnnshape"


def _sources() -> dict[str, str]:
    return {
        str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")
    }


@pytest.mark.parametrize("marker", ["left out …", '"at": LISTING_EDGE'])
def test_the_elision_markers_are_written_once(marker: str) -> None:
    """The text marker (rnnshape.text) and the JSON one (formulas.elided_dict)."""
    assert [name for name, text in _sources().items() if marker in text] == [
        "text.py" if "…" in marker else "formulas/shapes.py"
    ]


def test_a_long_packed_listing_is_elided_alike_in_json_notes_and_tables() -> None:
    from rnnshape.family import RunOptions
    from rnnshape.pipeline import run_report
    from rnnshape.render import Document, OutputFormat, render

    spec = make_spec(Mode.LSTM, 3, 4, 1)
    inp = make_input(spec, lengths=[LISTING_LIMIT + 200, 3])
    report = run_report(spec, inp, RunOptions(dry_run=True), explain=True)
    markers: list[object] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            markers.extend(v for k, v in value.items() if k.endswith("_elided"))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(report.to_dict())
    assert len(markers) >= 2  # the tensors' and the explain diagram's
    assert all(m == elided_dict(LISTING_LIMIT, 200) for m in markers)
    out = StringIO()
    render(Document.REPORT, report, OutputFormat.TABLE, out)
    gap = omitted_text(200, "steps")
    assert gap in out.getvalue()  # the tensors table
    assert any(gap in note for note in report.notes + report.explanation.notes)


@pytest.mark.parametrize(
    "snippet",
    [
        "zip(names, hx, strict=True)",  # forward's hx → h_0 (c_0): torchrun.passes.states_of_hx
        "2 + (2 if spec.bias else 0)",  # formulas.parameters_per_direction
    ],
)
def test_the_hx_step_and_the_per_direction_count_are_written_once(snippet: str) -> None:
    assert len([name for name, text in _sources().items() if snippet in text]) == 1


@pytest.mark.parametrize("mode", list(Mode))
def test_states_of_hx_reads_what_hx_of_builds(mode: Mode) -> None:
    torch = pytest.importorskip("torch")
    from rnnshape.torchrun.passes import hx_of, initial_states, states_of_hx

    spec = make_spec(mode, 3, 4, None if mode.is_cell else 2)
    states = initial_states(spec, make_input(spec), torch.randn)
    assert states_of_hx(spec, hx_of(spec, states)) == states


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_per_direction_is_torchs(mode: Mode, bias: bool) -> None:
    torch = pytest.importorskip("torch")
    extra: dict[str, object] = {} if mode.is_cell else {"num_layers": 1, "bidirectional": True}
    if mode is Mode.LSTM:
        extra["proj_size"] = 2
    spec = make_spec(mode, 3, 4, bias=bias, **extra)
    module = getattr(torch.nn, mode.torch_class)(**spec.torch_kwargs())
    directions = 1 if mode.is_cell else 2
    assert len(list(module.parameters())) == directions * parameters_per_direction(spec)


DISPLAY_METHODS = ("__str__", "__rich_console__", "_repr_mimebundle_", "_repr_pretty_", "show")


@pytest.mark.parametrize("name", DISPLAY_METHODS)
def test_report_and_model_report_display_through_the_same_methods(name: str) -> None:
    from rnnshape.report import Displayed, Report
    from rnnshape.report_model import ModelReport

    assert getattr(Report, name) is getattr(ModelReport, name) is getattr(Displayed, name)


def test_each_document_displays_as_the_renderer_registered_for_its_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pickle

    import rnnshape.report as report_module
    from rnnshape.family import RunOptions
    from rnnshape.pipeline import run_report
    from rnnshape.report import Display
    from rnnshape.report_model import ModelCall, ModelReport

    spec = make_spec(Mode.GRU, 3, 4, 1)
    report = run_report(spec, make_input(spec), RunOptions(dry_run=True))
    model = ModelReport((ModelCall("gru", 0, report),), (), report.num_parameters, report.cost)
    shown: list[tuple[str, object]] = []

    def stub(kind: str) -> Display:
        return Display(
            text=lambda d: f"{kind} text",
            rich=lambda d, console, options: iter([f"{kind} rich"]),
            mimebundle=lambda d: {"text/plain": f"{kind} bundle"},
            show=lambda d, out: shown.append((kind, d)),
        )

    monkeypatch.setattr(report_module, "_displays", {})
    assert str(report) == f"<Report {spec.constructor()}>"
    assert str(model) == "<ModelReport 1 calls>"
    for kind in ("Report", "ModelReport"):
        report_module.register_display(stub(kind), kind)
    copy = pickle.loads(pickle.dumps(report._replace(seed=7)))
    for document, kind in ((report, "Report"), (model, "ModelReport"), (copy, "Report")):
        assert str(document) == f"{kind} text"
        assert list(document.__rich_console__(None, None)) == [f"{kind} rich"]
        assert document._repr_mimebundle_() == {"text/plain": f"{kind} bundle"}
        document.show(StringIO())
        assert shown[-1] == (kind, document)
