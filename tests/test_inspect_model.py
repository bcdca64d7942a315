"""inspect_model: a user's whole model, one forward pass, a verified report per recurrent call.

Real model shapes (an encoder-decoder with embeddings, a packed bidirectional tagger, a model
that calls one LSTM twice, a decoder looping an LSTMCell); torch and inspect_module are the
oracles for every call's document.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import torch
from referencing import Registry, Resource
from rich.console import Console
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from typer.testing import CliRunner

import rnnshape
from rnnshape.cli import app
from rnnshape.render import Document, OutputFormat, render
from rnnshape.render.model import render_tables


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files("rnnshape").joinpath("schemas", name).read_text())
    return loaded


REPORT_SCHEMA = _schema("report-v1.schema.json")
MODEL_SCHEMA = _schema("model-v1.schema.json")
REGISTRY = Registry().with_resource(REPORT_SCHEMA["$id"], Resource.from_contents(REPORT_SCHEMA))


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(MODEL_SCHEMA, registry=REGISTRY).validate(doc)


class Seq2Seq(nn.Module):
    """Embeddings → bidirectional LSTM encoder → bridge → GRU decoder; one RNN never used."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.encoder = nn.Module()
        self.encoder.rnn = nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(24, 10)
        self.decoder = nn.GRU(8, 10, batch_first=True)
        self.out = nn.Linear(10, 50)
        self.aux_rnn = nn.RNN(3, 3)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.encoder.rnn(self.embed(src))
        h0 = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], dim=-1))).unsqueeze(0)
        self.h0 = h0
        dec, _ = self.decoder(self.embed(tgt), h0)
        return self.out(dec)


