"""What the recorded cells prove about each demo's range: the range they support, and each edge's proof.

A demo's evidence lives inside its era (the major lines its declared range touches): a 2.x demo on
1.4.1 proves nothing, so an edge on a major boundary, or at the first or newest release there is,
needs no evidence. Any other edge is proven by a working cell on the edge release and a broken
one (fail or timeout) on the release just outside it. Working: pass, flaky, xpass. A declared
xfail neither extends a range nor ends it. Skipped, env-error, interrupted and infra-error cells
say nothing about the demo; an edge whose neighbours only have such cells is listed with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from packaging.specifiers import SpecifierSet

from harness.config.model import Demo, Matrix
from harness.plan.releases import Release
from harness.results.outcomes import WORKING, Outcome
from harness.results.records import CellResult, ResultSet

EDGE_FAILS = frozenset({Outcome.FAIL, Outcome.TIMEOUT})  # what proves a demo does not work on a release
# what a tried release can measure nothing for, for good: a missing need, no env (interrupted: try again)
SETTLED_NOTHING = frozenset({Outcome.SKIPPED, Outcome.ENV_ERROR})
TRIES = 3  # releases beyond an edge that measured nothing before the edge is listed unprovable


class Mark(StrEnum):
    WORKS = "works"
    FAILS = "fails"
    DECLARED = "declared-broken"  # xfail: neither extends nor ends a range
    NOTHING = "nothing"  # no cell, or one that measured nothing about the demo


def mark_of(cell: CellResult | None) -> Mark:
    if cell is None:
        return Mark.NOTHING
    if cell.outcome in WORKING:
        return Mark.WORKS
    if cell.outcome in EDGE_FAILS:
        return Mark.FAILS
    return Mark.DECLARED if cell.outcome == Outcome.XFAIL else Mark.NOTHING


class EdgeKind(StrEnum):
    ERA = "era"  # on a major boundary, or the first release there is: needs no evidence
    OPEN = "open"  # no upper bound and the newest release works: needs no evidence
    PROVEN = "proven"  # works on the edge, fails on the release just outside
    UNPROVABLE = "unprovable"  # every release that could prove it was tried and measured nothing (why says why)
    UNPROVEN = "unproven"  # a release that could prove it was never tried


NEEDS_NO_EVIDENCE = frozenset({EdgeKind.ERA, EdgeKind.OPEN})


@dataclass
class Edge:
    side: str  # "lower" or "upper"
    kind: EdgeKind
    inside: Release | None  # the outermost working release on this side (None: the demo never worked here)
    outside: Release | None  # the nearest failing release beyond it, if any
    gap: list[Release] = field(default_factory=list)  # beyond it, not yet measured, nearest first
    tried: dict[str, str] = field(default_factory=dict)  # releases between them that measured nothing, and why
    inside_cell: CellResult | None = None
    outside_cell: CellResult | None = None

    @property
    def backed(self) -> bool:
        return self.kind in (EdgeKind.PROVEN, *NEEDS_NO_EVIDENCE)

    def why(self) -> str:
        """For an edge that is not proven: what is missing, in a line."""
        if self.kind == EdgeKind.UNPROVABLE:
            return "; ".join(f"{v}: {reason}" for v, reason in self.tried.items())
        if self.inside is None:
            return "no recorded pass"
        if self.outside is None:
            return f"no recorded fail beyond {self.inside.version}"
        return f"{len(self.gap)} release(s) between {self.inside.version} and {self.outside.version} not measured"


@dataclass
class DemoEvidence:
    demo: Demo
    era: list[Release]  # the releases evidence may come from, oldest first
    declared: list[Release]  # what the declared range claims of them
    lower: Edge
    upper: Edge
    failing_inside: list[CellResult]  # recorded fails the declared range claims (not declared xfail)
    working_outside: list[CellResult]  # recorded passes outside the declared range

    @property
    def supported(self) -> list[Release]:
        """The releases the evidence range holds: from the lower edge's inside release to the upper's."""
        if self.lower.inside is None or self.upper.inside is None:
            return []
        start, end = self.era.index(self.lower.inside), self.era.index(self.upper.inside)
        return self.era[start:end + 1]

    def proposed(self, releases: list[Release]) -> SpecifierSet:
        """The declared range, with each edge the evidence contradicts moved: out to the outermost pass beyond it,
        or in to the pass after a fail it claims. An edge nothing contradicts stays (even where unproven)."""
        if self.lower.inside is None or self.upper.inside is None or not self.declared:
            return self.demo.releases
        lower = self._moved(self.lower) or self.declared[0]
        if self.upper.kind == EdgeKind.OPEN:
            return range_specifier(lower, None, releases)
        return range_specifier(lower, self._moved(self.upper) or self.declared[-1], releases)

    def _moved(self, edge: Edge) -> Release | None:
        widened = not self.demo.claims(edge.inside.parsed)
        narrowed = edge.outside is not None and self.demo.claims(edge.outside.parsed)
        return edge.inside if widened or narrowed else None

    def edges(self) -> list[Edge]:
        return [self.lower, self.upper]


def short_version(release: Release) -> str:
    """2.0.0 → 2.0, 0.13.0 → 0.13, 2.19.6 → 2.19.6: how ranges are written."""
    parts = release.parsed.release
    if len(parts) >= 3 and parts[2] == 0 and not release.parsed.pre and not release.parsed.post:
        return f"{parts[0]}.{parts[1]}"
    return release.version


def range_specifier(lower: Release, upper: Release | None, releases: list[Release]) -> SpecifierSet:
    """>=lower, and <the release after `upper` (none when the range is open, `upper` None)."""
    parts = [f">={short_version(lower)}"]
    later = [r for r in releases if upper is not None and r.parsed > upper.parsed]
    if later:
        after = later[0]
        whole = after.parsed.major != upper.parsed.major  # the next release opens another era
        parts.append(f"<{after.parsed.major}" if whole else f"<{short_version(after)}")
    return SpecifierSet(",".join(parts))


def era_of(demo: Demo, releases: list[Release]) -> list[Release]:
    """The releases of every major line the demo's declared range touches."""
    majors = {r.parsed.major for r in releases if demo.claims(r.parsed)}
    return [r for r in releases if r.parsed.major in majors]


