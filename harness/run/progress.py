"""Progress: a line per finished cell, with an estimate of the session's time left."""

from __future__ import annotations

import threading
from collections.abc import Callable

from harness.config.model import Demo
from harness.results.outcomes import Outcome
from harness.results.records import CellResult

Log = Callable[[str], None]
UNKNOWN_SECONDS = 5.0  # a demo no baseline has timed


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def expected_seconds(baseline: dict[tuple[str, str, str], CellResult], demos: list[Demo], release: str,
                     resolution: str) -> dict[str, float]:
    """Each demo's likely duration, from the baseline: on this release, else its median elsewhere."""
    expected = {}
    for demo in demos:
        here = baseline.get((demo.path, release, resolution))
        if here is not None and here.duration:
            expected[demo.path] = here.duration
            continue
        others = sorted(c.duration for c in baseline.values() if c.demo == demo.path and c.duration)
        expected[demo.path] = others[len(others) // 2] if others else UNKNOWN_SECONDS
    return expected


def cell_line(number: int, total: int, cell: CellResult, seconds_left: float | None) -> str:
    """`[i/N] demo on X: outcome (time) — detail · about T left`; no estimate once nothing timed is left."""
    detail = f" — {cell.error or cell.reason}" if cell.outcome != Outcome.PASS else ""
    timing = "reused: inputs unchanged" if cell.reused else f"{cell.duration:.1f}s"
    eta = f" · about {format_duration(seconds_left)} left" if seconds_left is not None else ""
    return f"[{number}/{total}] {cell.demo} on {cell.release}: {cell.outcome} ({timing}){detail}{eta}"


class Progress:
    """Counts finished cells and logs each one; cells may end in several threads at once.

    The estimate is the expected time of the cells not yet done, shared by `jobs` at a time.
    """

    def __init__(self, total: int, expected: dict[str, float], jobs: int, log: Log):
        self.total = total
        self.jobs = jobs
        self.log = log
        self._remaining = dict(expected)
        self._done = 0
        self._lock = threading.Lock()

    def seconds_left(self) -> float | None:
        return sum(self._remaining.values()) / self.jobs if self._remaining else None

    def cell_done(self, cell: CellResult) -> None:
        with self._lock:
            self._remaining.pop(cell.demo, None)
            self._done += 1
            self.log(cell_line(self._done, self.total, cell, self.seconds_left()))
