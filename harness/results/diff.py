"""A run compared with the baseline (the committed reports/results.json): what changed, and why.

Every cell of the run gets one class. The class comes from one table, `TRANSITIONS`:
(what the baseline recorded for the cell, what the run recorded) → class. Two facts the
pair alone cannot tell then refine it: whether the release is inside the demo's declared
range (a failure outside it is expected, a pass outside it means the range could widen),
and, for a cell the baseline never had, what the newest earlier release of its line or the
as-released env of the same release recorded (a new release that breaks a demo is a
regression; a failure with today's dependencies where as-released passed is drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from harness.config.model import Matrix
from harness.results.outcomes import BROKEN, UNMEASURED, WORKING, Outcome
from harness.results.records import CellResult, ResultSet
from harness.results.text import markdown_text


@dataclass(frozen=True)
class ChangeClass:
    name: str
    meaning: str
    gates: bool = False  # the report exits 1 when the run has one


CHANGE_CLASSES = (
    ChangeClass("regression", "worked in the baseline (or on the newest earlier release of its line) and is broken "
                "now, inside the declared range", gates=True),
    ChangeClass("drift", "broken with today's dependencies (latest) where the release's as-released env works: "
                "the dependencies that moved are listed"),
    ChangeClass("flaky", "failed, then passed on an immediate retry"),
    ChangeClass("fixed", "broken or declared known-broken in the baseline, passes now"),
    ChangeClass("new", "the first measurement of this cell: the baseline has no cell for it, or only a skip"),
    ChangeClass("coverage-lost", "measured in the baseline, skipped now: a need it declares is no longer available"),
    ChangeClass("declared-broken", "worked in the baseline, now declared known-broken (xfail) and still broken"),
    ChangeClass("range-could-widen", "passes outside the declared range, or passes where declared known-broken "
                "(the xfail entry can go)"),
    ChangeClass("not-measured", "the run could not measure the cell (it was stopped, or the harness itself failed): "
                "the earlier result stands, and the cell runs again next time"),
    ChangeClass("unchanged", "the same kind of result as the baseline (counted, not listed)"),
)
CLASSES = tuple(c.name for c in CHANGE_CLASSES)
GATING_CLASSES = tuple(c.name for c in CHANGE_CLASSES if c.gates)

# What the baseline recorded, grouped: no cell, worked, broken, skipped, known-broken.
NONE, WORKED, BROKE, SKIP, KNOWN = "none", "worked", "broken", "skipped", "xfail"
BEFORE = (NONE, WORKED, BROKE, SKIP, KNOWN)
_ROWS = {
    #                     before: none     worked            broken       skipped          xfail
    Outcome.PASS:               ("new",   "unchanged",      "fixed",     "new",           "fixed"),
    Outcome.FLAKY:              ("flaky", "flaky",          "flaky",     "flaky",         "flaky"),
    Outcome.FAIL:               ("new",   "regression",     "unchanged", "new",           "unchanged"),
    Outcome.TIMEOUT:            ("new",   "regression",     "unchanged", "new",           "unchanged"),
    Outcome.ENV_ERROR:          ("new",   "regression",     "unchanged", "new",           "unchanged"),
    Outcome.SKIPPED:            ("new",   "coverage-lost",  "coverage-lost", "unchanged", "coverage-lost"),
    Outcome.XFAIL:              ("new",   "declared-broken", "unchanged", "new",          "unchanged"),
    Outcome.XPASS:              ("range-could-widen",) * 5,
    Outcome.INTERRUPTED:        ("not-measured",) * 5,
    Outcome.INFRA_ERROR:        ("not-measured",) * 5,
}
TRANSITIONS: dict[tuple[str, Outcome], str] = {
    (before, after): row[i] for after, row in _ROWS.items() for i, before in enumerate(BEFORE)
}


def before_group(cell: CellResult | None) -> str:
    if cell is None or cell.outcome in UNMEASURED:
        return NONE
    if cell.outcome in WORKING:
        return WORKED
    if cell.outcome in BROKEN:
        return BROKE
    return KNOWN if cell.outcome == Outcome.XFAIL else SKIP


@dataclass
class CellChange:
    kind: str
    cell: CellResult
    before: CellResult | None = None
    why: list[str] = field(default_factory=list)


@dataclass
class Diff:
    changes: list[CellChange]

    def of(self, kind: str) -> list[CellChange]:
        return [c for c in self.changes if c.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in CLASSES}

    @property
    def gates(self) -> bool:
        return any(c.kind in GATING_CLASSES for c in self.changes)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def freeze_diff(before: list[str], after: list[str]) -> list[str]:
    """`name old → new` for every distribution whose pin changed, was added or went away."""

    def pins(lines: list[str]) -> dict[str, str]:
        found = {}
        for line in lines:
            if "==" in line:
                name, version = line.split("==", 1)
                found[name.strip().lower().replace("_", "-")] = version.strip()
        return found

    old, new = pins(before), pins(after)
    changes = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append(f"{name} {old.get(name, '(absent)')} → {new.get(name, '(absent)')}")
    return changes


def _mentioned(name: str, text: str) -> bool:
    return any(form in text for form in {name, name.replace("-", "_"), name.replace("-", ".")})


def explain(before: CellResult, after: CellResult, freezes: dict[str, list[str]], package: str) -> list[str]:
    """What differs between two records of a demo, as far as the records tell."""
    why = []
    if before.release != after.release:
        why.append(f"a different {package} release: {before.release} → {after.release}")
    if before.freeze_hash and after.freeze_hash and before.freeze_hash != after.freeze_hash:
        if before.freeze_hash in freezes and after.freeze_hash in freezes:
            moved = freeze_diff(freezes[before.freeze_hash], freezes[after.freeze_hash])
            if before.release != after.release:
                moved = [m for m in moved if not m.startswith(package.lower() + " ")]
            # the packages the failure mentions first: they are the likely cause
            text = (after.error + "\n" + after.output_tail).lower()
            moved.sort(key=lambda m: (not _mentioned(m.split(" ", 1)[0], text), m))
            if moved:
                why.append("different dependency versions: " + ", ".join(moved[:12])
                           + (f" (+{len(moved) - 12} more)" if len(moved) > 12 else ""))
        else:
            why.append("different dependency versions (freeze not recorded)")
    if before.python and after.python and before.python != after.python:
        why.append(f"a different Python: {before.python} → {after.python}")
    if before.demo_hash and after.demo_hash and before.demo_hash != after.demo_hash:
        why.append("the demo file changed")
    if before.harness_version and after.harness_version and before.harness_version != after.harness_version:
        why.append(f"a different harness: {before.harness_version} → {after.harness_version}")
    if not why:
        why.append("no recorded input changed (the service, the machine or timing?)")
    if after.error:
        why.append(f"error: {after.error}")
    return why


def diff_runs(matrix: Matrix, baseline: ResultSet, run: ResultSet) -> Diff:
    """Classify every cell of the run against the baseline."""
    demos = {d.path: d for d in matrix.demos}
    freezes = {**baseline.freezes, **run.freezes}
    everything = {**baseline.cells, **run.cells}
    changes = []
    for key in sorted(run.cells):
        cell, before = run.cells[key], baseline.cells.get(key)
        demo, version = demos.get(cell.demo), _version(cell.release)
        in_range = demo is not None and version is not None and demo.claims(version)
        change = CellChange(TRANSITIONS[(before_group(before), Outcome(cell.outcome))], cell, before)
        if change.kind == "regression" and not in_range:
            change.kind = "unchanged"  # outside the declared range a failure is what the range says
        elif cell.outcome == Outcome.PASS and demo is not None and not in_range:
            change.kind = "range-could-widen"
            change.why = [f"passes on {cell.release}, outside the declared {demo.releases}"]
        elif cell.outcome in BROKEN and in_range and change.kind in ("new", "unchanged"):
            _explain_from_elsewhere(change, everything, freezes, matrix.settings.package)
        _add_reason(change, freezes, matrix.settings.package)
        changes.append(change)
    return Diff(changes)


def _explain_from_elsewhere(change: CellChange, cells: dict, freezes: dict, package: str) -> None:
    """A broken cell the pair alone calls new or unchanged: drift when as-released works, or, for a
    release the baseline never had, a regression when the newest earlier release of its line worked."""
    cell = change.cell
    released = _passed_as_released(cells, cell) if cell.resolution == "latest" else None
    previous = _previous_pass(cells, cell) if change.before is None else None
    if released is not None:
        change.kind, change.before, change.why = "drift", released, explain(released, cell, freezes, package)
    elif previous is not None:
        change.kind, change.before, change.why = "regression", previous, explain(previous, cell, freezes, package)


def _add_reason(change: CellChange, freezes: dict, package: str) -> None:
    if change.why:
        return
    cell, before = change.cell, change.before
    if change.kind == "flaky":
        change.why = [cell.error]
    elif change.kind == "range-could-widen":
        change.why = [f"declared known-broken here ({cell.reason}), but it passes"]
    elif change.kind in ("regression", "declared-broken") and before is not None:
        change.why = explain(before, cell, freezes, package)
    elif change.kind == "coverage-lost":
        change.why = [cell.reason]


def _passed_as_released(cells: dict, cell: CellResult) -> CellResult | None:
    other = cells.get((cell.demo, cell.release, "as-released"))
    return other if other is not None and other.outcome == "pass" else None


def _previous_pass(cells: dict, cell: CellResult) -> CellResult | None:
    """The newest earlier release of the same major line for this demo, when it passed."""
    version = _version(cell.release)
    earlier = []
    for (demo, release, resolution), other in cells.items():
        other_version = _version(release)
        if (demo == cell.demo and resolution == cell.resolution and other_version is not None
                and other_version.major == version.major and other_version < version):
            earlier.append((other_version, other))
    if not earlier:
        return None
    newest = max(earlier, key=lambda pair: pair[0])[1]
    return newest if newest.outcome == "pass" else None


def class_table_markdown() -> str:
    """The classes as the README documents them (a test keeps the two the same)."""
    rows = [f"| {c.name} | {c.meaning} | {'yes' if c.gates else 'no'} |" for c in CHANGE_CLASSES]
    return "\n".join(["| class | meaning | gates CI |", "|---|---|---|", *rows])


def summary_markdown(diff: Diff, title: str = "Matrix diff against the baseline") -> str:
    counts = diff.counts()
    lines = [f"## {title}", "", "| class | cells |", "|---|---|"]
    lines += [f"| {kind} | {counts[kind]} |" for kind in CLASSES]
    for kind in CLASSES[:-1]:
        listed = diff.of(kind)
        if not listed:
            continue
        lines += ["", f"### {kind} ({len(listed)})", ""]
        for change in listed[:50]:
            cell = change.cell
            was = f"{change.before.outcome} on {change.before.release}" if change.before else "no baseline cell"
            lines.append(f"- `{cell.demo}` on {cell.release} ({cell.resolution}): {cell.outcome}, was {was}")
            for reason in change.why:
                if reason:
                    lines.append(f"  - {markdown_text(reason)}")  # an error may hold anything a demo printed
        if len(listed) > 50:
            lines.append(f"- … and {len(listed) - 50} more")
    status = ("**fails CI**: regressions inside declared ranges" if diff.gates
              else "no regression inside declared ranges")
    lines += ["", status, ""]
    return "\n".join(lines)
