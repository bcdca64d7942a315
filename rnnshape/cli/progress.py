"""What a real run shows on stderr while it works: a spinner, then the --bench bar."""

# No ``from __future__ import annotations``: kept like the other CLI modules.

import sys
import threading
import time
from typing import Any

# A pass shorter than this shows nothing.
DELAY_SECONDS = 1.0


class RunProgress:
    """A spinner with the elapsed time and the estimate, on stderr, once a run has lasted
    one second; it becomes a bar while ``--bench`` passes run.

    The core never prints: the pipeline calls ``started(estimate)`` just before the run and
    ``update(done, total)`` after each bench pass. A forward pass runs in torch without
    returning, so the display starts from a timer thread and Rich's own refresh thread
    animates it. Shown only when stderr is a terminal, and never for ``--json`` on a pipe.
    """

    def __init__(self, json_out: bool) -> None:
        self.enabled = sys.stderr.isatty() and (not json_out or sys.stdout.isatty())
        self.began = time.monotonic()
        self.estimate: float | None = None
        self.bar: Any = None  # the Rich Progress, once shown
        self.task: Any = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self.bar is not None:
                self.bar.stop()

    def started(self, estimate_seconds: float) -> None:
        """The run starts now and should take about ``estimate_seconds``."""
        self.began = time.monotonic()
        self.estimate = estimate_seconds
        if self.enabled:
            self._timer = threading.Timer(DELAY_SECONDS, self.show)
            self._timer.daemon = True
            self._timer.start()

    def show(self, description: str = "forward pass", total: int | None = None) -> None:
        """Start the display (from the timer, or from a bench update past one second)."""
        with self._lock:
            if self._closed or self.bar is not None or not self.enabled:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            # With no total (a forward pass) the bar pulses; bench passes fill it.
            columns: list[Any] = [
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
            ]
            if self.estimate is not None:
                columns.append(TextColumn(f"(estimate {_duration(self.estimate)})", style="dim"))
            self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(description, total=total)
            # Elapsed time counts from the start of the run, not of the display.
            self.bar.tasks[0].start_time = self.bar.get_time() - (time.monotonic() - self.began)

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` bench passes have run (warm-up included)."""
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.began < DELAY_SECONDS:
                return
            self.show("bench", total)
        with self._lock:
            if self.bar is not None:
                self.bar.update(self.task, description="bench", completed=done, total=total)


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
