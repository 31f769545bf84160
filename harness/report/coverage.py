"""How much of what the matrix claims is measured: per major line and overall, every claimed (demo, release)
pair is measured on that release, covered by a measured release of its minor line, skipped here (a missing
need, no env), or declared only. The same kinds `pick` answers with, counted."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.model import Matrix
from harness.plan.releases import Release, usable
from harness.report.pick import MEASURED_FAILS
from harness.results.outcomes import WORKING
from harness.results.records import ResultSet

COLUMNS = ("measured", "minor line", "skipped here", "declared only")


@dataclass
class LineCoverage:
    line: str  # "2.x", or "all"
    claimed: int = 0
    counts: dict[str, int] | None = None

    def __post_init__(self):
        self.counts = self.counts or dict.fromkeys(COLUMNS, 0)

    def row(self) -> list[str]:
        return [self.line, str(self.claimed)] + [_share(self.counts[c], self.claimed) for c in COLUMNS]


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f} %)" if total else "0"


def coverage(matrix: Matrix, releases: list[Release], results: ResultSet, resolution: str | None = None
             ) -> list[LineCoverage]:
    """One entry per major line the demos claim, then "all"."""
    resolution = resolution or matrix.settings.resolution
    known = usable(releases, matrix.settings.prereleases)
    outcomes: dict[tuple[str, str], str] = {}
    for cell in results.cells.values():
        if cell.resolution == resolution:
            outcomes[(cell.demo, cell.release)] = cell.outcome
    lines: dict[str, LineCoverage] = {}
    total = LineCoverage("all")
    for demo in matrix.demos:
        minors = {r.minor for r in known if _measured(outcomes.get((demo.path, r.version)))}
        for release in known:
            if not demo.claims(release.parsed):
                continue
            outcome = outcomes.get((demo.path, release.version))
            if _measured(outcome):
                kind = "measured"
            elif release.minor in minors:
                kind = "minor line"
            elif outcome is not None:
                kind = "skipped here"
            else:
                kind = "declared only"
            entry = lines.setdefault(release.line, LineCoverage(release.line))
            for counted in (entry, total):
                counted.claimed += 1
                counted.counts[kind] += 1
    return [lines[k] for k in sorted(lines, key=lambda line: int(line.split(".")[0]))] + [total]


def _measured(outcome: str | None) -> bool:
    return outcome is not None and (outcome in WORKING or outcome in MEASURED_FAILS)


def coverage_headers() -> list[str]:
    return ["line", "claimed (demo, release)", *COLUMNS]
