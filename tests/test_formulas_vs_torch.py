"""Torch is the oracle: the pure formulas must match real modules and forward passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnshape
from rnnshape.family import InputSpec, LayerSpec, Mode, make_input, make_spec
from rnnshape.formulas import num_parameters, parameter_shapes, tensor_shapes


@dataclass
class Case:
    spec: LayerSpec
    inp: InputSpec


@st.composite
def cases(draw: st.DrawFn) -> Case:
    mode = draw(st.sampled_from(list(Mode)))
    input_size = draw(st.integers(1, 9))
    hidden_size = draw(st.integers(1, 9))
    kwargs: dict[str, Any] = {"bias": draw(st.booleans())}
    if mode.family.recurrence.name == "rnn":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if not mode.is_cell:
        kwargs["num_layers"] = draw(st.integers(1, 3))
        kwargs["batch_first"] = draw(st.booleans())
        kwargs["bidirectional"] = draw(st.booleans())
        kwargs["dropout"] = draw(st.sampled_from([0.0, 0.25])) if kwargs["num_layers"] > 1 else 0.0
    if mode is Mode.LSTM:
        kwargs["proj_size"] = draw(st.integers(0, hidden_size - 1))
    spec = make_spec(mode, input_size, hidden_size, **kwargs)
    if mode.is_cell:
        inp = make_input(spec, unbatched=True) if draw(st.booleans()) else make_input(
            spec, batch=draw(st.integers(1, 4)))
        return Case(spec, inp)
    kind = draw(st.sampled_from(["padded", "unbatched", "packed"]))
    if kind == "unbatched":
        inp = make_input(spec, seq=draw(st.integers(1, 6)), unbatched=True)
    elif kind == "packed":
        inp = make_input(spec, lengths=draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    else:
        inp = make_input(spec, seq=draw(st.integers(1, 6)), batch=draw(st.integers(1, 4)))
    return Case(spec, inp)


def build(spec: LayerSpec) -> nn.Module:
    return getattr(nn, spec.mode.torch_class)(**spec.torch_kwargs()).eval()


def handmade_input(case: Case) -> Any:
    """The input a user would write by hand from the PyTorch docs, independent of formulas."""
    spec, inp = case.spec, case.inp
    if spec.mode.is_cell:
        return torch.randn(spec.input_size) if inp.unbatched else torch.randn(
            inp.batch, spec.input_size)
    if inp.lengths is not None:
        padded = torch.randn(len(inp.lengths), max(inp.lengths), spec.input_size) \
            if spec.batch_first else torch.randn(max(inp.lengths), len(inp.lengths),
                                                 spec.input_size)
        return pack_padded_sequence(padded, torch.tensor(inp.lengths),
                                    batch_first=spec.batch_first, enforce_sorted=False)
    if inp.unbatched:
        return torch.randn(inp.seq, spec.input_size)
    if spec.batch_first:
        return torch.randn(inp.batch, inp.seq, spec.input_size)
    return torch.randn(inp.seq, inp.batch, spec.input_size)


def shape_of(t: Any) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    if isinstance(t, PackedSequence):
        return tuple(t.data.shape), tuple(t.batch_sizes.tolist())
    return tuple(t.shape), None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_formulas_match_torch(case: Case) -> None:
    spec, inp = case.spec, case.inp
    module = build(spec)
    expected_params = [(p.name, p.shape) for p in parameter_shapes(spec)]
    assert [(n, tuple(p.shape)) for n, p in module.named_parameters()] == expected_params
    assert num_parameters(spec) == sum(p.numel() for p in module.parameters())

    x = handmade_input(case)
    formulas = {t.name: (t.shape, t.batch_sizes) for t in tensor_shapes(spec, inp)}
    assert formulas["input"] == shape_of(x)
    with torch.no_grad():
        result = module(x)  # torch's default zero states
    lstm = spec.mode.family.recurrence.name == "lstm"
    if spec.mode.is_cell:
        outs = {"h_1": result[0], "c_1": result[1]} if lstm else {"h_1": result}
        states_out = {"h_0": "h_1", "c_0": "c_1"}
    else:
        output, hidden = result
        outs = {"output": output}
        outs.update({"h_n": hidden[0], "c_n": hidden[1]} if lstm else {"h_n": hidden})
        states_out = {"h_0": "h_n", "c_0": "c_n"}
    for name, tensor in outs.items():
        assert formulas[name] == shape_of(tensor), name
    # The docs: h_0 has the shape of h_n (c_0 of c_n) ...
    for state, out in states_out.items():
        if state in formulas:
            assert formulas[state] == formulas[out]
    # ... and torch accepts states of exactly the formula's shapes.
    h0 = torch.zeros(formulas["h_0"][0])
    hx = (h0, torch.zeros(formulas["c_0"][0])) if lstm else h0
    with torch.no_grad():
        module(x, hx)
    expected_names = {"input", "h_0", *outs} | ({"c_0"} if lstm else set())
    assert set(formulas) == expected_names


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(0, 2**16))
def test_inspect_runs_and_verifies_through_the_runner(case: Case, seed: int) -> None:
    spec, inp = case.spec, case.inp
    report = rnnshape.inspect(
        spec.mode, spec.input_size, spec.hidden_size,
        None if spec.mode.is_cell else spec.num_layers,
        **{k: v for k, v in spec.torch_kwargs().items()
           if k not in ("input_size", "hidden_size", "num_layers")},
        seq=None if inp.lengths or spec.mode.is_cell else inp.seq,
        batch=None if inp.unbatched or inp.lengths else inp.batch,
        unbatched=inp.unbatched or None, lengths=inp.lengths, seed=seed,
    )
    assert report.ran_forward
    assert report.num_parameters == sum(p.numel() for p in build(spec).parameters())
    assert report.input == inp


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_other_dtypes_run_on_cpu(dtype: str) -> None:
    report = rnnshape.inspect("lstm", 6, 5, 2, proj_size=3, dtype=dtype)
    assert {row.dtype for row in report.tensors} == {dtype}
    assert report.parameter_bytes == report.num_parameters * getattr(torch, dtype).itemsize
