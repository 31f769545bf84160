"""`ranges --bisect`: run the probes that prove every unproven edge, until each is proven or listed with why.

Each round reads the evidence again (edges.py) and, per unproven edge, takes one action:
- no fail recorded beyond the edge: probe the release just outside it (batched: one session per release runs
  every demo that wants it), and when the range has already moved past its declared edge, the era's far end too;
- a fail recorded beyond a gap of unmeasured releases: bisect the gap (any failure ends a range);
- the edge's nearest candidates measured nothing (no env, a missing need): it is listed, not chased further.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.config.model import Demo, Matrix
from harness.evidence.bisector import Bisector, BisectStopped, ordered_window
from harness.evidence.edges import DemoEvidence, Edge, EdgeKind, catalog_evidence
from harness.evidence.probes import ProbeRunner
from harness.plan.releases import Release
from harness.results.store import store_for
from harness.run.stop import STOP

Log = Callable[[str], None]
MAX_ROUNDS = 12  # a lower edge that keeps moving one release a round stops here (each round gallops, so rarely)


@dataclass
class SurveyPlan:
    probes: dict[str, list[Demo]] = field(default_factory=dict)  # release → demos to run there
    bisects: list[tuple[Demo, Edge]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.probes and not self.bisects

    def add_probe(self, release: Release, demo: Demo) -> None:
        wanted = self.probes.setdefault(release.version, [])
        if demo not in wanted:
            wanted.append(demo)


def plan_round(evidence: list[DemoEvidence]) -> SurveyPlan:
    """What to run next for every unproven edge (pure: the records decide)."""
    plan = SurveyPlan()
    for item in evidence:
        for edge in item.edges():
            if edge.kind != EdgeKind.UNPROVEN or not edge.gap:
                continue
            if edge.inside is None:  # the demo never worked here: measure the declared edge itself
                plan.add_probe(edge.gap[0], item.demo)
            elif edge.outside is None:
                declared_edge = item.declared[0] if edge.side == "lower" else item.declared[-1]
                if item.demo.claims(edge.inside.parsed) and edge.inside != declared_edge:
                    plan.add_probe(declared_edge, item.demo)  # the declared edge itself was never measured
                    continue
                plan.add_probe(edge.gap[0], item.demo)  # the neighbour first: usually the declared edge holds
                if not item.demo.claims(edge.inside.parsed) and len(edge.gap) > 1:
                    plan.add_probe(edge.gap[-1], item.demo)  # it moved already: gallop to the era's end
            else:
                plan.bisects.append((item.demo, edge))
    return plan


def survey(matrix: Matrix, releases: list[Release], resolution: str, log: Log = print,
           jobs: int | None = None) -> list[DemoEvidence]:
    """Rounds of probes until no round has anything left to run; returns the final evidence."""
    store = store_for(matrix)
    by_version = {r.version: r for r in releases}
    with ProbeRunner(matrix, resolution, log, jobs) as runner:
        for number in range(1, MAX_ROUNDS + 1):
            evidence = catalog_evidence(matrix, releases, store.load(), resolution)
            plan = plan_round(evidence)
            if plan.empty() or STOP.requested:
                return evidence
            log(f"=== round {number}: {len(plan.probes)} release(s) to probe, {len(plan.bisects)} bisect(s)")
            versions = sorted(plan.probes, key=lambda v: by_version[v].parsed)
            for version, upcoming in zip(versions, versions[1:] + [None], strict=True):
                if upcoming is not None:
                    runner.install_ahead(by_version[upcoming], plan.probes[upcoming])
                if STOP.requested:
                    break
                log(f"--- probe {version}: {', '.join(d.path for d in plan.probes[version])}")
                runner.run(by_version[version], plan.probes[version])
            for demo, edge in plan.bisects:
                if STOP.requested:
                    break
                _bisect_edge(runner, matrix, demo, edge, releases, resolution, log)
        log(f"stopped after {MAX_ROUNDS} rounds; run `ranges --bisect` again to go on")
        return catalog_evidence(matrix, releases, store.load(), resolution)


def _bisect_edge(runner: ProbeRunner, matrix: Matrix, demo: Demo, edge: Edge, releases: list[Release],
                 resolution: str, log: Log) -> None:
    window = ordered_window(releases, edge.inside, edge.outside)
    log(f"--- bisect {demo.path}, {edge.side} edge: {edge.inside.version} passes, {edge.outside.version} fails")
    bisector = Bisector(runner, demo, store_for(matrix).load(), resolution, log=log, any_failure=True,
                        package=matrix.settings.package)
    try:
        result = bisector.run(window, skipped=dict(edge.tried))
    except BisectStopped:
        return
    log(f"    {demo.path}: last good {result.last_good.version}, first bad {result.first_bad.version} "
        f"({result.runs} run(s))")
