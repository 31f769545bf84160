"""Cell records: appended as JSON lines the moment a cell ends, merged for the report.

The committed `reports/results.json` holds the latest record of every cell
plus the freezes they point at; new runs append to `<state>/results.jsonl`.
Merging keeps, per cell, the record that started last, so nothing already
recorded is lost and an interrupted run keeps every cell that finished; a
record that measured nothing (interrupted, infra-error) never hides one that
did, so the report and the cache still see the cell's last real result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

from harness.results.outcomes import UNMEASURED


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
    def from_dict(cls, data: dict) -> CellResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ResultSet:
    cells: dict[tuple[str, str, str], CellResult] = field(default_factory=dict)
    freezes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, cell: CellResult) -> None:
        """Keep the record that started last, a measured one before any that measured nothing."""
        current = self.cells.get(cell.key)
        if current is None or _rank(cell) >= _rank(current):
            self.cells[cell.key] = cell

    def sorted_cells(self) -> list[CellResult]:
        return [self.cells[k] for k in sorted(self.cells)]


def _rank(cell: CellResult) -> tuple[bool, str]:
    return cell.outcome not in UNMEASURED, cell.started


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


