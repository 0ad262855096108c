"""A small progress bar for management commands: drawn only when stderr is a terminal."""

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, label="Importing") as bar: bar.advance(n)``.

    Draws ``label [#####.....] 50% 500/1000`` on a terminal at most ten times a second,
    and nothing at all when output is redirected (CI, cron, pipes).
    """

    WIDTH = 30

    def __init__(self, total: int | None, label: str = "", stream: TextIO | None = None):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0

    def __enter__(self) -> "Progress":
        self._draw(force=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            text = f"\r{self.label} [{bar}] {fraction:4.0%} {self.done}/{self.total}"
        else:
            text = f"\r{self.label} {self.done}"
        self.stream.write(text)
        self.stream.flush()


class Pace:
    """At most ``rate`` rows a second on average: ``pace(n)`` after each batch of ``n`` rows
    sleeps until the rows done so far are due (``rows / rate`` seconds after the first call's
    start). A command given it leaves the CPU and the database to the service's requests
    between its batches, as an online schema tool throttles its copy."""

    def __init__(self, rate: float, *, clock=None, sleep=None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._clock = clock or time.monotonic
        self._sleep = sleep
        self._started = self._clock()
        self.rows = 0

    def __call__(self, rows: int) -> None:
        self.rows += rows
        ahead = self._started + self.rows / self.rate - self._clock()
        if ahead > 0:
            (self._sleep or time.sleep)(ahead)
