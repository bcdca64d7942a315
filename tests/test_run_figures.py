"""What a real run reports about itself: the kernel observed (``run.backend``) and the short
inputs the probe and the observer use in its place."""

from __future__ import annotations

import pytest

import rnnshape
from rnnshape.explain.kernel import predict_backend
from rnnshape.family import make_input, make_spec

CASES = [
    ("lstm", {}, {}),
    ("lstm", {}, {"lengths": [5, 3, 2]}),  # uneven packed lengths: the plain kernels
    ("lstm", {}, {"lengths": [4, 4]}),  # even ones: torch runs them as a padded batch
    ("lstm", {"proj_size": 3}, {}),
    ("gru", {}, {"lengths": [6, 1]}),
    ("lstm-cell", {}, {}),
]


@pytest.mark.parametrize(("mode", "layer", "inputs"), CASES)
@pytest.mark.parametrize("training", [False, True])
def test_the_observed_kernel_is_the_predicted_one(
    mode: str, layer: dict[str, object], inputs: dict[str, object], training: bool
) -> None:
    torch = pytest.importorskip("torch")
    from rnnshape.torchrun.backend import backend_facts

    bench = {"bench": 1, "backward": True} if training else {}
    report = rnnshape.inspect(mode, 4, 6, **layer, **inputs, **bench)  # type: ignore[arg-type]
    assert report.run is not None
    predicted = predict_backend(
        report.spec, report.input, training=training, facts=backend_facts(torch, "cpu")
    )
    assert report.run.backend == predicted.backend


@pytest.mark.parametrize(
    ("lengths", "steps"), [((900, 360, 120), 56), ((900, 899), 56), ((7, 7, 7), 3), ((5, 1), 2)]
)
def test_short_packed_inputs_keep_the_runs_unevenness(
    lengths: tuple[int, ...], steps: int
) -> None:
    from rnnshape.torchrun.run import _short_input

    spec = make_spec("gru", 2, 3)
    short = _short_input(spec, make_input(spec, lengths=list(lengths)), steps)
    assert short.lengths is not None and max(short.lengths) == steps
    assert (len(set(short.lengths)) > 1) is (len(set(lengths)) > 1)