def demo_evidence(demo: Demo, releases: list[Release], results: ResultSet,
                  resolution: str) -> DemoEvidence:
    """`releases`: the usable releases, oldest first."""
    era = era_of(demo, releases)
    declared = [r for r in era if demo.claims(r.parsed)]
    cells = {r.version: results.cells.get((demo.path, r.version, resolution)) for r in era}
    marks = [mark_of(cells[r.version]) for r in era]
    working = [i for i, r in enumerate(era) if marks[i] == Mark.WORKS and demo.claims(r.parsed)]
    if not working:
        working = [i for i, m in enumerate(marks) if m == Mark.WORKS]
    if working:
        anchor = working[-1]  # the segment of the newest pass the range claims
        open_ended = demo.claims(releases[-1].parsed)  # claims releases to come: `new` measures them
        lower = _edge("lower", era, cells, marks, anchor, -1, False)
        upper = _edge("upper", era, cells, marks, anchor, +1, open_ended)
    else:
        open_ended = demo.claims(releases[-1].parsed)
        lower, upper = (_unmeasured(side, era, declared, cells, open_ended) for side in ("lower", "upper"))
    failing = [cells[r.version] for r in declared if marks[era.index(r)] == Mark.FAILS]
    outside = [cells[r.version] for r in era if not demo.claims(r.parsed) and marks[era.index(r)] == Mark.WORKS]
    return DemoEvidence(demo, era, declared, lower, upper, failing, outside)


def _edge(side: str, era: list[Release], cells: dict, marks: list[Mark], anchor: int, step: int,
          open_ended: bool) -> Edge:
    """Walk outward from the anchor over everything but a fail: the last working release is the edge.

    `open_ended`: the declared range has no upper bound, so no fail above means none is claimed yet."""
    inside, index, fail = anchor, anchor + step, None
    while 0 <= index < len(era):
        if marks[index] == Mark.FAILS:
            fail = index
            break
        if marks[index] == Mark.WORKS:
            inside = index
        index += step
    between = range(inside + step, fail if fail is not None else (len(era) if step > 0 else -1), step)
    tried = {era[i].version: _nothing_reason(cells[era[i].version]) for i in between
             if cells[era[i].version] is not None and cells[era[i].version].outcome in SETTLED_NOTHING}
    gap = [era[i] for i in between if era[i].version not in tried and marks[i] != Mark.DECLARED]
    edge = Edge(side, EdgeKind.UNPROVEN, era[inside], era[fail] if fail is not None else None, gap, tried,
                cells[era[inside].version], cells[era[fail].version] if fail is not None else None)
    if fail is None and (open_ended or inside == (len(era) - 1 if step > 0 else 0)):
        edge.kind = EdgeKind.OPEN if open_ended else EdgeKind.ERA
    elif fail is not None and not gap and not tried:
        edge.kind = EdgeKind.PROVEN
    elif tried and (not gap or len(tried) >= TRIES):
        edge.kind = EdgeKind.UNPROVABLE  # the smallest window: only releases that measured nothing are left
    return edge


def _unmeasured(side: str, era: list[Release], declared: list[Release], cells: dict, open_ended: bool) -> Edge:
    """The demo never worked here: the declared edge's own cell says why (a missing need, no env), if it has one.
    A declared edge that needs no evidence (a major boundary, an open end) still needs none."""
    if not declared:
        return Edge(side, EdgeKind.UNPROVEN, None, None)
    release = declared[0] if side == "lower" else declared[-1]
    if side == "upper" and open_ended:
        return Edge(side, EdgeKind.OPEN, None, None)
    if release == (era[0] if side == "lower" else era[-1]):
        return Edge(side, EdgeKind.ERA, None, None)
    cell = cells[release.version]
    if cell is None or cell.outcome in EDGE_FAILS:  # unmeasured: measure it; failing: a claimed fail (check says)
        return Edge(side, EdgeKind.UNPROVEN, None, None, [release] if cell is None else [], inside_cell=cell)
    return Edge(side, EdgeKind.UNPROVABLE, None, None, [], {release.version: _nothing_reason(cell)}, cell)


def _nothing_reason(cell: CellResult) -> str:
    detail = cell.reason or cell.error or "no detail recorded"
    return f"{cell.outcome} ({detail[:160]})"


def catalog_evidence(matrix: Matrix, releases: list[Release], results: ResultSet,
                     resolution: str | None = None) -> list[DemoEvidence]:
    resolution = resolution or matrix.settings.resolution
    if not releases:
        return []
    return [demo_evidence(demo, releases, results, resolution) for demo in matrix.demos]
