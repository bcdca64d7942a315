"""One call from a user's model and example inputs to a complete ``ModelReport``.

The model's own forward pass runs once (``rnnshape.torchrun.model``); each recurrent call it
makes becomes a Report verified against torch by ``rnnshape.pipeline.build_report``.
"""

from __future__ import annotations

from typing import Any

from rnnshape.pipeline import build_report
from rnnshape.report import Cost
from rnnshape.report_model import ModelCall, ModelReport


def inspect_model(model: Any, /, *example_inputs: Any, **example_kwargs: Any) -> ModelReport:
    """Run ``model(*example_inputs, **example_kwargs)`` once under ``no_grad`` and report
    every call of a recurrent submodule (``nn.RNN``/``LSTM``/``GRU``/cells and subclasses)."""
    from rnnshape.torchrun.model import observe_model

    seen = observe_model(model, example_inputs, example_kwargs)
    calls = tuple(
        ModelCall(
            c.name,
            c.call,
            build_report(
                c.spec,
                c.input,
                device=c.observation.device,
                dtype=c.observation.dtype,
                seed=None,
                observation=c.observation,
            ),
        )
        for c in seen.calls
    )
    return ModelReport(
        calls=calls,
        uncalled=seen.uncalled,
        num_parameters=model_parameters(calls),
        cost=total_cost(calls),
    )


def model_parameters(calls: tuple[ModelCall, ...]) -> int:
    """Parameters of the recurrent modules called, each module once however often called."""
    first = {c.name: c.report.num_parameters for c in reversed(calls)}
    return sum(first.values())


def total_cost(calls: tuple[ModelCall, ...]) -> Cost:
    """Each term of the cost summed over every call."""
    return Cost(*(sum(c.report.cost[i] for c in calls) for i in range(len(Cost._fields))))
