"""What ``inspect_model`` shows, as plain data: one verified Report per recurrent call.

``ModelReport.to_dict()`` is the JSON contract (``model-v1.schema.json``, schema v1); each
call's ``report`` is exactly the document of ``rnnshape <mode> --json``. Past
``LISTING_LIMIT`` calls (an ``LSTMCell`` stepped 3,000 times) the list of calls is elided as
every listing is: its first and last ``LISTING_EDGE`` calls are kept, totals stay exact.
"""

from __future__ import annotations

from typing import NamedTuple

from rnnshape._version import SCHEMA_VERSION
from rnnshape.report import Cost, Display, Displayed, Report, elided_dict, register_display

__all__ = ["FailedModelCall", "ModelCall", "ModelReport", "register_model_display"]


def register_model_display(display: Display) -> None:
    """Called by the render layer (``rnnshape.render.model``), as for ``Report``."""
    register_display(display, "ModelReport")


class ModelCall(NamedTuple):
    """One call of a recurrent submodule: its name in ``named_modules()``, its call number
    (from 0, per module) and the report built from the input and states it received."""

    name: str
    call: int
    report: Report

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "call": self.call, "report": self.report.to_dict()}


class FailedModelCall(NamedTuple):
    """A call of a recurrent submodule that raised, and that the model itself caught (its
    forward pass went on): the module's name, its call number and the error, one line."""

    name: str
    call: int
    error: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "call": self.call, "error": self.error}


class _ModelReportFields(NamedTuple):
    """A ``ModelReport``'s fields (``ModelReport`` adds the display methods)."""

    calls: tuple[ModelCall, ...]
    uncalled: tuple[str, ...]
    num_parameters: int
    cost: Cost
    failed: tuple[FailedModelCall, ...] = ()
    calls_omitted: int = 0


class ModelReport(Displayed, _ModelReportFields):
    """Every recurrent call of one forward pass of a model, the calls that raised, the
    recurrent submodules it never called, and totals: parameters of each called module once,
    cost summed over calls. ``calls_omitted`` calls are left out of ``calls`` at index
    ``LISTING_EDGE`` (past ``LISTING_LIMIT``); the totals count them."""

    __slots__ = ()

    def to_dict(self) -> dict[str, object]:
        """The JSON document: deterministic, plain types only."""
        doc: dict[str, object] = {
            "schema_version": SCHEMA_VERSION,
            "calls": [call.to_dict() for call in self.calls],
        }
        if self.calls_omitted:
            doc["calls_elided"] = elided_dict(len(self.calls), self.calls_omitted)
        doc |= {
            "failed_calls": [failure.to_dict() for failure in self.failed],
            "uncalled": list(self.uncalled),
            "num_parameters": self.num_parameters,
            "cost": self.cost.to_dict(),
        }
        return doc

    @property
    def num_calls(self) -> int:
        """Every call that returned, those left out of ``calls`` included."""
        return len(self.calls) + self.calls_omitted

    def _placeholder(self) -> str:
        return f"<ModelReport {len(self.calls)} calls>"
