"""Where records live: appended to `<state>/results.jsonl` as cells end, the committed baseline in reports/."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from harness.config.model import Matrix
from harness.results.outcomes import Outcome
from harness.results.records import CellResult, ResultSet

COMPACT_SLACK = 500  # superseded lines the records may hold before `compact` rewrites them


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
            fd = self._open_locked()
        except OSError as exc:
            raise StoreError(write_problem(self.records, exc, f"the record of {cell.demo} on {cell.release}")) from None
        try:
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

    def _open_locked(self) -> int:
        """The records file, opened for appending under an exclusive lock; opened again when a compaction
        put a new file in its place while this waited for the lock (a line written to the old one is lost)."""
        while True:
            fd = os.open(self.records, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed
                if os.stat(self.records).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            except OSError:
                os.close(fd)
                raise
            os.close(fd)

    def compact(self) -> int:
        """Rewrite the records as one line per cell (its latest, as `load` keeps it) once most lines are
        superseded: a re-run appends a line per reused cell, and every later session and report reads them.
        Returns the number of lines dropped. A failed write (a full disk) leaves the file as it was."""
        if not self.records.is_file():
            return 0
        fd = self._open_locked()
        try:
            kept, lines, unreadable = ResultSet(), 0, []
            with open(fd, "rb", closefd=False) as handle:
                for number, cell in _records_in(handle):
                    lines += 1
                    if isinstance(cell, CellResult):
                        kept.add(cell)
                    else:  # skipped by every reader too
                        unreadable.append(f"{self.records}:{number}: unreadable record dropped ({_short(cell)})")
            if lines - len(kept.cells) <= max(COMPACT_SLACK, len(kept.cells)):
                return 0
            cells = sorted(kept.cells.values(), key=lambda c: (c.started, c.key))
            text = "".join(json.dumps(asdict(c), sort_keys=True) + "\n" for c in cells)
            try:
                _replace_text(self.records, text, sync=True)
            except OSError:
                return 0
            for line in unreadable:
                print(f"warning: {line}", file=sys.stderr)
            return lines - len(cells)
        finally:
            os.close(fd)

    def load(self, committed: bool = True, release: str | None = None) -> ResultSet:
        """The committed results (unless told not to) plus every record appended since; only one release's
        records when `release` is given (a session reads its own, not the thousands of the others)."""
        results = self.load_baseline() if committed else ResultSet()
        if self.records.is_file():
            self._read_records(results, release)
        if self.freezes_dir.is_dir():
            for path in self.freezes_dir.glob("*.txt"):
                results.freezes.setdefault(path.stem, path.read_text(encoding="utf-8").splitlines())
        return results

    def load_run_and_all(self) -> tuple[ResultSet, ResultSet]:
        """load(committed=False) and load(), reading each file once (a record is added after the committed
        cells either way, and `ResultSet.add` keeps the same one whichever order the records come in)."""
        run = self.load(committed=False)
        everything = self.load_baseline()
        for cell in run.cells.values():
            everything.add(cell)
        for name, lines in run.freezes.items():
            everything.freezes.setdefault(name, lines)
        return run, everything

    def _read_records(self, results: ResultSet, release: str | None = None) -> None:
        """Every whole record; a line that is not one (cut by a killed writer or a full disk) is named and skipped.

        With `release`, a line without that release as `append` writes it is not parsed at all."""
        marker = f'"release": {json.dumps(release)}'.encode() if release is not None else b""
        with self.records.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)  # no half-appended line from a session still running
            for number, cell in _records_in(handle, marker):
                if not isinstance(cell, CellResult):
                    print(f"warning: {self.records}:{number}: unreadable record skipped ({_short(cell)})",
                          file=sys.stderr)
                elif release is None or cell.release == release:
                    results.add(cell)

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


def _records_in(handle, marker: bytes = b"") -> Iterator[tuple[int, CellResult | ValueError]]:
    """Each non-empty line containing `marker`, by its line number: the record, or why it is not one."""
    for number, raw in enumerate(handle, 1):
        if raw.strip() and marker in raw:
            try:
                yield number, CellResult.from_dict(json.loads(raw.decode("utf-8")))
            except ValueError as exc:
                yield number, exc


def load_results_json(path: Path, shown_as: str = "", fix: str = "") -> ResultSet:
    """A results.json; one that is not (bad JSON, a cell that is not a record) is an error naming it.

    `shown_as` names the file in that error when `path` is a copy, `fix` says what to do. The same bytes
    are parsed once per process: the report reads git HEAD's copy and the working tree's, mostly equal.
    """
    if not path.is_file():
        return ResultSet()
    data = path.read_bytes()
    digest = hashlib.sha256(data).digest()
    if digest not in _PARSED:
        _PARSED.clear()  # one file's cells at a time is all a command needs
        _PARSED[digest] = _parse_results(data, shown_as or str(path), fix or (
            f"restore it from git (git checkout HEAD -- {path}) or delete it to start without committed results"))
    kept = _PARSED[digest]  # a copy each time: callers add to their set (cells are never changed in place)
    return ResultSet(dict(kept.cells), {name: list(lines) for name, lines in kept.freezes.items()})


_PARSED: dict[bytes, ResultSet] = {}


def _parse_results(raw: bytes, name: str, fix: str) -> ResultSet:
    results = ResultSet()
    try:
        data = json.loads(raw.decode("utf-8"))
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


def _replace_text(path: Path, text: str, sync: bool = False) -> None:
    """Write a copy, then put it in place: a failed write leaves the old file whole."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            if sync:  # on disk before it replaces the only copy of the records
                handle.flush()
                os.fsync(handle.fileno())
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
    shown = _git_head(committed, "show")
    if shown is not None and shown.returncode == 0:
        with tempfile.NamedTemporaryFile(suffix=".json") as copy:
            copy.write(shown.stdout)
            copy.flush()
            return load_results_json(Path(copy.name), f"{committed} (as committed at git HEAD)",
                                     "commit a readable copy (an earlier commit has one: git log -- results.json "
                                     f"in {committed.parent}), or pass --baseline FILE")
    return load_results_json(committed)


def committed_blob(matrix: Matrix) -> str:
    """git's id of reports/results.json as committed at HEAD; "" outside a checkout or when it is not committed."""
    shown = _git_head(matrix.resolve(matrix.settings.reports_dir) / "results.json", "rev-parse", "-q", "--verify")
    return shown.stdout.decode().strip() if shown is not None and shown.returncode == 0 else ""


def schedule_baseline(matrix: Matrix) -> ResultSet:
    """The durations runs are scheduled by (sessions and demos longest first, the estimates of time left).

    The committed ones when results.json is committed, so every run of a commit schedules its cells alike:
    the report rewrites the working copy after each run, and scheduling by it let one run's noise reorder
    the next (measured: a cell started 3 s into one run and 65 s into the next, and took 2.5 times as long).
    """
    with contextlib.suppress(StoreError):  # an unreadable commit: the report says so; a schedule needs none
        return committed_baseline(matrix, None)  # the working copy outside git or before it is committed
    return store_for(matrix).load_baseline()


def _git_head(path: Path, *command: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(path.parent), *command, f"HEAD:./{path.name}"],
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
