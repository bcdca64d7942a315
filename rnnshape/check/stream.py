"""A check's results as they are made, for printing one at a time: memory stays that of one
spec whatever the number of files (``check_files`` holds them all, for the Python API)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from .report import CheckReport, SpecResult


class CheckStream:
    """The results of one check, made as they are iterated (once); the counts are final when
    the iteration ends. ``observer`` sees each result as it is made (the CLI prints its
    warnings)."""

    def __init__(
        self,
        results: Iterable[tuple[bool, SpecResult]],
        *,
        ran_forward: bool = False,
        observer: Callable[[SpecResult], None] | None = None,
    ) -> None:
        self._results = iter(results)
        self.ran_forward = ran_forward
        self.observer = observer
        self.files = 0
        self.passed = 0
        self.failed = 0

    @classmethod
    def of(cls, run: CheckReport) -> CheckStream:
        """A finished run as a stream (the counts of ``run.files`` and its results)."""
        stream = cls(((False, r) for r in run.results), ran_forward=run.ran_forward)
        stream.files = len(run.files)
        return stream

    def __iter__(self) -> Iterator[SpecResult]:
        for new_file, result in self._results:
            self.files += new_file
            if result.ok:
                self.passed += 1
            else:
                self.failed += 1
            if self.observer is not None:
                self.observer(result)
            yield result

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def specs(self) -> int:
        return self.passed + self.failed
