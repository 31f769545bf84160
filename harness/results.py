"""Cell records: appended as JSON lines the moment a cell ends, merged for the report.

The committed `reports/results.json` holds the latest record of every cell
plus the freezes they point at; new runs append to `<state>/results.jsonl`.
Merging keeps, per cell, the record that started last, so nothing already
recorded is lost and an interrupted run keeps every cell that finished.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

OUTCOMES = ("pass", "flaky", "fail", "timeout", "env-error", "skipped", "xfail", "xpass", "not-run")


@dataclass
class CellResult:
    demo: str
    story: str
    variant: str
    release: str
    resolution: str
    outcome: str
    python: str = ""
    duration: float = 0.0
    exit_code: int | None = None
    error: str = ""
    reason: str = ""  # why skipped / xfail
    output_tail: str = ""
    freeze_hash: str = ""
    demo_hash: str = ""
    started: str = ""
    harness_version: str = ""
    log: str = ""
    server_log: str = ""  # the env's API server log, for a cell that failed while it ran
    cache_key: str = ""  # hash of every input of the cell; an unchanged key is not run again
    reused: bool = False  # this record repeats an earlier result whose inputs were the same
    runner: str = ""  # "fork" (a child of the env's warm runner) or "process" (a fresh interpreter)
    attempts: int = 1  # more than 1: it failed and was retried ("flaky" when a retry passed)
    matrix_version: str = ""  # hash of the matrix.toml the run used; merging refuses mixed versions

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.demo, self.release, self.resolution)

    @classmethod
    def from_dict(cls, data: dict) -> "CellResult":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ResultSet:
    cells: dict[tuple[str, str, str], CellResult] = field(default_factory=dict)
    freezes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, cell: CellResult) -> None:
        current = self.cells.get(cell.key)
        if current is None or cell.started >= current.started:
            self.cells[cell.key] = cell

    def sorted_cells(self) -> list[CellResult]:
        return [self.cells[k] for k in sorted(self.cells)]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


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
