"""The Python API: one call gives the report whose to_dict() is the JSON document."""

from __future__ import annotations

import json
from importlib.resources import files

import jsonschema
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from typer.testing import CliRunner

import rnnshape
from rnnshape.cli import app
from tests.measured import computed

SCHEMA = json.loads(files("rnnshape").joinpath("schemas/report-v1.schema.json").read_text())


def test_inspect_to_dict_is_the_cli_json() -> None:
    report = rnnshape.inspect("lstm", 10, 20, num_layers=2, seq=5, batch=3, run=True)
    result = CliRunner().invoke(app, ["lstm", "10", "20", "2", "--seq", "5", "--batch", "3",
                                      "--json"])
    assert computed(json.loads(result.stdout)) == computed(report.to_dict())


def test_inspect_without_run_does_not_need_torch_values() -> None:
    report = rnnshape.inspect("gru", 10, 20, bidirectional=True, run=False)
    assert report.ran_forward is False
    assert report.num_parameters == sum(p.numel() for p in nn.GRU(10, 20, bidirectional=True)
                                        .parameters())


def test_inspect_module_reads_the_config_from_the_module() -> None:
    module = nn.LSTM(7, 9, num_layers=2, batch_first=True, proj_size=4, bidirectional=True)
    x = torch.randn(2, 6, 7)
    report = rnnshape.inspect_module(module, x)
    doc = report.to_dict()
    jsonschema.validate(doc, SCHEMA)
    out, (h_n, c_n) = module(x)
    assert doc["config"]["proj_size"] == 4 and doc["config"]["batch_first"] is True
    assert doc["tensors"]["output"]["shape"] == list(out.shape)
    assert doc["tensors"]["h_n"]["shape"] == list(h_n.shape)
    assert doc["tensors"]["c_n"]["shape"] == list(c_n.shape)
    assert doc["input"] == {"seq": 6, "batch": 2, "unbatched": False, "lengths": None}


def test_inspect_module_with_packed_input_recovers_lengths_in_order() -> None:
    module = nn.GRU(4, 5)
    packed = pack_padded_sequence(torch.randn(6, 3, 4), torch.tensor([2, 6, 3]),
                                  enforce_sorted=False)
    report = rnnshape.inspect_module(module, packed)
    assert report.input.lengths == (2, 6, 3)
    assert report.tensor("input").tensor.batch_sizes == tuple(packed.batch_sizes.tolist())


def test_inspect_module_with_users_states_and_relu_rnn() -> None:
    module = nn.RNN(3, 4, nonlinearity="relu", dtype=torch.float64)
    h0 = torch.zeros(1, 4, dtype=torch.float64)
    report = rnnshape.inspect_module(module, torch.randn(5, 3, dtype=torch.float64), h0)
    assert report.spec.nonlinearity == "relu"
    assert report.input.unbatched
    assert report.dtype == "float64"
    assert report.seed is None


def test_inspect_module_cells() -> None:
    report = rnnshape.inspect_module(nn.LSTMCell(3, 4), torch.randn(2, 3))
    assert [row.tensor.name for row in report.tensors] == ["input", "h_0", "c_0", "h_1", "c_1"]
    assert report.tensor("h_1").tensor.shape == (2, 4)


def test_inspect_module_rejects_a_wrong_input_width() -> None:
    with pytest.raises(rnnshape.UsageError, match="input_size is 10"):
        rnnshape.inspect_module(nn.GRU(10, 4), torch.randn(5, 2, 7))


def test_inspect_module_rejects_other_modules() -> None:
    with pytest.raises(rnnshape.UsageError, match="not a recurrent module"):
        rnnshape.inspect_module(nn.Linear(3, 4), torch.randn(2, 3))


def test_public_api_is_declared() -> None:
    for name in rnnshape.__all__:
        assert hasattr(rnnshape, name), name
