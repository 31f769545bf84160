"""`ranges`: the evidence of every demo as a table, the problems `--check` fails on, and the edges' one-line
proofs the reports show ("from 0.6 (0.5.5: AttributeError: …)")."""

from __future__ import annotations

from harness.config.model import Matrix
from harness.evidence.edges import NEEDS_NO_EVIDENCE, DemoEvidence, Edge, EdgeKind, catalog_evidence
from harness.plan.releases import Release, usable
from harness.results.records import ResultSet


def check_problems(evidence: list[DemoEvidence], releases: list[Release]) -> list[str]:
    """What makes `ranges --check` exit 1: a claimed fail, a pass outside the range, an unproven edge."""
    problems = []
    for item in evidence:
        demo = item.demo.path
        for cell in item.failing_inside:
            problems.append(f"{demo}: declares {item.demo.releases} but fails on {cell.release}: "
                            f"{cell.error[:120] or cell.outcome} (narrow the range, or declare an xfail)")
        for cell in item.working_outside:
            problems.append(f"{demo}: passes on {cell.release}, outside the declared {item.demo.releases} "
                            "(the range could widen)")
        for edge in item.edges():
            if edge.kind == EdgeKind.UNPROVEN:
                problems.append(f"{demo}: its {edge.side} edge is unproven: {edge.why()} "
                                "(`ranges --bisect` runs the missing probes)")
        proposed = item.proposed(releases)
        if str(proposed) != str(item.demo.releases) and claimed(proposed, item.era) != item.declared:
            problems.append(f"{demo}: the evidence says {pretty(proposed)}, the matrix {pretty(item.demo.releases)} "
                            "(`ranges --write` applies it)")
    return problems


def claimed(specifier, releases: list[Release]) -> list[Release]:
    return [r for r in releases if specifier.contains(r.parsed, prereleases=True)]


def pretty(specifier) -> str:
    """Lower bound first, as people write ranges."""
    return ",".join(sorted((str(s) for s in specifier), key=lambda s: (not s.startswith(">"), s))) or "any"


def edge_note(edge: Edge) -> str:
    """The proof of one edge, as the reports show it."""
    if edge.kind in NEEDS_NO_EVIDENCE or edge.inside is None and edge.kind != EdgeKind.UNPROVABLE:
        return {EdgeKind.ERA: "era boundary", EdgeKind.OPEN: "open"}.get(edge.kind, "never passed here")
    if edge.kind == EdgeKind.PROVEN:
        error = edge.outside_cell.error if edge.outside_cell is not None else ""
        what = "timed out" if edge.outside_cell is not None and edge.outside_cell.outcome == "timeout" else error
        return f"{edge.outside.version}: {what[:110] or 'fails'}"
    if edge.kind == EdgeKind.UNPROVABLE:
        return "cannot be proven here: " + edge.why()[:160]
    return "unproven: " + edge.why()


def gained_and_lost(item: DemoEvidence, releases: list[Release]) -> tuple[int, int]:
    """Releases the evidence range claims that the declared one does not, and the reverse."""
    proposed = set(r.version for r in claimed(item.proposed(releases), item.era))
    declared = set(r.version for r in item.declared)
    return len(proposed - declared), len(declared - proposed)


def evidence_rows(evidence: list[DemoEvidence], releases: list[Release]) -> list[list[str]]:
    rows = []
    for item in evidence:
        gained, lost = gained_and_lost(item, releases)
        change = f"+{gained} −{lost}" if gained or lost else "="
        rows.append([item.demo.path, pretty(item.demo.releases), pretty(item.proposed(releases)), change,
                     f"{_edge_release(item.lower)} | {edge_note(item.lower)}",
                     f"{_edge_release(item.upper)} | {edge_note(item.upper)}"])
    return rows


def _edge_release(edge: Edge) -> str:
    return edge.inside.version if edge.inside is not None else "-"


def edge_counts(evidence: list[DemoEvidence]) -> dict[str, int]:
    """Edges by kind, leaving out those that need no evidence (era boundaries, open upper ends)."""
    counts = {kind.value: 0 for kind in EdgeKind if kind not in NEEDS_NO_EVIDENCE}
    for item in evidence:
        for edge in item.edges():
            if edge.kind not in NEEDS_NO_EVIDENCE:
                counts[edge.kind.value] += 1
    return counts


def edge_text(edge: Edge) -> str:
    """One edge as a reader sees it: 'from 0.6.0 (0.5.5: AttributeError: …)', 'through 1.4.1 (era boundary)'."""
    word = "from" if edge.side == "lower" else "through"
    if edge.inside is None:
        return f"{word} ? ({edge_note(edge)})"
    return f"{word} {edge.inside.version} ({edge_note(edge)})"


def evidence_by_demo(evidence: list[DemoEvidence]) -> dict[str, str]:
    """demo path → both edges' texts, for the reports."""
    return {item.demo.path: f"{edge_text(item.lower)}; {edge_text(item.upper)}" for item in evidence}


def edge_texts(matrix: Matrix, releases: list[Release], results: ResultSet) -> dict[str, str]:
    """Every demo's edge texts from the recorded cells (`releases`: the snapshot's): what every report shows."""
    return evidence_by_demo(catalog_evidence(matrix, usable(releases, matrix.settings.prereleases), results))
