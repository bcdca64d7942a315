"""Validation of constructor arguments and inputs: pure Python, no torch."""

from __future__ import annotations

import pytest

from rnnshape.errors import SpecError
from rnnshape.family import LayerSpec, Mode, make_input, make_spec, modes_with


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("lstm", Mode.LSTM),
        ("LSTM", Mode.LSTM),
        ("lstm_cell", Mode.LSTM_CELL),
        ("lstm-cell", Mode.LSTM_CELL),
        ("LSTMCell", Mode.LSTM_CELL),
        ("gru_cell", Mode.GRU_CELL),
        ("RNNCell", Mode.RNN_CELL),
        ("rnn", Mode.RNN),
    ],
)
def test_mode_parse_accepts_the_documented_spellings(name: str, mode: Mode) -> None:
    assert Mode.parse(name) is mode


def test_mode_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        Mode.parse("transformer")


def test_torch_kwargs_are_exactly_the_class_signature() -> None:
    import inspect

    from torch import nn

    # The layer classes take *args/**kwargs in torch, so compare with the documented
    # attributes instead: every kwarg we list must be an attribute torch stores.
    for mode in Mode:
        module = getattr(nn, mode.torch_class)(3, 4)
        for name in mode.kwargs:
            assert hasattr(module, name), (mode, name)
    cell_sig = inspect.signature(nn.RNNCell.__init__).parameters
    assert [p for p in cell_sig if p not in ("self", "device", "dtype")] == list(
        Mode.RNN_CELL.kwargs
    )
    lstm_cell_sig = inspect.signature(nn.LSTMCell.__init__).parameters
    assert [p for p in lstm_cell_sig if p not in ("self", "device", "dtype")] == list(
        Mode.LSTM_CELL.kwargs
    )


@pytest.mark.parametrize(
    ("mode", "kwargs", "param", "fragment"),
    [
        ("lstm", {"input_size": 0}, "input_size", "0 must be at least 1"),
        ("lstm", {"hidden_size": -3}, "hidden_size", "-3 must be at least 1"),
        ("lstm", {"num_layers": 0}, "num_layers", "0 must be at least 1"),
        ("lstm", {"proj_size": 20}, "proj_size", "20 must be smaller than hidden_size 20"),
        ("lstm", {"proj_size": -1}, "proj_size", "-1 must be at least 0"),
        ("gru", {"proj_size": 5}, "proj_size", "is only for lstm (gru has no proj_size)"),
        ("lstm", {"nonlinearity": "relu"}, "nonlinearity", "is only for rnn, rnn-cell"),
        ("rnn", {"nonlinearity": "sigmoid"}, "nonlinearity", "must be 'tanh' or 'relu'"),
        ("lstm", {"dropout": 1.5}, "dropout", "1.5 must be between 0 and 1"),
        ("lstm", {"dropout": -0.1}, "dropout", "must be between 0 and 1"),
        ("lstm", {"dropout": float("nan")}, "dropout", "must be between 0 and 1"),
        ("lstm-cell", {"bidirectional": True}, "bidirectional", "is only for rnn, lstm, gru"),
        ("lstm-cell", {"bidirectional": False}, "bidirectional", "lstm-cell has no"),
        ("gru-cell", {"num_layers": 2}, "num_layers", "is only for rnn, lstm, gru"),
        ("lstm", {"hidden_size": 20.0}, "hidden_size", "must be an integer"),
        ("lstm", {"hidden_size": True}, "hidden_size", "must be an integer"),
        ("lstm", {"hidden_size": "20"}, "hidden_size", "must be an integer"),
        ("lstm", {"bias": 1}, "bias", "must be true or false"),
        ("lstm", {"bias": "yes"}, "bias", "must be true or false"),
    ],
)
def test_make_spec_rejects_what_torch_rejects(
    mode: str, kwargs: dict[str, object], param: str, fragment: str
) -> None:
    args: dict[str, object] = {"input_size": 10, "hidden_size": 20, **kwargs}
    with pytest.raises(SpecError) as info:
        make_spec(mode, **args)  # type: ignore[arg-type]
    assert info.value.param == param
    assert fragment in str(info.value)


