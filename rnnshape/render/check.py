"""Text lines and the JSON document for ``rnnshape check``; decides nothing.

Each renderer takes a finished :class:`CheckReport` or a :class:`CheckStream` and writes each
result as it comes, so that a check of 100,000 files holds one result at a time; the
summary, known at the end, comes last (in the JSON document too: ``status`` and
``summary`` follow ``results``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TextIO

from rnnshape._version import SCHEMA_VERSION, __version__
from rnnshape.check import CheckProblem, CheckReport, CheckStream, SpecResult, config_list_text
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


def summary_line(run: CheckReport | CheckStream) -> str:
    """``checked 3 specs in 2 files: all ok``; for a stream, once it has been read."""
    stream = _stream(run) if isinstance(run, CheckReport) else run
    verdict = "all ok" if stream.ok else f"{stream.passed} ok, {stream.failed} failed"
    ran = ", each run in torch" if stream.ran_forward else ""
    specs, files = plural(stream.specs, "spec"), plural(stream.files, "file")
    return f"checked {specs} in {files}{ran}: {verdict}"


def _stream(run: CheckReport) -> CheckStream:
    """A finished run as a stream already read: its counts are final."""
    stream = CheckStream.of(run)
    for _ in stream:
        pass
    return stream


def result_warning_lines(result: SpecResult) -> list[str]:
    """Warnings (torch accepts it, but probably not what was meant), labelled, for stderr."""
    return [one_line(f"{result.label}: {w}") for w in result.warnings]


def warning_lines(run: CheckReport) -> list[str]:
    """:func:`result_warning_lines` of every result of a finished run."""
    return [line for r in run.results for line in result_warning_lines(r)]


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


def check_document(run: CheckReport) -> dict[str, object]:
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


def _emit_lines(run: CheckReport | CheckStream, out: TextIO) -> None:
    results = CheckStream.of(run) if isinstance(run, CheckReport) else run
    for result in results:
        out.write("".join(line + "\n" for line in result_lines(result)))
    out.write(summary_line(results) + "\n")


def _emit_json(run: CheckReport | CheckStream, out: TextIO) -> None:
    """The document of :func:`check_document`, written a result at a time.

    ASCII only: the exact text, with controls, U+2028 and lone surrogates as JSON escapes."""
    results = CheckStream.of(run) if isinstance(run, CheckReport) else run
    head = {
        "schema_version": SCHEMA_VERSION,
        "rnnshape_version": __version__,
        "ran_forward": results.ran_forward,
    }
    out.write(json.dumps(head, indent=2)[:-2] + ',\n  "results": [')
    separator = "\n"
    for result in results:
        item = json.dumps(_result_dict(result), indent=2).replace("\n", "\n    ")
        out.write(f"{separator}    {item}")
        separator = ",\n"
    out.write("\n  ]" if separator == ",\n" else "]")
    tail = {
        "status": "ok" if results.ok else "fail",
        "summary": {
            "files": results.files,
            "specs": results.specs,
            "ok": results.passed,
            "failed": results.failed,
        },
    }
    out.write(",\n" + json.dumps(tail, indent=2)[2:] + "\n")


# Every format a check prints: one line per spec or broken rule, or the JSON document.
RENDERERS: dict[OutputFormat, Callable[[CheckReport | CheckStream, TextIO], None]] = {
    OutputFormat.TABLE: _emit_lines,
    OutputFormat.JSON: _emit_json,
}


def render(run: CheckReport | CheckStream, fmt: OutputFormat) -> str:
    """What ``RENDERERS[fmt]`` writes, as one string."""
    out = io.StringIO()
    RENDERERS[fmt](run, out)
    return out.getvalue()
