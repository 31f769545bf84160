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
from harness.evidence.verdicts import edge_texts
from harness.plan.releases import Release, usable
from harness.report.coverage import coverage, coverage_headers
from harness.report.order import demos_in_report_order, reaches_newest, stories_in_report_order
from harness.report.pick import MEASURED_FAILS, RANK
from harness.results.diff import CHANGE_CLASSES, GATING_CLASSES, Diff
from harness.results.outcomes import WORKING, Outcome
from harness.results.records import CellResult, ResultSet
from harness.results.store import BASELINE_TAIL

TEMPLATES = Path(__file__).with_name("templates")


def report_data(matrix: Matrix, releases: list[Release], results: ResultSet, diff: Diff | None,
                edges: dict[str, str] | None = None, coverage_rows: list | None = None) -> dict:
    """Everything the page shows, as plain JSON-able data (`edges`, `coverage_rows`: computed here when not given)."""
    demos = {d.path: d for d in matrix.demos}
    cells = [c for c in results.cells.values() if c.demo in demos]
    columns = sorted({c.release for c in cells}, key=Version)
    by_version = {r.version: r for r in releases}
    used_freezes = {c.freeze_hash for c in cells if c.freeze_hash}
    known = usable(releases, matrix.settings.prereleases)
    edges = edges if edges is not None else edge_texts(matrix, releases, results)
    coverage_rows = coverage_rows if coverage_rows is not None else coverage(matrix, releases, results)
    rows = [{"demo": d.path, "story": d.story, "variant": d.variant, "range": str(d.releases),
             "edges": edges.get(d.path, ""), "family": Path(d.path).parent.name,
             "inRange": [d.claims(Version(v)) for v in columns]}
            for d in demos_in_report_order(matrix)]
    stories = stories_in_report_order(matrix)
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
        "pick": pick_data(matrix, known, demos_in_report_order(matrix)),
        "coverage": {"headers": coverage_headers(), "rows": [c.row() for c in coverage_rows]},
    }


def cell_data(cell: CellResult) -> dict:
    """What a cell's details pane shows: what the committed results.json keeps (a pass's output is in its log)."""
    return {
        "outcome": cell.outcome, "duration": cell.duration, "python": cell.python, "resolution": cell.resolution,
        "error": cell.error, "reason": cell.reason, "freeze": cell.freeze_hash,
        "output": "" if cell.outcome == Outcome.PASS else cell.output_tail[-BASELINE_TAIL:],  # as results.json keeps it
        "attempts": cell.attempts, "runner": cell.runner, "started": cell.started[:19].replace("T", " "),
        "reused": cell.reused, "log": cell.log, "backend": cell.backend,
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


def pick_data(matrix: Matrix, known: list[Release], demos) -> dict:
    """What the page's customer box needs to answer like `pick` (report.pick) from the cells it already holds:
    the usable releases in order, each demo's claimed releases as index intervals, the pins of `latest`."""
    claims = []
    for demo in demos:
        intervals, start = [], None
        for index, release in enumerate(known + [None]):
            inside = release is not None and demo.claims(release.parsed)
            if inside and start is None:
                start = index
            elif not inside and start is not None:
                intervals.append([start, index - 1])
                start = None
        claims.append(intervals)
    pin_sets: list[str] = []
    pin_of = []
    for release in known:
        pins = matrix.today_text(release.parsed)
        if pins not in pin_sets:
            pin_sets.append(pins)
        pin_of.append(pin_sets.index(pins))
    return {"known": [r.version for r in known], "claims": claims, "open": [reaches_newest(d.releases) for d in demos],
            "pinSets": pin_sets, "pinOf": pin_of, "working": sorted(WORKING), "fails": sorted(MEASURED_FAILS),
            "ranks": {str(kind): rank for kind, rank in RANK.items()}, "asReleased": matrix.settings.resolution}


def _cell_id(demo: str, release: str, resolution: str) -> str:
    return f"{demo}|{release}|{resolution}"


def render_html(data: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(data=data, title=f"{data['package']} compatibility")


def write_html(matrix: Matrix, releases: list[Release], results: ResultSet, diff: Diff | None,
               edges: dict[str, str] | None = None, coverage_rows: list | None = None) -> Path:
    path = matrix.resolve(matrix.settings.reports_dir) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = report_data(matrix, releases, results, diff, edges, coverage_rows)
    path.write_text(render_html(data), encoding="utf-8")
    return path
