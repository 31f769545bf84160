"""Progress: a line per finished cell, with an estimate of the session's time left."""

from __future__ import annotations

import threading
from collections.abc import Callable

from harness.config.model import Demo
from harness.results.outcomes import Outcome
from harness.results.records import CellResult

Log = Callable[[str], None]


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def expected_seconds(baseline: dict[tuple[str, str, str], CellResult], demos: list[Demo], release: str,
                     resolution: str) -> dict[str, float]:
    """Each demo's likely duration, from the baseline: on this release, else its median elsewhere, else the
    median demo of the release's major line. Empty when nothing was ever timed (a first run: no estimate)."""
    line = release.split(".")[0] + "."
    typical = sorted(c.duration for c in baseline.values() if c.release.startswith(line) and c.duration)
    fallback = typical[len(typical) // 2] if typical else None
    expected = {}
    for demo in demos:
        here = baseline.get((demo.path, release, resolution))
        if here is not None and here.duration:
            expected[demo.path] = here.duration
            continue
        others = sorted(c.duration for c in baseline.values() if c.demo == demo.path and c.duration)
        guess = others[len(others) // 2] if others else fallback
        if guess is None:
            return {}
        expected[demo.path] = guess
    return expected


def cell_line(number: int, total: int, cell: CellResult, seconds_left: float | None, first_run: bool = False) -> str:
    """`[i/N] demo on X: outcome (time) — detail · about T left`; no estimate once nothing timed is left."""
    detail = f" — {cell.error or cell.reason}" if cell.outcome != Outcome.PASS else ""
    timing = "reused: inputs unchanged" if cell.reused else f"{cell.duration:.1f}s"
    if seconds_left is None:
        eta = " · first run here: no estimate yet" if first_run and number < total else ""
    else:
        eta = f" · about {format_duration(seconds_left)} left"
    return f"[{number}/{total}] {cell.demo} on {cell.release}: {cell.outcome} ({timing}){detail}{eta}"


class Progress:
    """Counts finished cells and logs each one; cells may end in several threads at once.

    The estimate is the expected time of the cells not yet done, shared by `jobs` at a time.
    """

    def __init__(self, total: int, expected: dict[str, float], jobs: int, log: Log, estimate: bool = True):
        """`estimate`: False when nothing will run (no env): no line says anything about time left."""
        self.total = total
        self.jobs = jobs
        self.log = log
        self._remaining = dict(expected)
        self._first_run = estimate and not expected
        self._done = 0
        self._lock = threading.Lock()

    def seconds_left(self) -> float | None:
        return sum(self._remaining.values()) / self.jobs if self._remaining else None

    def cell_done(self, cell: CellResult) -> None:
        with self._lock:
            self._remaining.pop(cell.demo, None)
            self._done += 1
            self.log(cell_line(self._done, self.total, cell, self.seconds_left(), self._first_run))
