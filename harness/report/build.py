"""`report`: recorded cells → every report, the README's picture block, and a summary on stdout.

The run is this machine's new records, or CI shards' state folders merged;
it is diffed against the baseline, and a regression makes the exit code 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from packaging.version import Version
from tabulate import tabulate

from harness.config.model import Matrix
from harness.evidence.verdicts import edge_texts
from harness.plan.memo import checked_matrix
from harness.plan.releases import Release
from harness.plan.sessions import load_plan
from harness.report.coverage import coverage
from harness.report.heatmap import draw_heatmap, profiles_covered
from harness.report.junit import write_junit
from harness.report.unchanged import inputs_digest, remember, unchanged
from harness.results.diff import Diff, diff_runs, summary_markdown
from harness.results.outcomes import RECORDED
from harness.results.records import ResultSet
from harness.results.store import ResultStore, committed_baseline, load_run_records, store_for

PICTURE_START, PICTURE_END = "<!-- picture:start -->", "<!-- picture:end -->"


def build_reports(path: Path, baseline: Path | None = None, merge: list[Path] | None = None) -> int:
    """Write every report from the recorded cells; 1 when the run regressed against the baseline."""
    matrix, releases = checked_matrix(path)
    store = store_for(matrix)
    before = committed_baseline(matrix, baseline)
    run, results = load_records(matrix, store, merge)
    diff = diff_runs(matrix, before, run)
    summary = summary_markdown(diff)
    inputs = inputs_digest(matrix, releases, results, run, summary)
    if unchanged(matrix, inputs):
        written, page = [], matrix.resolve(matrix.settings.reports_dir) / "index.html"
    else:
        written, page = write_reports(matrix, releases, store, results, run, diff, summary)
        remember(matrix, inputs)
        load_plan(path)  # the new results.json is a file the plan is made from: keep the plan the next run asks for
    print_line_summary(results)
    counts = diff.counts()
    print(tabulate([(kind, counts[kind]) for kind in counts], headers=["diff against the baseline", "cells"]))
    for change in diff.of("regression")[:20]:
        print(f"REGRESSION {change.cell.demo} on {change.cell.release}: " + "; ".join(w for w in change.why if w))
    reused = sum(c.reused for c in run.cells.values())
    print(f"{len(results.cells)} cells recorded; new since the committed results: {len(run.cells) - reused} ran, "
          f"{reused} repeated (inputs unchanged, not run again); "
          + ("wrote " + ", ".join(_shown(p, matrix.root) for p in written) if written else
             "the reports on disk already show exactly this (nothing written)"))
    print(f"HTML report: {page}")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    return 1 if diff.gates else 0


def load_records(matrix: Matrix, store: ResultStore, merge: list[Path] | None) -> tuple[ResultSet, ResultSet]:
    """The run (this machine's new records, or the merged folders') and every recorded cell with it."""
    if not merge:
        store.compact()
        return store.load_run_and_all()
    run = load_run_records(merge, matrix.version)
    results = store.load()
    for cell in run.cells.values():
        results.add(cell)
    results.freezes.update(run.freezes)
    return run, results


def write_reports(matrix: Matrix, releases: list[Release], store: ResultStore, results: ResultSet, run: ResultSet,
                  diff: Diff, summary: str) -> tuple[list[Path], Path]:
    """Every file the report owns, and which of them is the HTML page."""
    from harness.report.html import write_html  # jinja2 and pandas take 0.3 s to import: a no-change report
    from harness.report.markdown import write_report  # writes nothing and needs neither

    reports = matrix.resolve(matrix.settings.reports_dir)
    run_cells = list(run.cells.values())
    recorded = {c.release for c in results.cells.values() if c.resolution == matrix.settings.resolution}
    profiles = profiles_covered(matrix, releases, recorded)  # for the picture and its caption
    images = draw_heatmap(matrix, releases, results, matrix.images_dir, profiles)
    edges, coverage_rows = edge_texts(matrix, releases, results), coverage(matrix, releases, results)  # both show them
    page = write_html(matrix, releases, results, diff, edges, coverage_rows)
    written = [
        store.write_results_json(results), write_report(matrix, results, releases, edges, coverage_rows),
        write_junit(run_cells or list(results.cells.values()), reports / "junit.xml", matrix.settings.package),
        write_text(reports / "diff.md", summary), page, *images,
    ]
    readme = update_picture_block(matrix, results, profiles)
    if readme is not None:
        written.append(readme)
    return written, page


def print_line_summary(results: ResultSet) -> None:
    """Cells per outcome for each major line: a rich table on a terminal, plain columns in CI logs."""
    shown = [str(o) for o in RECORDED]
    counts: dict[str, dict[str, int]] = {}
    for cell in results.cells.values():
        line = f"{Version(cell.release).major}.x ({cell.resolution})"
        counts.setdefault(line, dict.fromkeys(shown, 0))
        if cell.outcome in shown:
            counts[line][cell.outcome] += 1
    rows = [[line, *(counts[line][o] for o in shown)] for line in sorted(counts)]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="cells per line")
        for header in ("line", *shown):
            table.add_column(header, justify="left" if header == "line" else "right")
        for row in rows:
            table.add_row(*(str(v) for v in row))
        Console().print(table)
    else:
        print(tabulate(rows, headers=["line", *shown]))


def update_picture_block(matrix: Matrix, results: ResultSet, profiles: list[str]) -> Path | None:
    """The README's picture and its caption (date, profiles), between markers the report owns."""
    readme = matrix.root / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    if PICTURE_START not in text or PICTURE_END not in text:
        return None
    cells = [c for c in results.cells.values() if c.resolution == matrix.settings.resolution]
    profiles = profiles or ["explicit releases"]
    newest = max((c.started for c in cells), default="")[:10]
    block = "\n".join([
        PICTURE_START,
        "![Compatibility heatmap: demos as rows, releases as columns](images/compatibility.png)",
        "",
        f"_{len(cells)} cells ({matrix.settings.resolution}) from profiles {', '.join(profiles)}, run up to {newest}; "
        "drawn by `nox -s report`. Details and filters: [`reports/index.html`](reports/index.html)._",
        PICTURE_END,
    ])
    before, rest = text.split(PICTURE_START, 1)
    readme.write_text(before + block + rest.split(PICTURE_END, 1)[1], encoding="utf-8")
    return readme


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
