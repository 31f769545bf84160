"""`ranges --write`: the evidence's ranges into matrix.toml, keeping every comment and the layout (tomlkit)."""

from __future__ import annotations

import difflib
from pathlib import Path

import tomlkit

from harness.evidence.edges import DemoEvidence
from harness.evidence.verdicts import claimed, edge_note, pretty
from harness.plan.releases import Release


def proposed_changes(evidence: list[DemoEvidence], releases: list[Release]) -> dict[str, tuple[str, str]]:
    """demo path → (new range, why) for every demo whose evidence range claims other releases than its declared one."""
    changes = {}
    for item in evidence:
        proposed = item.proposed(releases)
        if claimed(proposed, item.era) != item.declared:
            changes[item.demo.path] = (pretty(proposed), f"evidence: {edge_note(item.lower)}")
    return changes


def rewritten(text: str, changes: dict[str, tuple[str, str]], path: Path) -> str:
    """matrix.toml's text with each changed demo's `releases` replaced; a stale comment on it becomes the proof."""
    document = tomlkit.parse(text)
    found = set()
    for table in document.get("demos", []):
        change = changes.get(str(table.get("path", "")))
        if change is None:
            continue
        value = tomlkit.string(change[0])
        value.comment(change[1][:90].replace("\n", " "))
        value.trivia.comment_ws = "  "
        table["releases"] = value
        found.add(str(table["path"]))
    missing = set(changes) - found
    if missing:
        raise ValueError(f"{path}: no [[demos]] entry with path {', '.join(sorted(missing))}")
    return tomlkit.dumps(document)


def unified(before: str, after: str, path: Path) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{path.name}", f"b/{path.name}"))
