"""A run compared with the baseline (the committed reports/results.json): what changed, and why.

Each cell of the run falls in one class:

- regression: pass → fail/timeout/env-error inside the demo's declared range; also a
  new release failing where the newest earlier release of its line passed. Gates CI.
- fixed: fail/timeout/env-error → pass.
- new: a release or demo the baseline has no cell for (and no regression).
- range-could-widen: an xpass (the xfail entry can go), or a pass outside the declared range.
- flaky: failed, then passed on an immediate retry. Does not gate.
- drift: fails with today's dependencies (latest resolution) where the release's
  as-released env passed: the dependencies that moved are listed.
- unchanged: everything else (counted, not listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from harness.config.model import Matrix
from harness.results.records import CellResult, ResultSet
from harness.results.outcomes import BROKEN

CLASSES = ("regression", "drift", "flaky", "fixed", "new", "range-could-widen", "unchanged")
GATING_CLASSES = ("regression",)


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
    freezes = dict(baseline.freezes)
    freezes.update(run.freezes)
    everything = dict(baseline.cells)
    everything.update(run.cells)
    changes = []
    for key in sorted(run.cells):
        cell = run.cells[key]
        before = baseline.cells.get(key)
        demo = demos.get(cell.demo)
        version = _version(cell.release)
        in_range = demo is not None and version is not None and demo.claims(version)
        change = CellChange("unchanged", cell, before)
        if cell.outcome == "flaky":
            change.kind, change.why = "flaky", [cell.error]
        elif cell.outcome == "xpass":
            change.kind, change.why = "range-could-widen", [f"declared known-broken here ({cell.reason}), but it passes"]
        elif cell.outcome == "pass" and demo is not None and not in_range:
            change.kind, change.why = "range-could-widen", [f"passes on {cell.release}, outside the declared {demo.releases}"]
        elif before is not None and before.outcome == "pass" and cell.outcome in BROKEN and in_range:
            change.kind, change.why = "regression", explain(before, cell, freezes, matrix.settings.package)
        elif before is not None and before.outcome in BROKEN and cell.outcome == "pass":
            change.kind = "fixed"
        elif cell.outcome in BROKEN and in_range and cell.resolution == "latest" and _passed_as_released(everything, cell):
            released = _passed_as_released(everything, cell)
            change.kind, change.before = "drift", released
            change.why = explain(released, cell, freezes, matrix.settings.package)
        elif before is None and cell.outcome in BROKEN and in_range and _previous_pass(everything, cell):
            previous = _previous_pass(everything, cell)
            change.kind, change.before = "regression", previous
            change.why = explain(previous, cell, freezes, matrix.settings.package)
        elif before is None:
            change.kind = "new"
        changes.append(change)
    return Diff(changes)


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
                    lines.append(f"  - {reason}")
        if len(listed) > 50:
            lines.append(f"- … and {len(listed) - 50} more")
    status = "**fails CI**: regressions inside declared ranges" if diff.gates else "no regression inside declared ranges"
    lines += ["", status, ""]
    return "\n".join(lines)
