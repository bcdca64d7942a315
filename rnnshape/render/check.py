"""Text lines and the JSON document for ``rnnshape check``; decides nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TextIO

from rnnshape._version import SCHEMA_VERSION, __version__
from rnnshape.check import CheckProblem, CheckRun, SpecResult, config_list_text
from rnnshape.render.formats import OutputFormat
from rnnshape.text import one_line, plural


def _where(problem: CheckProblem) -> str:
    if problem.line is None:
        return ""
    if problem.column is None:
        return f"line {problem.line}: "
    return f"line {problem.line}, column {problem.column}: "


def result_lines(result: SpecResult) -> list[str]:
    """``path::name: ok ...``, or one ``path::name: [line N: ]message`` per broken rule."""
    if result.ok:
        lines = [
            f"{result.label}: ok {result.module}, {result.num_parameters} parameters, "
            f"{result.output_name} {config_list_text(result.output_shape or ())}"
        ]
    else:
        lines = [f"{result.label}: {_where(p)}{p.message}" for p in result.problems]
    # Labels, keys and messages quote the files: a newline there must not forge a line.
    return [one_line(line) for line in lines]


def summary_line(run: CheckRun) -> str:
    verdict = "all ok" if run.ok else f"{run.passed} ok, {run.failed} failed"
    ran = ", each run in torch" if run.ran_forward else ""
    specs, files = plural(len(run.results), "spec"), plural(len(run.files), "file")
    return f"checked {specs} in {files}{ran}: {verdict}"


def warning_lines(run: CheckRun) -> list[str]:
    """Warnings (torch accepts it, but probably not what was meant), labelled, for stderr."""
    return [one_line(f"{r.label}: {w}") for r in run.results for w in r.warnings]


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
            {"rule": p.rule.value, "message": p.message, "line": p.line, "column": p.column}
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


def _emit_lines(run: CheckRun, stream: TextIO) -> None:
    lines = [line for result in run.results for line in result_lines(result)]
    lines.append(summary_line(run))
    stream.write("\n".join(lines) + "\n")


def _emit_json(run: CheckRun, stream: TextIO) -> None:
    # ASCII only: the exact text, with controls, U+2028 and lone surrogates as JSON escapes.
    stream.write(json.dumps(check_document(run), indent=2) + "\n")


# Every format a check prints: one line per spec or broken rule, or the JSON document.
RENDERERS: dict[OutputFormat, Callable[[CheckRun, TextIO], None]] = {
    OutputFormat.TABLE: _emit_lines,
    OutputFormat.JSON: _emit_json,
}


def render(run: CheckRun, fmt: OutputFormat) -> str:
    """What ``RENDERERS[fmt]`` writes, as one string."""
    out = io.StringIO()
    RENDERERS[fmt](run, out)
    return out.getvalue()
