"""One ``rnnshape check``: every spec of every file, checked, as result objects."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rnnshape.errors import SpecError, UsageError
from rnnshape.report import Report
from rnnshape.spec import Dtype

from .expect import output_name
from .files import Entry, config_files, find_specs, folder_problem
from .problems import CheckProblem
from .rules import check_spec

_RUN_OPTION_NAMES = {"device": "--device", "dtype": "--dtype"}


@dataclass(frozen=True)
class RunOptions:
    """With ``--run``: build each module in torch on ``device`` at ``dtype``."""

    device: str = "cpu"
    dtype: Dtype = Dtype.FLOAT32


@dataclass(frozen=True)
class SpecResult:
    """The outcome for one spec (or for a file or document that held none)."""

    file: str
    document: int | None
    name: str | None
    label: str
    problems: tuple[CheckProblem, ...]
    module: str | None = None  # the torch class, when ``type`` was understood
    report: Report | None = None  # None unless the spec and its input are valid
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def num_parameters(self) -> int | None:
        return self.report.num_parameters if self.report is not None else None

    @property
    def output_name(self) -> str | None:
        """``output`` for a layer, ``h_1`` for a cell: what the next layer receives."""
        return output_name(self.report.spec.mode) if self.report is not None else None

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        name = self.output_name
        if self.report is None or name is None:
            return None
        return self.report.tensor(name).tensor.shape


@dataclass(frozen=True)
class CheckRun:
    """Every result of one ``rnnshape check``, in file order then spec order."""

    files: tuple[str, ...]
    results: tuple[SpecResult, ...]
    ran_forward: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


def check_files(
    paths: Sequence[str], key: str | None = None, run: RunOptions | None = None
) -> CheckRun:
    """Check every spec of every file; a file that cannot be read is one failed result.

    A folder stands for the config files under it (``files.config_files``); one with none is
    one failed result.
    """
    files: list[str] = []
    results: list[SpecResult] = []
    for path in paths:
        found = config_files(path) if os.path.isdir(path) else [path]
        if not found:
            files.append(path)
            results.append(check_entry(folder_problem(path), run))
        for file in found:
            files.append(file)
            results += [check_entry(entry, run) for entry in find_specs(file, key)]
    return CheckRun(tuple(files), tuple(results), ran_forward=run is not None)


def check_entry(entry: Entry, run: RunOptions | None = None) -> SpecResult:
    """Check one entry that ``files.find_specs`` produced."""
    if entry.problem is not None:
        return SpecResult(entry.file, entry.document, entry.name, entry.label, (entry.problem,))
    try:
        problems, module, report = check_spec(entry.spec, entry.line, run)
    except (SpecError, UsageError) as exc:  # a device or dtype this machine cannot run
        message = exc.render(_RUN_OPTION_NAMES) if isinstance(exc, SpecError) else exc.message
        raise UsageError(f"{entry.label}: {message}") from exc
    warnings = report.warnings if report is not None else ()
    # In file order; problems without a line (rare) keep their place at the end.
    ordered = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    return SpecResult(
        entry.file,
        entry.document,
        entry.name,
        entry.label,
        tuple(ordered),
        module,
        report,
        tuple(warnings),
    )
