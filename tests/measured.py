"""The parts of a report's JSON that are measured, not computed: they differ run to run."""

from __future__ import annotations

import copy
from typing import Any


def computed(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without ``run``, ``bench`` and ``memory.measured_peak_bytes``: what remains is
    a function of the command alone."""
    out = copy.deepcopy(doc)
    out.pop("run", None)
    out.pop("bench", None)
    out.get("memory", {}).pop("measured_peak_bytes", None)
    return out


def fixed_measurements(report: Any) -> Any:
    """A Report whose measured figures are replaced by stand-ins, for golden files: the run's
    time (estimate and outcome) and its measured peak. The kernel observed stays."""
    if report.run is None:
        return report
    run = report.run._replace(
        measured_seconds=0.25,
        estimated_seconds=None if report.run.estimated_seconds is None else 0.5,
    )
    memory = report.memory._replace(measured_peak_bytes=1 << 20)
    return report._replace(run=run, memory=memory)
