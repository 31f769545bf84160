"""Where records live: appended to `<state>/results.jsonl` as cells end, the committed baseline in reports/."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness.config.model import Matrix
from harness.results.outcomes import Outcome
from harness.results.records import CellResult, ResultSet


class StoreError(Exception):
    """A records file that cannot be read or written; the message names it and says what to do."""


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
            try:
                self.freezes_dir.mkdir(parents=True, exist_ok=True)
                _replace_text(path, "\n".join(freeze) + "\n")
            except OSError as exc:
                raise StoreError(write_problem(path, exc, "the env's package list")) from None

    def append(self, cell: CellResult) -> None:
        """One whole line per cell, or none.

        Under a lock, since parallel sessions append to the same file; a line a killed
        writer cut is ended first, so it cannot swallow this record; the line is
        written in full and synced, and a failed write is cut back off.
        """
        line = (json.dumps(asdict(cell), sort_keys=True) + "\n").encode("utf-8")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.records, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(write_problem(self.records, exc, f"the record of {cell.demo} on {cell.release}")) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # the cut line stays unreadable on its own, and is reported as such
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError:
                _cut_back(fd, size)
                raise
        except OSError as exc:
            raise StoreError(write_problem(self.records, exc, f"the record of {cell.demo} on {cell.release}")) from None
        finally:
            os.close(fd)

    def load_baseline(self) -> ResultSet:
        """The committed results alone."""
        return load_results_json(self.baseline)

    def load(self, committed: bool = True) -> ResultSet:
        """The committed results (unless told not to) plus every record appended since."""
        results = self.load_baseline() if committed else ResultSet()
        if self.records.is_file():
            self._read_records(results)
        if self.freezes_dir.is_dir():
            for path in self.freezes_dir.glob("*.txt"):
                results.freezes.setdefault(path.stem, path.read_text(encoding="utf-8").splitlines())
        return results

    def _read_records(self, results: ResultSet) -> None:
        """Every whole record; a line that is not one (cut by a killed writer or a full disk) is named and skipped."""
        with self.records.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)  # no half-appended line from a session still running
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    results.add(CellResult.from_dict(json.loads(raw.decode("utf-8"))))
                except ValueError as exc:
                    print(f"warning: {self.records}:{number}: unreadable record skipped ({_short(exc)})",
                          file=sys.stderr)

    def write_results_json(self, results: ResultSet) -> Path:
        """The committed baseline: every cell's latest record, compact (see baseline_record)."""
        cells = results.sorted_cells()
        used = {c.freeze_hash for c in cells if c.freeze_hash}
        payload = {
            "cells": [baseline_record(c) for c in cells],
            "freezes": {h: results.freezes[h] for h in sorted(used) if h in results.freezes},
        }
        try:
            self.reports_dir.mkdir(parents=True, exist_ok=True)
            _replace_text(self.baseline, json.dumps(payload, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise StoreError(write_problem(self.baseline, exc, "the merged results")) from None
        return self.baseline


BASELINE_TAIL = 1500  # characters of output a committed non-passing cell keeps (its log has it all)


def baseline_record(cell: CellResult) -> dict:
    """A record as the committed baseline keeps it: a pass without its output tail, any other outcome with
    the tail's last BASELINE_TAIL characters. Reports, the diff and `pick` need no more; the full output
    stays in the state folder's records and logs (and in CI's artifacts)."""
    record = asdict(cell)
    if cell.outcome == Outcome.PASS:
        record["output_tail"] = ""
    elif len(cell.output_tail) > BASELINE_TAIL:
        record["output_tail"] = "…" + cell.output_tail[-BASELINE_TAIL:]
    return record


def store_for(matrix: Matrix) -> ResultStore:
    return ResultStore(matrix.resolve(matrix.settings.state_dir), matrix.resolve(matrix.settings.reports_dir))


def load_results_json(path: Path, shown_as: str = "", fix: str = "") -> ResultSet:
    """A results.json; one that is not (bad JSON, a cell that is not a record) is an error naming it.

    `shown_as` names the file in that error when `path` is a copy, `fix` says what to do.
    """
    results = ResultSet()
    if not path.is_file():
        return results
    name = shown_as or str(path)
    fix = fix or f"restore it from git (git checkout HEAD -- {path}) or delete it to start without committed results"
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
            raise ValueError('expected a JSON object with a "cells" list')
        freezes = data.get("freezes", {})
        if not isinstance(freezes, dict) or not all(isinstance(v, list) for v in freezes.values()):
            raise ValueError('"freezes": expected an object of package lists')
        results.freezes.update(freezes)
        for index, item in enumerate(data.get("cells", [])):
            try:
                results.add(CellResult.from_dict(item))
            except ValueError as exc:
                raise ValueError(f"cells[{index}]: {exc}") from None
    except ValueError as exc:
        raise StoreError(f"{name}: not a results file ({_short(exc)}); {fix}") from None
    return results


def write_problem(path: Path, exc: OSError, what: str) -> str:
    """Why `what` could not be written to `path`, and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{path}: cannot write {what}: no space left on the device holding {path.parent}; free some "
                "space and rerun (the records written before are kept, and their cells are not run again)")
    return f"{path}: cannot write {what}: {exc.strerror or exc}; check that {path.parent} is a writable folder"


def _write_all(fd: int, data: bytes) -> None:
    """Every byte, or an OSError: a short write is continued, a write that makes no progress is an error."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _cut_back(fd: int, size: int) -> None:
    """Remove what a failed append wrote, so the file ends with whole records (best effort: the disk may be gone)."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _replace_text(path: Path, text: str) -> None:
    """Write a copy, then put it in place: a failed write leaves the old file whole."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _short(exc: Exception) -> str:
    return str(exc)[:200]


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
            return load_results_json(Path(copy.name), f"{committed} (as committed at git HEAD)",
                                     "commit a readable copy (an earlier commit has one: git log -- results.json "
                                     f"in {committed.parent}), or pass --baseline FILE")
    return load_results_json(committed)
