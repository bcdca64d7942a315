"""What ``inspect_model`` shows, as plain data: one verified Report per recurrent call.

``ModelReport.to_dict()`` is the JSON contract (``model-v1.schema.json``, schema v1); each
call's ``report`` is exactly the document of ``rnnshape <mode> --json``. Past
``LISTING_LIMIT`` calls (an ``LSTMCell`` stepped 3,000 times) the list of calls is elided as
every listing is: its first and last ``LISTING_EDGE`` calls are kept, totals stay exact.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rnnshape._version import SCHEMA_VERSION
from rnnshape.report import Cost, Display, Report, elided_dict

__all__ = ["FailedModelCall", "ModelCall", "ModelReport", "register_model_display"]

_display: list[Display] = []


def register_model_display(display: Display) -> None:
    """Called by the render layer (``rnnshape.render.model``), as for ``Report``."""
    _display[:] = [display]


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


class ModelReport(NamedTuple):
    """Every recurrent call of one forward pass of a model, the calls that raised, the
    recurrent submodules it never called, and totals: parameters of each called module once,
    cost summed over calls. ``calls_omitted`` calls are left out of ``calls`` at index
    ``LISTING_EDGE`` (past ``LISTING_LIMIT``); the totals count them."""

    calls: tuple[ModelCall, ...]
    uncalled: tuple[str, ...]
    num_parameters: int
    cost: Cost
    failed: tuple[FailedModelCall, ...] = ()
    calls_omitted: int = 0

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

    def __str__(self) -> str:
        """The tables as plain text, as a pipe gets them."""
        return _display[0].text(self) if _display else f"<ModelReport {len(self.calls)} calls>"

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Rich's protocol: ``rich.print(model_report)``."""
        if not _display:
            yield str(self)
            return
        yield from _display[0].rich(self, console, options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter and IPython: the tables."""
        return _display[0].mimebundle(self) if _display else {"text/plain": str(self)}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def show(self, file: Any = None) -> None:
        """Print the tables, as a Report's ``show()`` does: on ``file`` (default stdout)."""
        import sys

        if _display:
            _display[0].show(self, file or sys.stdout)
        else:
            (file or sys.stdout).write(str(self) + "\n")
