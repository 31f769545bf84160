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

from harness.results.diff import Diff
from harness.config.model import Matrix
from harness.plan.releases import Release, UnknownRelease
from harness.report.markdown import COLOURS, MEANINGS
from harness.report.pick import pick
from harness.results.records import OUTCOMES, ResultSet

TEMPLATES = Path(__file__).with_name("templates")
# symbols every font has (the Markdown report's emoji need an emoji font): the legend works without colour
SYMBOLS_HTML = {
    "pass": "✓", "flaky": "≈", "fail": "✗", "timeout": "T", "env-error": "E", "skipped": "–",
    "xfail": "x", "xpass": "!", "not-run": "·",
}


def report_data(matrix: Matrix, releases: list[Release], results: ResultSet, diff: Diff | None) -> dict:
    """Everything the page shows, as plain JSON-able data."""
    demos = {d.path: d for d in matrix.demos}
    cells = [c for c in results.cells.values() if c.demo in demos]
    columns = sorted({c.release for c in cells}, key=Version)
    by_version = {r.version: r for r in releases}
    changes = {}
    if diff is not None:
        for change in diff.changes:
            if change.kind != "unchanged":
                before = change.before
                changes[_cell_id(change.cell.demo, change.cell.release, change.cell.resolution)] = {
                    "kind": change.kind, "why": [w for w in change.why if w],
                    "before": f"{before.outcome} on {before.release}" if before else "",
                }
    used_freezes = {c.freeze_hash for c in cells if c.freeze_hash}
    rows = []
    for demo in matrix.demos:
        rows.append({
            "demo": demo.path, "story": demo.story, "variant": demo.variant, "range": str(demo.releases),
            "family": Path(demo.path).parent.name,
            "inRange": [demo.claims(Version(v)) for v in columns],
        })
    stories = sorted({d.story for d in matrix.demos})
    claimed = [r for r in releases if any(d.claims(r.parsed) for d in matrix.demos)]
    picks, verdicts = {}, []  # verdict texts repeat across releases: stored once, referred to by index
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
    counts = {o: sum(1 for c in cells if c.outcome == o) for o in OUTCOMES}
    return {
        "package": matrix.settings.package,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "newest": max((c.started for c in cells), default="")[:16].replace("T", " "),
        "columns": [{"version": v, "line": str(Version(v).major), "minor": f"{Version(v).major}.{Version(v).minor}",
                     "date": str(by_version[v].date) if v in by_version else ""} for v in columns],
        "rows": rows,
        "stories": stories,
        "resolutions": sorted({c.resolution for c in cells}) or [matrix.settings.resolution],
        "cells": {
            _cell_id(c.demo, c.release, c.resolution): {
                "outcome": c.outcome, "duration": c.duration, "python": c.python, "resolution": c.resolution,
                "error": c.error, "reason": c.reason, "freeze": c.freeze_hash,
                "output": c.output_tail if c.outcome != "pass" else c.output_tail[-1200:],
                "attempts": c.attempts, "runner": c.runner, "started": c.started[:19].replace("T", " "),
                "reused": c.reused, "log": c.log,
            }
            for c in cells
        },
        "freezes": {h: results.freezes[h] for h in sorted(used_freezes) if h in results.freezes},
        "changes": changes,
        "diffCounts": diff.counts() if diff is not None else {},
        "counts": counts,
        "outcomes": list(OUTCOMES),
        "symbols": SYMBOLS_HTML,
        "meanings": MEANINGS,
        "colours": COLOURS,
        "picks": picks,
        "verdicts": verdicts,
        "releases": [r.version for r in claimed],
    }


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
