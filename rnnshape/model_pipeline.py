"""One call from a user's model and example inputs to a complete ``ModelReport``.

The model's own forward pass runs once (``rnnshape.torchrun.model``); each recurrent call it
makes becomes a Report verified against torch by ``rnnshape.pipeline.build_report``.
"""

from __future__ import annotations

from typing import Any

from rnnshape.errors import UsageError, VerificationError
from rnnshape.formulas import elide
from rnnshape.pipeline import build_report
from rnnshape.report import Cost
from rnnshape.report_model import FailedModelCall, ModelCall, ModelReport


def inspect_model(model: Any, /, *example_inputs: Any, **example_kwargs: Any) -> ModelReport:
    """Run ``model(*example_inputs, **example_kwargs)`` once under ``no_grad`` and report
    every call of a recurrent submodule (``nn.RNN``/``LSTM``/``GRU``/cells and subclasses)."""
    from rnnshape.torchrun.model import observe_model

    seen = observe_model(model, example_inputs, example_kwargs)
    calls = []
    for c in seen.calls:
        try:
            report = build_report(
                c.spec,
                c.input,
                device=c.observation.device,
                dtype=c.observation.dtype,
                seed=None,
                observation=c.observation,
            )
        except VerificationError as exc:
            if not seen.global_hooks:
                raise
            # A global forward hook runs before the module's own hooks and may replace what
            # torch's forward returned: not a disagreement between torch and the formulas.
            raise UsageError(
                f"{c.name or '(model)'} call {c.call}: what it returned does not have the shapes "
                "torch's forward gives, as seen after the global forward hooks "
                "(torch.nn.modules.module.register_module_forward_hook) ran; one of them "
                f"changed it. Remove it to inspect the model ({exc.message})"
            ) from exc
        calls.append(ModelCall(c.name, c.call, report))
    shown, omitted = elide(calls)
    return ModelReport(
        calls=shown,
        uncalled=seen.uncalled,
        num_parameters=model_parameters(calls),
        cost=total_cost(calls),
        failed=tuple(FailedModelCall(f.name, f.call, f.error) for f in seen.failed),
        calls_omitted=omitted,
    )


def model_parameters(calls: list[ModelCall]) -> int:
    """Parameters of the recurrent modules called, each module once however often called."""
    first = {c.name: c.report.num_parameters for c in reversed(calls)}
    return sum(first.values())


def total_cost(calls: list[ModelCall]) -> Cost:
    """Each term of the cost summed over every call."""
    return Cost(*(sum(c.report.cost[i] for c in calls) for i in range(len(Cost._fields))))
