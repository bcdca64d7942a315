"""The --bench progress bar on stderr."""

# No ``from __future__ import annotations``: kept like the other CLI modules.

import sys
import time
from typing import Any


class BenchProgress:
    """A Rich progress bar on stderr for --bench, shown once a run has passed one second,
    only when both streams are terminals and JSON was not asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stdout.isatty() and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> "BenchProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("bench", total=total)
        self.bar.update(self.task, completed=done)
