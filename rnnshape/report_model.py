"""What ``inspect_model`` shows, as plain data: one verified Report per recurrent call.

``ModelReport.to_dict()`` is the JSON contract (``model-v1.schema.json``, schema v1); each
call's ``report`` is exactly the document of ``rnnshape <mode> --json``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rnnshape._version import SCHEMA_VERSION
from rnnshape.report import Cost, Display, Report

__all__ = ["ModelCall", "ModelReport", "register_model_display"]

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
