"""What ``inspect_model`` shows, as plain data: one verified Report per recurrent call.

``ModelReport.to_dict()`` is the JSON contract (``model-v1.schema.json``, schema v1); each
call's ``report`` is exactly the document of ``rnnshape <mode> --json``.
"""

from __future__ import annotations

from typing import NamedTuple

from rnnshape._version import SCHEMA_VERSION
from rnnshape.report import Cost, Report

__all__ = ["ModelCall", "ModelReport"]


class ModelCall(NamedTuple):
    """One call of a recurrent submodule: its name in ``named_modules()``, its call number
    (from 0, per module) and the report built from the input and states it received."""

    name: str
    call: int
    report: Report

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "call": self.call, "report": self.report.to_dict()}


class ModelReport(NamedTuple):
    """Every recurrent call of one forward pass of a model, the recurrent submodules it never
    called, and totals: parameters of each called module once, cost summed over calls."""

    calls: tuple[ModelCall, ...]
    uncalled: tuple[str, ...]
    num_parameters: int
    cost: Cost

    def to_dict(self) -> dict[str, object]:
        """The JSON document: deterministic, plain types only."""
        return {
            "schema_version": SCHEMA_VERSION,
            "calls": [call.to_dict() for call in self.calls],
            "uncalled": list(self.uncalled),
            "num_parameters": self.num_parameters,
            "cost": self.cost.to_dict(),
        }
