"""Recorded cells → JUnit XML: one test case per cell, so CI systems list cells as tests."""

from __future__ import annotations

from pathlib import Path

from packaging.version import Version

from harness.results.outcomes import GATING, Outcome
from harness.results.records import CellResult

ERRORS = frozenset(o for o in GATING if not o.traits.checked)  # gating, but the demo's own checks never decided
FAILURES = GATING - ERRORS
SKIPS = frozenset(o for o in Outcome if not o.traits.gates and not o.traits.working)


def write_junit(cells: list[CellResult], path: Path, package: str) -> Path:
    """One test case per cell, one suite per release, so CI systems list cells as tests."""
    from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

    suites: dict[tuple[str, str], TestSuite] = {}
    for cell in sorted(cells, key=lambda c: (Version(c.release), c.resolution, c.demo)):
        suite = suites.setdefault((cell.release, cell.resolution),
                                  TestSuite(f"{package} {cell.release} ({cell.resolution})"))
        case = TestCase(cell.demo, classname=f"{cell.story}.{cell.variant}", time=cell.duration)
        if cell.outcome in FAILURES:
            message = cell.error or ("declared known-broken, but it passes: " + cell.reason)
            case.result = [Failure(message, cell.outcome)]
        elif cell.outcome in ERRORS:
            case.result = [Error(cell.error, cell.outcome)]
        elif cell.outcome in SKIPS:
            case.result = [Skipped(cell.reason or cell.outcome, cell.outcome)]
        if cell.outcome != Outcome.PASS and cell.output_tail:
            case.system_out = cell.output_tail
        if cell.outcome == Outcome.FLAKY:
            case.system_err = cell.error
        suite.add_testcase(case)
    xml = JUnitXml()
    for key in suites:
        xml.add_testsuite(suites[key])
    xml.update_statistics()
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
    return path
