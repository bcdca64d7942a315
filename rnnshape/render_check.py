"""Text lines and the JSON document for ``rnnshape check``; decides nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum

from rnnshape._version import __version__
from rnnshape.check import CheckRun, Problem, SpecResult

SCHEMA_VERSION = 1


class CheckFormat(str, Enum):
    """How the results are printed: one line each, or one JSON document."""

    TEXT = "text"
    JSON = "json"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "[" + ", ".join(str(d) for d in shape or ()) + "]"


def _where(problem: Problem) -> str:
    if problem.line is None:
        return ""
    if problem.column is None:
        return f"line {problem.line}: "
    return f"line {problem.line}, column {problem.column}: "


def result_lines(result: SpecResult) -> list[str]:
    """``path::name: ok ...``, or one ``path::name: [line N: ]message`` per broken rule."""
    if result.ok:
        return [
            f"{result.label}: ok {result.module}, {result.num_parameters} parameters, "
            f"{result.output_name} {_shape(result.output_shape)}"
        ]
    return [f"{result.label}: {_where(p)}{p.message}" for p in result.problems]


def summary_line(run: CheckRun) -> str:
    files = f"{len(run.files)} file" + ("" if len(run.files) == 1 else "s")
    specs = "spec" if len(run.results) == 1 else "specs"
    verdict = "all ok" if run.ok else f"{run.passed} ok, {run.failed} failed"
    ran = ", each run in torch" if run.ran_forward else ""
    return f"checked {len(run.results)} {specs} in {files}{ran}: {verdict}"


def warning_lines(run: CheckRun) -> list[str]:
    """Warnings (torch accepts it, but probably not what was meant), labelled, for stderr."""
    return [f"{r.label}: {w}" for r in run.results for w in r.warnings]


def render_text(run: CheckRun) -> str:
    lines = [line for result in run.results for line in result_lines(result)]
    lines.append(summary_line(run))
    return "\n".join(lines) + "\n"


def _result_dict(result: SpecResult) -> dict[str, object]:
    shape = result.output_shape
    return {
        "file": result.file,
        "document": result.document,
        "name": result.name,
        "label": result.label,
        "ok": result.ok,
        "module": result.module,
        "constructor": result.report.spec.constructor() if result.report else None,
        "num_parameters": result.num_parameters,
        "output_shape": list(shape) if shape is not None else None,
        "errors": [
            {"rule": p.rule, "message": p.message, "line": p.line, "column": p.column}
            for p in result.problems
        ],
        "warnings": list(result.warnings),
    }


def check_document(run: CheckRun) -> dict[str, object]:
    """The ``--json`` document (check-report schema v1): plain types only."""
    return {
        "schema_version": SCHEMA_VERSION,
        "rnnshape_version": __version__,
        "status": "ok" if run.ok else "fail",
        "ran_forward": run.ran_forward,
        "summary": {
            "files": len(run.files),
            "specs": len(run.results),
            "ok": run.passed,
            "failed": run.failed,
        },
        "results": [_result_dict(r) for r in run.results],
    }


def render_json(run: CheckRun) -> str:
    return json.dumps(check_document(run), indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[CheckFormat, Callable[[CheckRun], str]] = {
    CheckFormat.TEXT: render_text,
    CheckFormat.JSON: render_json,
}


def render(run: CheckRun, fmt: CheckFormat) -> str:
    return RENDERERS[fmt](run)