class Tagger(nn.Module):
    """A bidirectional LSTM tagger that packs its padded batch inside forward."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 6, padding_idx=0)
        self.lstm = nn.LSTM(6, 7, bidirectional=True, batch_first=True, proj_size=3)
        self.head = nn.Linear(6, 5)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embed(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(padded)


class TwoSegments(nn.Module):
    """One LSTM called twice: on a prompt, then on a continuation from the prompt's states."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 6)

    def forward(self, prompt: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        _, state = self.lstm(prompt)
        out, _ = self.lstm(rest, state)
        return out


class PeepholeLSTM(nn.LSTM):
    """A subclass with its own forward, same arguments as torch's."""

    def forward(self, input: Any, hx: Any = None) -> Any:  # noqa: A002 - torch's own name
        return super().forward(input, hx)


class CellDecoder(nn.Module):
    """A deep stack: a subclassed LSTM in a ModuleList in a Sequential, and an LSTMCell loop."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(nn.Module())
        self.blocks[0].layers = nn.ModuleList([PeepholeLSTM(5, 5)])
        self.cell = nn.LSTMCell(5, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.blocks[0].layers[0](x)
        h = torch.zeros(x.shape[1], 9)
        c = torch.zeros(x.shape[1], 9)
        for step in out:
            h, c = self.cell(step, (h, c))
        return h


def _doc(report: rnnshape.Report) -> dict[str, Any]:
    return report.to_dict()


def test_encoder_decoder_reports_each_call_from_its_real_input_and_states() -> None:
    model = Seq2Seq()
    src, tgt = torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (3, 4))
    result = rnnshape.inspect_model(model, src, tgt)
    assert isinstance(result, rnnshape.ModelReport)
    assert [(c.name, c.call) for c in result.calls] == [("encoder.rnn", 0), ("decoder", 0)]
    assert result.uncalled == ("aux_rnn",)
    enc, dec = (c.report for c in result.calls)
    assert enc.ran_forward and dec.ran_forward
    assert enc.input.seq == 7 and enc.input.batch == 3
    assert dec.input.seq == 4 and dec.input.batch == 3
    # torch is the oracle: the same module on the same input and states, inspected alone.
    alone = rnnshape.inspect_module(model.decoder, model.embed(tgt).detach(), model.h0)
    assert _doc(dec) == _doc(alone)
    # No states given: torch's zeros have the final states' shapes, and there is no seed.
    assert enc.seed is None
    assert enc.tensor("h_0").tensor.shape == enc.tensor("h_n").tensor.shape == (4, 3, 12)
    assert enc.tensor("c_0").tensor.shape == (4, 3, 12)


def test_packed_input_inside_forward_is_reported_with_its_lengths() -> None:
    model = Tagger()
    tokens = torch.randint(1, 30, (4, 9))
    lengths = torch.tensor([5, 9, 2, 7])
    result = rnnshape.inspect_model(model, tokens, lengths=lengths)
    (call,) = result.calls
    assert call.name == "lstm" and call.call == 0
    report = call.report
    assert report.input.lengths == (5, 9, 2, 7)
    packed = pack_padded_sequence(
        torch.zeros(4, 9, 6), lengths, batch_first=True, enforce_sorted=False
    )
    batch_sizes = tuple(packed.batch_sizes.tolist())
    assert report.tensor("input").tensor.batch_sizes == batch_sizes
    assert report.tensor("output").tensor.batch_sizes == batch_sizes
    assert report.tensor("output").tensor.shape == (23, 6)  # sum(lengths), D·proj_size
    assert report.tensor("h_n").tensor.shape == (2, 4, 3)
    assert report.tensor("c_n").tensor.shape == (2, 4, 7)


def test_one_lstm_called_twice_reports_each_call_and_counts_its_parameters_once() -> None:
    model = TwoSegments()
    result = rnnshape.inspect_model(model, torch.randn(3, 2, 4), torch.randn(8, 2, 4))
    assert [(c.name, c.call) for c in result.calls] == [("lstm", 0), ("lstm", 1)]
    first, second = (c.report for c in result.calls)
    assert (first.input.seq, second.input.seq) == (3, 8)
    assert result.num_parameters == sum(p.numel() for p in model.lstm.parameters())
    assert result.num_parameters == first.num_parameters  # once, not twice
    assert result.cost.macs == first.cost.macs + second.cost.macs
    assert result.uncalled == ()


def test_subclasses_at_any_depth_and_a_cell_in_a_loop_are_found() -> None:
    model = CellDecoder()
    result = rnnshape.inspect_model(model, torch.randn(4, 2, 5))
    names = [(c.name, c.call) for c in result.calls]
    assert names == [("blocks.0.layers.0", 0)] + [("cell", i) for i in range(4)]
    assert result.calls[0].report.module == "LSTM"
    assert all(c.report.module == "LSTMCell" for c in result.calls[1:])
    assert result.calls[1].report.tensor("h_1").tensor.shape == (2, 9)


def test_totals_are_the_sums_of_the_calls() -> None:
    model = CellDecoder()
    result = rnnshape.inspect_model(model, torch.randn(3, 2, 5))
    doc = result.to_dict()
    once = {c["name"]: c["report"]["num_parameters"] for c in doc["calls"]}
    assert doc["num_parameters"] == sum(once.values())
    assert doc["num_parameters"] == sum(
        p.numel() for m in (model.blocks[0].layers[0], model.cell) for p in m.parameters()
    )
    costs = [c["report"]["cost"] for c in doc["calls"]]
    assert doc["cost"]["macs"] == sum(c["macs"] for c in costs)
    assert doc["cost"]["flops"] == sum(c["flops"] for c in costs)
    for term, counts in doc["cost"]["terms"].items():
        for unit, count in counts.items():
            assert count == sum(c["terms"][term][unit] for c in costs), (term, unit)


def test_to_dict_has_the_documented_keys_and_validates_against_the_schema() -> None:
    doc = rnnshape.inspect_model(
        Seq2Seq(), torch.randint(0, 50, (2, 5)), torch.randint(0, 50, (2, 3))
    ).to_dict()
    assert list(doc) == [
        "schema_version",
        "calls",
        "failed_calls",
        "uncalled",
        "num_parameters",
        "cost",
    ]
    assert doc["schema_version"] == 1
    assert list(doc["calls"][0]) == ["name", "call", "report"]
    validate(doc)
    for call in doc["calls"]:
        jsonschema.validate(call["report"], REPORT_SCHEMA)
    broken = json.loads(json.dumps(doc))
    del broken["calls"][0]["report"]["tensors"]
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)  # the report sub-document is checked, not just "an object"


def test_json_renderer_prints_to_dict() -> None:
    result = rnnshape.inspect_model(TwoSegments(), torch.randn(2, 1, 4), torch.randn(2, 1, 4))
    out = io.StringIO()
    render(Document.MODEL, result, OutputFormat.JSON, out)
    assert json.loads(out.getvalue()) == result.to_dict()


def test_tables_name_every_call_and_the_uncalled_modules() -> None:
    result = rnnshape.inspect_model(
        Seq2Seq(), torch.randint(0, 50, (2, 5)), torch.randint(0, 50, (2, 3))
    )
    out = io.StringIO()
    render_tables(result, Console(file=out, width=100, color_system=None))
    text = out.getvalue()
    assert "encoder.rnn · call 0" in text and "decoder · call 0" in text
    assert "never called: aux_rnn" in text
    assert "nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)" in text
    assert f"{result.num_parameters:,}" in text and f"{result.cost.flops:,}" in text
    assert "weight_hh_l1_reverse" in text  # each call's own report tables are there
    piped = io.StringIO()
    render(Document.MODEL, result, OutputFormat.TABLE, piped)
    assert "Model summary" in piped.getvalue()


def test_module_names_are_not_read_as_markup() -> None:
    model = nn.Module()
    model.add_module("[bold]x[/bold]", nn.GRU(2, 3))
    model.forward = lambda x: model.get_submodule("[bold]x[/bold]")(x)  # type: ignore[method-assign]
    result = rnnshape.inspect_model(model, torch.randn(2, 1, 2))
    out = io.StringIO()
    render_tables(result, Console(file=out, width=100, color_system=None))
    assert "[bold]x[/bold] · call 0" in out.getvalue()


def test_the_model_itself_may_be_the_recurrent_module() -> None:
    result = rnnshape.inspect_model(nn.GRU(3, 4), torch.randn(5, 3))
    assert [(c.name, c.call) for c in result.calls] == [("", 0)]
    assert result.calls[0].report.input.unbatched is True


def test_forward_runs_once_without_grad_and_the_hooks_are_removed() -> None:
    model = TwoSegments()
    seen: list[bool] = []
    model.register_forward_pre_hook(lambda m, a: seen.append(torch.is_grad_enabled()))
    rnnshape.inspect_model(model, torch.randn(2, 1, 4), torch.randn(2, 1, 4))
    assert seen == [False]
    assert not model.lstm._forward_hooks
    assert model.training  # the model's mode is the user's: not switched to eval


def test_hooks_are_removed_when_the_forward_raises() -> None:
    model = TwoSegments()
    with pytest.raises(RuntimeError):
        rnnshape.inspect_model(model, torch.randn(2, 1, 4), torch.randn(2, 1, 5))
    assert not model.lstm._forward_hooks


def test_a_model_without_recurrent_modules_or_not_a_module_is_a_usage_error() -> None:
    with pytest.raises(rnnshape.UsageError, match="no recurrent submodule"):
        rnnshape.inspect_model(nn.Linear(2, 3), torch.randn(1, 2))
    with pytest.raises(rnnshape.UsageError, match="must be a torch.nn.Module"):
        rnnshape.inspect_model(lambda x: x, torch.randn(1, 2))


def test_a_subclass_called_with_other_arguments_is_named_in_the_error() -> None:
    class LengthsLSTM(nn.LSTM):
        def forward(self, x: Any, lengths: Any) -> Any:  # type: ignore[override]
            packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
            return super().forward(packed)

    model = nn.Sequential()
    model.add_module("enc", LengthsLSTM(2, 3))
    model.forward = lambda x, n: model.enc(x, n)  # type: ignore[method-assign]
    with pytest.raises(rnnshape.UsageError, match=r"enc \(LengthsLSTM\) call 0"):
        rnnshape.inspect_model(model, torch.randn(4, 2, 2), torch.tensor([4, 2]))
    assert not model.enc._forward_hooks


def test_schema_command_prints_the_model_schema() -> None:
    result = CliRunner().invoke(app, ["schema", "model"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == MODEL_SCHEMA
    jsonschema.Draft202012Validator.check_schema(MODEL_SCHEMA)


def test_the_record_and_its_renderer_load_without_torch() -> None:
    code = (
        "import sys, rnnshape, rnnshape.render.model; rnnshape.ModelReport; "
        "assert 'torch' not in sys.modules, 'torch loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_report_displays_as_its_tables() -> None:
    """Like a Report: str() is the piped tables, show() prints them, Rich and IPython draw them."""
    import io

    from rich.console import Console

    lstm = nn.LSTM(4, 6)
    model = rnnshape.inspect_model(lstm, torch.randn(5, 2, 4))
    text = str(model)
    assert "call 0" in text and "nn.LSTM(4, 6)" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    shown = io.StringIO()
    model.show(shown)
    assert "nn.LSTM(4, 6)" in shown.getvalue()
    drawn = io.StringIO()
    Console(file=drawn, width=100, color_system=None).print(model)
    assert "nn.LSTM(4, 6)" in drawn.getvalue()
    assert "nn.LSTM(4, 6)" in model._repr_mimebundle_()["text/plain"]


class CaughtFailure(nn.Module):
    """A GRU fed the wrong width inside the model's own try: the pass goes on without it."""

    def __init__(self) -> None:
        super().__init__()
        self.good = nn.LSTM(4, 6)
        self.bad = nn.GRU(5, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.good(x)
        try:
            self.bad(x)
        except RuntimeError:
            pass
        _, h = self.bad(torch.zeros(2, 3, 5))  # then a call that works: call 1
        return out + h.sum()


def test_a_call_that_raises_inside_the_models_try_is_a_failed_call() -> None:
    """It vanished from calls (and was "never called"): it is listed, with torch's error."""
    model = CaughtFailure()
    x = torch.zeros(3, 2, 4)
    with pytest.raises(RuntimeError) as raised:  # the oracle: torch's own message
        model.bad(x)
    result = rnnshape.inspect_model(model, x)
    assert [(c.name, c.call) for c in result.calls] == [("good", 0), ("bad", 1)]
    assert [(f.name, f.call) for f in result.failed] == [("bad", 0)]
    assert result.failed[0].error == f"RuntimeError: {raised.value}"
    assert result.uncalled == ()
    assert result.num_parameters == sum(p.numel() for p in model.parameters())
    doc = result.to_dict()
    validate(doc)
    assert doc["failed_calls"] == [{"name": "bad", "call": 0, "error": result.failed[0].error}]
    text = str(result)
    assert "1 call raised, caught by the model's own forward" in text
    assert "bad · call 0: RuntimeError: input.size(-1) must be equal to input_size" in text
    assert not model.bad._forward_hooks


def test_an_unreadable_call_inside_the_models_try_is_still_reported() -> None:
    """rnnshape's own refusal, raised in its hook, is not swallowed by the model's try."""

    class LengthsLSTM(nn.LSTM):
        def forward(self, x: Any, lengths: Any) -> Any:  # type: ignore[override]
            return super().forward(pack_padded_sequence(x, lengths, enforce_sorted=False))

    class Swallowing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = LengthsLSTM(2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            try:
                self.enc(x, torch.tensor([4, 2]))
            except Exception:
                pass
            return x

    with pytest.raises(rnnshape.UsageError, match=r"enc \(LengthsLSTM\) call 0"):
        rnnshape.inspect_model(Swallowing(), torch.randn(4, 2, 2))


@pytest.mark.parametrize(
    "replace",
    [
        lambda out: out[0] * 2,  # the output alone, not (output, (h_n, c_n))
        lambda out: (out[0][..., :3], out[1]),  # a narrower output
        lambda out: (out[0], (out[1][0][:1], out[1][1])),
    ],
)
def test_a_users_hook_that_replaces_the_output_is_not_blamed_on_rnnshape(replace: Any) -> None:
    """The report is of what torch's forward returned: rnnshape's hook runs first."""
    lstm = nn.LSTM(4, 6)
    lstm.register_forward_hook(lambda module, args, out: replace(out))
    x = torch.zeros(3, 2, 4)
    result = rnnshape.inspect_model(lstm, x)
    alone = rnnshape.inspect_module(nn.LSTM(4, 6), x, (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6)))
    assert _doc(result.calls[0].report) == _doc(alone)
    assert len(lstm._forward_hooks) == 1  # the user's, still there


def test_a_global_hook_that_replaces_the_output_is_named() -> None:
    from torch.nn.modules.module import register_module_forward_hook

    handle = register_module_forward_hook(
        lambda module, args, out: (out[0][..., :3], out[1]) if isinstance(module, nn.LSTM) else None
    )
    try:
        with pytest.raises(rnnshape.UsageError, match="global forward hook") as raised:
            rnnshape.inspect_model(nn.LSTM(4, 6), torch.zeros(3, 2, 4))
    finally:
        handle.remove()
    assert "please report it" not in str(raised.value).split("(torch and")[0]


class LongLoop(nn.Module):
    """An LSTMCell decoder stepped ``steps`` times."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(4, 8)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = torch.zeros(x.shape[0], 8)
        for _ in range(self.steps):
            h, c = self.cell(x, (h, c))
        return h


def test_a_3000_step_cell_loop_is_elided_past_1000_calls_with_exact_totals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """36 MB of text and 45 s to print: now the calls are elided as every listing is, and
    a report shared by many calls is shown once."""
    monkeypatch.setenv("COLUMNS", "200")  # the text is laid out for a pipe of this width
    from rnnshape.formulas import LISTING_EDGE, LISTING_LIMIT

    steps = 3000
    result = rnnshape.inspect_model(LongLoop(steps), torch.zeros(2, 4))
    assert len(result.calls) == LISTING_LIMIT and result.calls_omitted == steps - LISTING_LIMIT
    assert result.num_calls == steps
    assert [c.call for c in result.calls[LISTING_EDGE - 1 : LISTING_EDGE + 1]] == [
        LISTING_EDGE - 1,
        steps - LISTING_EDGE,
    ]
    one = result.calls[0].report
    assert result.cost.macs == steps * one.cost.macs  # totals count every call
    assert result.num_parameters == sum(p.numel() for p in nn.LSTMCell(4, 8).parameters())
    doc = result.to_dict()
    validate(doc)
    assert doc["calls_elided"] == {"at": LISTING_EDGE, "omitted": 2000, "total": steps}
    text = str(result)
    assert text.count("Parameters (named_parameters() order)") == 1
    assert "cell · call 0 (the same report: 1,000 of the calls shown" in text
    assert "… 2,000 calls left out …" in " ".join(text.split())  # may wrap in its column
    assert "3,000 calls · " in text
    assert len(text) < 200_000


def test_a_long_heading_wraps_rather_than_cut_a_number() -> None:
    """At 40 columns a call's heading is wrapped over its rule: Rich's rule would cut it."""
    import io

    from rich.console import Console

    from rnnshape.render.model import render_tables

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = nn.LSTMCell(4, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = None
            for _ in range(1_200):
                h = self.cell(x, h)
            assert h is not None
            return h[0]

    model = rnnshape.inspect_model(Loop(), torch.randn(2, 4))
    out = io.StringIO()
    render_tables(model, Console(width=40, file=out, color_system=None))
    text = out.getvalue()
    assert all(len(line) <= 40 for line in text.splitlines())
    assert "1,000 of the calls shown" in " ".join(text.split())
