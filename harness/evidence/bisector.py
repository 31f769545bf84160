"""`bisect`: the first release where one demo's behaviour changes, found by running it on as few releases as
the window allows (steps.py), each run a recorded cell (probes.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.config.model import Demo
from harness.evidence.edges import Mark, mark_of, short_version
from harness.evidence.probes import ProbeRunner
from harness.evidence.signature import failure_signature, same_failure
from harness.evidence.steps import BisectError, Bisection, Verdict
from harness.plan.releases import Release
from harness.results.diff import explain
from harness.results.records import CellResult, ResultSet
from harness.results.store import store_for
from harness.run.stop import STOP

Log = Callable[[str], None]


class BisectStopped(Exception):
    """A stop request (Ctrl-C): nothing was marked bad for having been interrupted."""


@dataclass
class BisectResult:
    demo: Demo
    bisection: Bisection
    good_cell: CellResult
    bad_cell: CellResult
    runs: int  # cells this bisect ran (not reused from the records)
    notes: list[str] = field(default_factory=list)  # what each skipped candidate did
    ahead: list[str] = field(default_factory=list)  # envs installed while another candidate ran
    why: list[str] = field(default_factory=list)  # what differs between the last good and the first bad cell

    @property
    def last_good(self) -> Release:
        return self.bisection.window[0]

    @property
    def first_bad(self) -> Release:
        return self.bisection.window[1]

    def specifier(self) -> str:
        """The range the change implies, on the side of the good end."""
        good, bad = self.bisection.window
        if good.parsed > bad.parsed:
            return f">={short_version(good)}"
        return f"<{short_version(bad)}"


def ordered_window(releases: list[Release], good: Release, bad: Release) -> list[Release]:
    """From good to bad, every usable release between them, in release order (either end may be the older)."""
    low, high = sorted((good, bad), key=lambda r: r.parsed)
    inside = [r for r in releases if low.parsed <= r.parsed <= high.parsed]
    return inside if inside[0] == good else inside[::-1]


class Bisector:
    """One demo's bisect on a ProbeRunner; `recorded` lends cells already measured (ends and candidates)."""

    def __init__(self, runner: ProbeRunner, demo: Demo, recorded: ResultSet, resolution: str, log: Log = print,
                 repeat: int = 1, any_failure: bool = False, package: str = "prefect"):
        self.runner, self.demo, self.recorded, self.resolution, self.log = runner, demo, recorded, resolution, log
        self.repeat, self.any_failure, self.package = max(1, repeat), any_failure, package
        self.runs = 0

    def measure(self, release: Release, fresh: bool = False) -> list[CellResult]:
        """The demo's cells on a release: a measured record when one exists (unless `fresh`), else `repeat` runs."""
        earlier = self.recorded.cells.get((self.demo.path, release.version, self.resolution))
        if not fresh and self.repeat == 1 and earlier is not None and mark_of(earlier) in (Mark.WORKS, Mark.FAILS):
            return [earlier]
        cells = []
        for attempt in range(self.repeat):
            ran = self.runner.run(release, [self.demo], force=attempt > 0 or fresh)
            if STOP.requested or not ran:
                raise BisectStopped(f"stopped while {release.version} ran; no release was marked for it")
            self.runs += sum(not c.reused for c in ran)
            cells += ran
        return cells

    def verify_ends(self, good: Release, bad: Release) -> tuple[CellResult, CellResult]:
        good_cells, bad_cells = self.measure(good), self.measure(bad)
        if any(mark_of(c) != Mark.WORKS for c in good_cells):
            raise BisectError(f"{self.demo.path} does not pass on {good.version}, the good end: "
                              f"{_what(good_cells)}; choose another --good")
        if any(mark_of(c) != Mark.FAILS for c in bad_cells):
            raise BisectError(f"{self.demo.path} does not fail on {bad.version}, the bad end: "
                              f"{_what(bad_cells)}; choose another --bad")
        return good_cells[-1], bad_cells[-1]

    def verdict(self, release: Release, cells: list[CellResult], signature: str) -> tuple[Verdict, str]:
        marks = [mark_of(c) for c in cells]
        if all(m == Mark.WORKS for m in marks):
            return Verdict.GOOD, ""
        if Mark.WORKS in marks and Mark.FAILS in marks:
            passed = marks.count(Mark.WORKS)
            return Verdict.SKIP, f"{release.version} is flaky: passed {passed} of {len(marks)} runs"
        if all(m == Mark.FAILS for m in marks):
            found = failure_signature(cells[-1])
            if self.any_failure or same_failure(found, signature):
                return Verdict.BAD, ""
            return Verdict.SKIP, f"{release.version} fails differently: {cells[-1].error[:160] or found}"
        cell = next(c for c, m in zip(cells, marks, strict=True) if m != Mark.WORKS and m != Mark.FAILS)
        return Verdict.SKIP, f"{release.version} measured nothing: {cell.outcome} ({(cell.reason or cell.error)[:160]})"

    def run(self, window: list[Release], skipped: dict[str, str] | None = None) -> BisectResult:
        """`window`: good end first, bad end last (ordered_window); `skipped`: releases known to measure nothing."""
        good_cell, bad_cell = self.verify_ends(window[0], window[-1])
        signature = failure_signature(bad_cell)
        self.log(f"good {window[0].version} passes; bad {window[-1].version} fails: {bad_cell.error[:160]}")
        bisection = Bisection(window, skipped=dict(skipped or {}))
        result = BisectResult(self.demo, bisection, good_cell, bad_cell, 0)
        while (candidate := bisection.next_candidate()) is not None:
            for verdict in (Verdict.GOOD, Verdict.BAD):  # both possible next candidates, while this one runs
                upcoming = bisection.after(verdict)
                if upcoming is not None:
                    self.runner.install_ahead(upcoming, [self.demo])
            before = bisection.window, len(bisection.inside)
            cells = self.measure(candidate)
            verdict, note = self.verdict(candidate, cells, signature)
            bisection.record(candidate, verdict, note)
            if verdict == Verdict.GOOD:
                result.good_cell = cells[-1]
            elif verdict == Verdict.BAD:
                result.bad_cell = cells[-1]
            else:
                result.notes.append(note)
                self.log(f"skipping {candidate.version}: {note}")
            (a, b), n = before
            c, d = bisection.window
            self.log(f"{candidate.version}: {verdict}; window [{a.version}, {b.version}] ({n} releases) → "
                     f"[{c.version}, {d.version}], ~{bisection.steps_left()} steps left")
        result.runs = self.runs
        result.ahead = list(self.runner.ahead_done)
        freezes = {**self.recorded.freezes, **store_for(self.runner.matrix).load(committed=False).freezes}
        result.why = explain(result.good_cell, result.bad_cell, freezes, self.package)
        return result


def _what(cells: list[CellResult]) -> str:
    return "; ".join(f"{c.outcome}" + (f" ({c.error[:120]})" if c.error else "") for c in cells)
