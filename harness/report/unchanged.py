"""Skip rewriting the reports when nothing they show has changed since this machine last wrote them.

A re-run with nothing changed records every cell again (reused), which changes no
report, yet rendering them (the range evidence, the page, the Markdown) cost most of
such a run. The digest of what the reports are made from, and the digest of the files
as they were written, are kept in the state folder; when both still hold, nothing is
written. Editing, deleting or checking out an older version of any report file makes
the next report write them all again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from harness import __version__
from harness.config.model import Matrix
from harness.plan.releases import Release
from harness.results.records import CellResult, ResultSet

STAMP = "report-stamp.json"  # in the state folder


def inputs_digest(matrix: Matrix, releases: list[Release], results: ResultSet, run: ResultSet, summary: str) -> str:
    digest = hashlib.sha256()
    for part in (__version__, matrix.version, [r.version for r in releases], summary, sorted(results.freezes)):
        digest.update(json.dumps(part).encode() + b"\0")
    names = [f.name for f in dataclasses.fields(CellResult)]  # a cell's fields are flat: no deep copy needed
    for cells in (results.sorted_cells(), sorted(run.cells.values(), key=lambda c: c.key)):
        digest.update(json.dumps([[getattr(c, name) for name in names] for c in cells]).encode() + b"\0")
    return digest.hexdigest()


def report_files(matrix: Matrix) -> list[Path]:
    """Every file a report writes: reports/ (but the snapshot), the picture, the README, the family READMEs."""
    reports = matrix.resolve(matrix.settings.reports_dir)
    releases_file = matrix.resolve(matrix.settings.releases_file)
    found = [p for p in reports.glob("*") if p.is_file() and p != releases_file]
    found += [p for p in matrix.images_dir.glob("*compatibility*") if p.is_file()]
    found += [matrix.root / "README.md"] + sorted(matrix.resolve(matrix.settings.demos_dir).rglob("README.md"))
    return sorted(set(found))


def outputs_digest(matrix: Matrix) -> str:
    digest = hashlib.sha256()
    for path in report_files(matrix):
        digest.update(str(path).encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-") + b"\0")
    return digest.hexdigest()


def _stamp(matrix: Matrix) -> Path:
    return matrix.resolve(matrix.settings.state_dir) / STAMP


def unchanged(matrix: Matrix, inputs: str) -> bool:
    """The reports on disk are those this machine wrote from these very inputs."""
    try:
        kept = json.loads(_stamp(matrix).read_text())
    except (OSError, ValueError):
        return False
    return kept.get("inputs") == inputs and kept.get("outputs") == outputs_digest(matrix)


def remember(matrix: Matrix, inputs: str) -> None:
    stamp = _stamp(matrix)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"inputs": inputs, "outputs": outputs_digest(matrix)}))