def test_spec_error_kinds_tell_type_from_value_from_unsupported() -> None:
    with pytest.raises(SpecError) as wrong:
        make_spec("lstm", 10, "20")
    with pytest.raises(SpecError) as value:
        make_spec("lstm", 10, 0)
    with pytest.raises(SpecError) as unsupported:
        make_spec("gru", 10, 20, proj_size=3)
    assert (wrong.value.kind, value.value.kind, unsupported.value.kind) == (
        "wrong_type",
        "value",
        "unsupported",
    )


def test_render_spells_parameters_the_front_ends_way() -> None:
    spec = make_spec("lstm", 10, 20)
    with pytest.raises(SpecError) as info:
        make_input(spec, seq=4, lengths=[5, 3])
    names = {"seq": "--seq", "lengths": "--lengths"}
    assert info.value.render(names) == "--seq 4 disagrees with --lengths, whose longest is 5"
    assert str(info.value) == "seq 4 disagrees with lengths, whose longest is 5"


@pytest.mark.parametrize(
    ("mode", "kwargs", "param"),
    [
        ("lstm", {"seq": 0}, "seq"),
        ("lstm", {"batch": 0}, "batch"),
        ("lstm", {"lengths": []}, "lengths"),
        ("lstm", {"lengths": [5, 0]}, "lengths"),
        ("lstm", {"lengths": [5, 2.5]}, "lengths"),
        ("lstm", {"lengths": "5,3"}, "lengths"),
        ("lstm", {"lengths": [5, 3], "unbatched": True}, "unbatched"),
        ("lstm", {"batch": 2, "unbatched": True}, "unbatched"),
        ("lstm", {"lengths": [5, 3], "batch": 3}, "batch"),
        ("lstm", {"lengths": [5, 3], "seq": 4}, "seq"),
        ("lstm-cell", {"seq": 2}, "seq"),
        ("gru-cell", {"lengths": [2]}, "lengths"),
    ],
)
def test_make_input_rejects(mode: str, kwargs: dict[str, object], param: str) -> None:
    spec = make_spec(mode, 10, 20)
    with pytest.raises(SpecError) as info:
        make_input(spec, **kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_lengths_set_batch_and_seq_and_may_be_unsorted() -> None:
    inp = make_input(make_spec("gru", 4, 5), lengths=[2, 5, 3])
    assert (inp.batch, inp.seq, inp.lengths) == (3, 5, (2, 5, 3))


def test_lengths_with_agreeing_batch_and_seq_are_accepted() -> None:
    inp = make_input(make_spec("gru", 4, 5), lengths=[5, 3], batch=2, seq=5)
    assert inp.packed


def test_defaults_follow_the_pytorch_docs_example() -> None:
    spec = make_spec("lstm", 10, 20)
    assert make_input(spec) == make_input(spec, seq=5, batch=3)
    cell = make_input(make_spec("lstm-cell", 10, 20))
    assert cell.seq is None and cell.batch == 3


def test_constructor_shows_only_non_default_keywords() -> None:
    assert make_spec("lstm", 10, 20, 2).constructor() == "nn.LSTM(10, 20, num_layers=2)"
    spec = make_spec("rnn", 10, 20, nonlinearity="relu", bias=False)
    assert spec.constructor() == "nn.RNN(10, 20, nonlinearity='relu', bias=False)"
    assert make_spec("gru-cell", 3, 4).constructor() == "nn.GRUCell(3, 4)"


def test_modes_with() -> None:
    assert modes_with("proj_size") == (Mode.LSTM,)
    assert modes_with("nonlinearity") == (Mode.RNN, Mode.RNN_CELL)
    assert set(modes_with("batch")) == set(Mode)


def test_h_out_is_proj_size_when_projecting() -> None:
    assert LayerSpec(Mode.LSTM, 10, 20, proj_size=8).h_out == 8
    assert LayerSpec(Mode.LSTM, 10, 20).h_out == 20
