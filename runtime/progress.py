"""A progress bar for long work on a terminal (one line, redrawn), or a line every
``LOG_EVERY_SECONDS`` when the output is not a terminal (a log file, CI)."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30
LOG_EVERY_SECONDS = 5.0


class ProgressBar:
    def __init__(self, label: str, out: TextIO) -> None:
        self.label = label
        self.out = out
        self.started = time.monotonic()
        self.last_line = 0.0
        self.tty = out.isatty()
        self.done = 0
        self.total = 0

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` (store positions)."""
        self.done, self.total = done, max(total, done)
        now = time.monotonic()
        if not self.tty and now - self.last_line < LOG_EVERY_SECONDS:
            return
        self.last_line = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(share * WIDTH)
        rate = self.done / max(now - self.started, 1e-9)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
            f"{self.done:,}/{self.total:,} ({share:.0%}) {rate:,.0f}/s"
        )
        self.out.write(("\r" + line) if self.tty else (line + "\n"))
        self.out.flush()

    def finish(self) -> None:
        self._draw(time.monotonic())
        if self.tty:
            self.out.write("\n")
        self.out.flush()
