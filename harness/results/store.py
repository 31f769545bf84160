"""Where records live: appended to `<state>/results.jsonl` as cells end, the committed baseline in reports/."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness.config.model import Matrix
from harness.results.records import CellResult, ResultSet


class ResultStore:
    """Where one matrix's records live: the state folder (new) and reports/ (committed)."""

    def __init__(self, state_dir: Path, reports_dir: Path):
        self.state_dir = state_dir
        self.reports_dir = reports_dir
        self.records = state_dir / "results.jsonl"
        self.freezes_dir = state_dir / "freezes"
        self.baseline = reports_dir / "results.json"

    def save_freeze(self, freeze_hash: str, freeze: list[str]) -> None:
        path = self.freezes_dir / f"{freeze_hash}.txt"
        if not path.exists():
            self.freezes_dir.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(freeze) + "\n", encoding="utf-8")

    def append(self, cell: CellResult) -> None:
        """One line per cell, written and flushed at once (O_APPEND keeps parallel writers whole)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(cell), sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.records, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def load_baseline(self) -> ResultSet:
        """The committed results alone."""
        return load_results_json(self.baseline)

    def load(self, committed: bool = True) -> ResultSet:
        """The committed results (unless told not to) plus every record appended since."""
        results = self.load_baseline() if committed else ResultSet()
        if self.records.is_file():
            with self.records.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        results.add(CellResult.from_dict(json.loads(line)))
                    except (ValueError, TypeError):
                        # a line cut by an interrupted write: the others still count
                        print(f"warning: {self.records}:{number}: unreadable record skipped")
        if self.freezes_dir.is_dir():
            for path in self.freezes_dir.glob("*.txt"):
                results.freezes.setdefault(path.stem, path.read_text(encoding="utf-8").splitlines())
        return results

    def write_results_json(self, results: ResultSet) -> Path:
        cells = results.sorted_cells()
        used = {c.freeze_hash for c in cells if c.freeze_hash}
        payload = {
            "cells": [asdict(c) for c in cells],
            "freezes": {h: results.freezes[h] for h in sorted(used) if h in results.freezes},
        }
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.baseline.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.baseline)
        return self.baseline


def store_for(matrix: Matrix) -> ResultStore:
    return ResultStore(matrix.resolve(matrix.settings.state_dir), matrix.resolve(matrix.settings.reports_dir))


def load_results_json(path: Path) -> ResultSet:
    results = ResultSet()
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        results.freezes.update(data.get("freezes", {}))
        for item in data.get("cells", []):
            results.add(CellResult.from_dict(item))
    return results


class MergeError(Exception):
    """Records that cannot be merged into one report; the message says which and what to do."""


def load_run_records(folders: list[Path], matrix_version: str) -> ResultSet:
    """The records of several runs (e.g. CI shards) as one run, refusing another matrix version's records.

    Each folder is a run's state folder (holding results.jsonl and freezes/), or
    a folder with such a state folder (`.matrix`) inside. The result does not
    depend on the order of the folders: per cell the record that started last wins,
    ties broken by the record's content.
    """
    merged = ResultSet()
    problems = []
    for folder in folders:
        state = folder if (folder / "results.jsonl").is_file() else folder / ".matrix"
        records = state / "results.jsonl"
        if not records.is_file():
            problems.append(f"{folder}: no results.jsonl (expected a run's state folder, e.g. .matrix/)")
            continue
        store = ResultStore(state, state / "no-committed-results")
        for cell in sorted(store.load(committed=False).cells.values(), key=lambda c: c.key):
            if cell.matrix_version != matrix_version:
                problems.append(
                    f"{records}: {cell.demo} on {cell.release} was recorded with matrix version "
                    f"{cell.matrix_version or '(none)'}, this matrix.toml is {matrix_version}: merge records "
                    "made with the same matrix.toml (rerun that shard, or check out the commit it ran)")
                break
            current = merged.cells.get(cell.key)
            if current is None or (cell.started, _content(cell)) > (current.started, _content(current)):
                merged.cells[cell.key] = cell
        if (state / "freezes").is_dir():
            for path in sorted((state / "freezes").glob("*.txt")):
                merged.freezes.setdefault(path.stem, path.read_text(encoding="utf-8").splitlines())
    if problems:
        raise MergeError("cannot merge these runs:\n  " + "\n  ".join(problems))
    return merged


def _content(cell: CellResult) -> str:
    return json.dumps(asdict(cell), sort_keys=True)


def committed_baseline(matrix: Matrix, explicit: Path | None) -> ResultSet:
    """The committed results: git HEAD's reports/results.json when the matrix is in a git checkout."""
    if explicit is not None:
        if not explicit.is_file():
            raise SystemExit(f"error: --baseline {explicit}: no such file (expected a results.json)")
        return load_results_json(explicit)
    committed = matrix.resolve(matrix.settings.reports_dir) / "results.json"
    try:
        shown = subprocess.run(["git", "-C", str(committed.parent), "show", f"HEAD:./{committed.name}"],
                               capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        shown = None
    if shown is not None and shown.returncode == 0:
        with tempfile.NamedTemporaryFile(suffix=".json") as copy:
            copy.write(shown.stdout)
            copy.flush()
            return load_results_json(Path(copy.name))
    return load_results_json(committed)
