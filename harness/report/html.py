"""Recorded cells → reports/index.html: one self-contained page (heatmap, details, filters, customer box).

The page carries its data as JSON inside the HTML and draws itself with a
small inline script; nothing is fetched at view time. Every string from a
record (demo output, errors) reaches the page only through JSON and the DOM's
textContent, so a demo that prints `<script>` shows that text and runs nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from packaging.version import Version

from harness.config.model import Matrix
from harness.evidence.edges import catalog_evidence
from harness.evidence.verdicts import evidence_by_demo
from harness.plan.releases import Release, UnknownRelease, usable
from harness.report.order import demos_in_report_order, stories_in_report_order
from harness.report.pick import pick
from harness.results.diff import CHANGE_CLASSES, GATING_CLASSES, Diff
from harness.results.outcomes import Outcome
from harness.results.records import CellResult, ResultSet

TEMPLATES = Path(__file__).with_name("templates")


def report_data(matrix: Matrix, releases: list[Release], results: ResultSet, diff: Diff | None) -> dict:
    """Everything the page shows, as plain JSON-able data."""
    demos = {d.path: d for d in matrix.demos}
    cells = [c for c in results.cells.values() if c.demo in demos]
    columns = sorted({c.release for c in cells}, key=Version)
    by_version = {r.version: r for r in releases}
    used_freezes = {c.freeze_hash for c in cells if c.freeze_hash}
    edges = evidence_by_demo(catalog_evidence(matrix, usable(releases, matrix.settings.prereleases), results))
    rows = [{"demo": d.path, "story": d.story, "variant": d.variant, "range": str(d.releases),
             "edges": edges.get(d.path, ""), "family": Path(d.path).parent.name,
             "inRange": [d.claims(Version(v)) for v in columns]}
            for d in demos_in_report_order(matrix)]
    stories = stories_in_report_order(matrix)
    claimed = [r for r in releases if any(d.claims(r.parsed) for d in matrix.demos)]
    picks, verdicts = customer_picks(matrix, releases, results, claimed, stories)
    return {
        "package": matrix.settings.package,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "newest": max((c.started for c in cells), default="")[:16].replace("T", " "),
        "columns": [{"version": v, "line": str(Version(v).major), "minor": f"{Version(v).major}.{Version(v).minor}",
                     "date": str(by_version[v].date) if v in by_version else ""} for v in columns],
        "rows": rows,
        "stories": stories,
        "resolutions": sorted({c.resolution for c in cells}) or [matrix.settings.resolution],
        "cells": {_cell_id(c.demo, c.release, c.resolution): cell_data(c) for c in cells},
        "freezes": {h: results.freezes[h] for h in sorted(used_freezes) if h in results.freezes},
        "changes": changes_data(diff),
        "diffCounts": diff.counts() if diff is not None else {},
        "diffClasses": [c.name for c in CHANGE_CLASSES if c.name != "unchanged"],
        "gatingClasses": list(GATING_CLASSES),
        "counts": {o.value: sum(1 for c in cells if c.outcome == o) for o in Outcome},
        "outcomes": [o.value for o in Outcome],
        "symbols": {o.value: o.plain for o in Outcome},  # glyphs every font has: the legend works without colour
        "meanings": {o.value: o.meaning for o in Outcome},
        "colours": {o.value: o.colour for o in Outcome},
        "picks": picks,
        "verdicts": verdicts,
        "releases": [r.version for r in claimed],
    }


def cell_data(cell: CellResult) -> dict:
    """What a cell's details pane shows (a passing cell's output is cut shorter: it is rarely read)."""
    return {
        "outcome": cell.outcome, "duration": cell.duration, "python": cell.python, "resolution": cell.resolution,
        "error": cell.error, "reason": cell.reason, "freeze": cell.freeze_hash,
        "output": cell.output_tail if cell.outcome != Outcome.PASS else cell.output_tail[-1200:],
        "attempts": cell.attempts, "runner": cell.runner, "started": cell.started[:19].replace("T", " "),
        "reused": cell.reused, "log": cell.log,
    }


def changes_data(diff: Diff | None) -> dict:
    """The cells the diff against the baseline changed, by cell id."""
    changes = {}
    for change in diff.changes if diff is not None else []:
        if change.kind != "unchanged":
            before = change.before
            changes[_cell_id(change.cell.demo, change.cell.release, change.cell.resolution)] = {
                "kind": change.kind, "why": [w for w in change.why if w],
                "before": f"{before.outcome} on {before.release}" if before else "",
            }
    return changes


def customer_picks(matrix: Matrix, releases: list[Release], results: ResultSet, claimed: list[Release],
                   stories: list[str]) -> tuple[dict, list[str]]:
    """`pick` for every claimed release; verdict texts repeat across releases, so each is stored once."""
    picks, verdicts = {}, []
    for release in claimed:
        try:
            rows_for = pick(matrix, releases, results, release.version)
        except UnknownRelease:
            continue
        entries = []
        for p in rows_for:
            if p.verdict not in verdicts:
                verdicts.append(p.verdict)
            entries.append([stories.index(p.story), p.variant, verdicts.index(p.verdict)])
        picks[release.version] = entries
    return picks, verdicts


def _cell_id(demo: str, release: str, resolution: str) -> str:
    return f"{demo}|{release}|{resolution}"


def render_html(data: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(data=data, title=f"{data['package']} compatibility")


def write_html(matrix: Matrix, releases: list[Release], results: ResultSet, diff: Diff | None) -> Path:
    path = matrix.resolve(matrix.settings.reports_dir) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report_data(matrix, releases, results, diff)), encoding="utf-8")
    return path
