"""The records file stays as long as the cells it holds: compaction, and a session reading only its release."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from dataclasses import asdict, replace

import pytest

from harness.results import store as store_module
from harness.results.records import CellResult
from harness.results.store import COMPACT_SLACK, ResultStore


def record(demo: str, release: str, started: str, outcome: str = "pass", **fields) -> CellResult:
    return CellResult(demo=demo, story=demo, variant=demo, release=release, resolution="as-released",
                      outcome=outcome, started=started, **fields)


def _everything(store: ResultStore) -> tuple[dict, dict]:
    as_dicts = lambda results: {k: asdict(c) for k, c in results.cells.items()}  # noqa: E731
    return as_dicts(store.load(committed=False)), as_dicts(store.load())


@pytest.fixture
def store(tmp_path):
    found = ResultStore(tmp_path / "state", tmp_path / "reports")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "results.json").write_text(json.dumps(
        {"cells": [asdict(record("demos/a.py", "1.4.1", "2026-11-01T00:00:00", "fail"))], "freezes": {}}))
    return found


def _rerun_many_times(store: ResultStore, runs: int) -> None:
    """What re-runs with nothing changed leave: a reused record per cell per run, and an interrupted one."""
    for run in range(runs):
        for demo in ("demos/a.py", "demos/b.py", "demos/c.py"):
            for release in ("1.4.1", "2.20.27"):
                store.append(record(demo, release, f"2026-12-01T00:{run // 60:02d}:{run % 60:02d}",
                                    reused=run > 0))
    store.append(record("demos/a.py", "1.4.1", "2026-12-02T00:00:00", "interrupted"))  # never hides the pass


def test_superseded_records_are_dropped_and_every_reader_sees_the_same_cells(store, capsys):
    _rerun_many_times(store, COMPACT_SLACK // 3)
    with store.records.open("ab") as handle:
        handle.write(b'{"demo": "cut by a kill\n')
    lines = len(store.records.read_text().splitlines())
    before = _everything(store)
    capsys.readouterr()
    assert store.compact() == lines - 6
    assert f"{store.records}:{lines}: unreadable record dropped" in capsys.readouterr().err
    assert len(store.records.read_text().splitlines()) == 6
    assert _everything(store) == before
    assert before[0][("demos/a.py", "1.4.1", "as-released")]["outcome"] == "pass"
    assert store.compact() == 0  # nothing left to drop


def test_a_file_with_few_superseded_lines_is_left_as_it_is(store):
    _rerun_many_times(store, 5)
    text = store.records.read_bytes()
    assert store.compact() == 0
    assert store.records.read_bytes() == text


def test_a_record_appended_while_a_compaction_holds_the_file_lands_in_the_new_file(store):
    _rerun_many_times(store, 2)
    holder = os.open(store.records, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as compact() does while it rewrites
    late = record("demos/late.py", "3.9.1", "2026-12-03T00:00:00")
    writer = threading.Thread(target=store.append, args=(late,))
    writer.start()
    time.sleep(0.3)  # the writer opened the old file and waits for its lock
    replacement = store.records.with_name("replacement")
    replacement.write_bytes(store.records.read_bytes())
    os.replace(replacement, store.records)
    os.close(holder)
    writer.join(10)
    assert ("demos/late.py", "3.9.1", "as-released") in store.load(committed=False).cells


def test_a_compaction_that_cannot_write_keeps_every_record(store, monkeypatch):
    _rerun_many_times(store, COMPACT_SLACK // 3)
    text = store.records.read_bytes()

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    assert store.compact() == 0
    assert store.records.read_bytes() == text
    assert not list(store.state_dir.glob("*.tmp"))


def test_a_session_reads_only_its_release(store):
    _rerun_many_times(store, 3)
    decoy = record("demos/d.py", "2.20.27", "2026-12-02T00:00:00", "fail", error='saw "release": "1.4.1" in a log')
    store.append(decoy)
    mine = store.load(committed=False, release="1.4.1").cells
    assert {k[1] for k in mine} == {"1.4.1"} and len(mine) == 3
    everything = store.load(committed=False).cells
    assert {k: asdict(v) for k, v in mine.items()} == {k: asdict(v) for k, v in everything.items() if k[1] == "1.4.1"}


def test_the_run_and_everything_read_at_once_equal_the_two_reads(store):
    _rerun_many_times(store, 3)
    store.append(replace(record("demos/a.py", "1.4.1", "2026-10-01T00:00:00", "fail"), reused=False))  # older
    run, everything = store.load_run_and_all()
    assert {k: asdict(c) for k, c in run.cells.items()} == _everything(store)[0]
    assert {k: asdict(c) for k, c in everything.cells.items()} == _everything(store)[1]
