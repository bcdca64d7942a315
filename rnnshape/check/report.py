"""One ``rnnshape check``: every spec of every file, checked, as result objects."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from rnnshape.errors import SpecError, UsageError
from rnnshape.family.options import RunOptions
from rnnshape.report import Report

from .expect import output_name
from .files import STDIN, Entry, config_files, find_specs, folder_problem
from .problems import CheckProblem, Rule
from .rules import check_spec

# How check's messages name what the run options' messages call by their API names.
_RUN_OPTION_NAMES = {
    "device": "--device",
    "dtype": "--dtype",
    "max_seconds": "--max-seconds",
    "dry_run": "a check without --run",
    "seq": "input.seq",
    "batch": "input.batch",
}
_now = time.monotonic  # the check's clock (a test replaces it)
# A refusal about these is the whole command's: the machine cannot run what was asked.
_COMMAND_OPTIONS = frozenset({"device", "dtype"})


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
class CheckReport:
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
) -> CheckReport:
    """Check every spec of every file; a file that cannot be read is one failed result.

    A folder stands for the config files under it (``files.config_files``); one with none is
    one failed result. With ``run``, its ``max_seconds`` bounds the whole check: each spec
    runs within what is left, and the specs after it is spent are reported as not run.
    """
    files: list[str] = []
    results: list[SpecResult] = []
    budget = _Budget(run)
    for path in paths:
        found = config_files(path) if os.path.isdir(path) else [path]
        if not found:
            files.append(path)
            results.append(check_entry(folder_problem(path), run))
        for file in found:
            files.append(file)
            results += [budget.check(entry) for entry in find_specs(file, key)]
    return CheckReport(tuple(files), tuple(results), ran_forward=run is not None)


def iter_checked(
    paths: Sequence[str], key: str | None = None, run: RunOptions | None = None
) -> Iterator[tuple[bool, SpecResult]]:
    """``check_files`` one result at a time, each with True when it is a new file's first, so
    that a check of 100,000 files holds one at a time (``rnnshape.check.CheckStream``)."""
    budget = _Budget(run)
    for path in paths:
        found = config_files(path) if path != STDIN and os.path.isdir(path) else [path]
        if not found:
            yield True, check_entry(folder_problem(path), run)
        for file in found:
            for index, entry in enumerate(find_specs(file, key)):
                yield index == 0, budget.check(entry)


class _Budget:
    """The time a ``check --run`` may spend in total (its ``--max-seconds``)."""

    def __init__(self, run: RunOptions | None) -> None:
        self.run = run
        self.began = _now()

    def check(self, entry: Entry) -> SpecResult:
        run = self.run
        if run is None or run.max_seconds is None or entry.problem is not None:
            return check_entry(entry, run)
        left = run.max_seconds - (_now() - self.began)
        if left <= 0:
            message = (
                f"not run: the check's --max-seconds {run.max_seconds:g} was spent on the "
                "specs before this one; raise --max-seconds to run them all"
            )
            return SpecResult(
                entry.file,
                entry.document,
                entry.name,
                entry.label,
                (CheckProblem(Rule.RUN, message, entry.line),),
            )
        result = check_entry(entry, replace(run, max_seconds=left))
        spent = run.max_seconds - left
        if spent >= 0.5 and any(p.rule is Rule.RUN for p in result.problems):
            note = (
                f" (the check's --max-seconds {run.max_seconds:g} had {left:.1f} s left "
                f"after {spent:.1f} s on the specs before this one)"
            )
            problems = tuple(
                replace(p, message=p.message + note) if p.rule is Rule.RUN else p
                for p in result.problems
            )
            result = replace(result, problems=problems)
        return result


def check_entry(entry: Entry, run: RunOptions | None = None) -> SpecResult:
    """Check one entry that ``files.find_specs`` produced.

    With ``run``, a run that a guard refuses (memory, time) is a problem of this spec (rule
    ``run``); a device or dtype this machine cannot run is the whole command's usage error."""
    if entry.problem is not None:
        return SpecResult(entry.file, entry.document, entry.name, entry.label, (entry.problem,))
    try:
        problems, module, report = check_spec(entry.spec, entry.line, run)
    except SpecError as exc:
        message = exc.render(_RUN_OPTION_NAMES)
        if exc.param in _COMMAND_OPTIONS:
            raise UsageError(f"{entry.label}: {message}") from exc
        problems, module, report = [CheckProblem(Rule.RUN, message, entry.line)], None, None
    except UsageError as exc:
        problems, module, report = [CheckProblem(Rule.RUN, exc.message, entry.line)], None, None
    warnings = (*entry.warnings, *(report.warnings if report is not None else ()))
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
