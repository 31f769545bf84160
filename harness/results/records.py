"""Cell records: appended as JSON lines the moment a cell ends, merged for the report.

The committed `reports/results.json` holds the latest record of every cell
plus the freezes they point at; new runs append to `<state>/results.jsonl`.
Merging keeps, per cell, the record that started last, so nothing already
recorded is lost and an interrupted run keeps every cell that finished; a
record that measured nothing (interrupted, infra-error) never hides one that
did, so the report and the cache still see the cell's last real result.

A record's text from the demo (error, reason, output tail) is cleaned of control
characters whenever a record is made, new or read back (harness.results.text), so
every report writer gets text its format can hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import MISSING, dataclass, field, fields

from harness.results.outcomes import UNMEASURED, Outcome
from harness.results.text import clean_text


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
    backend: str = ""  # the env's API server's database: "postgres", "sqlite", "" without a server (or before 0.7)
    cpu: float | None = None  # CPU seconds the kernel counted for the demo's process, the children it waited for and
    # the commands it called through the warm runner; None when not measured (it timed out, an older record)

    def __post_init__(self):
        self.error, self.reason, self.output_tail = map(clean_text, (self.error, self.reason, self.output_tail))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.demo, self.release, self.resolution)

    @classmethod
    def from_dict(cls, data: dict) -> CellResult:
        """A record read back; raises ValueError naming the key when it is not one (a cut line, a hand edit)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        known = _FIELDS
        values = {k: v for k, v in data.items() if k in known}
        missing = [name for name, f in known.items() if f.default is MISSING and name not in values]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        for name, value in values.items():
            if not isinstance(value, _TYPES[known[name].type]):
                raise ValueError(f"{name}: expected {known[name].type}, got {value!r:.60}")
        if values["outcome"] not in _OUTCOMES:
            raise ValueError(f"outcome: {values['outcome']!r} is not one of {', '.join(_OUTCOMES)}")
        return cls(**values)


_FIELDS = {f.name: f for f in fields(CellResult)}  # read once: thousands of records are read back per report
_TYPES = {"str": str, "float": (int, float), "int": int, "int | None": (int, type(None)),
          "float | None": (int, float, type(None)), "bool": bool}
_OUTCOMES = [o.value for o in Outcome]


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


