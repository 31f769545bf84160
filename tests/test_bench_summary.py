"""The benchmark's pure arithmetic (benchmarks/summary.py, measure.py): what RESULTS.md says of its runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import measure  # noqa: E402
import summary  # noqa: E402


def _runs(*durations_per_run: dict[str, float]) -> list[dict[str, dict]]:
    return [{cell: {"duration": seconds, "attempts": 1, "outcome": "pass"} for cell, seconds in run.items()}
            for run in durations_per_run]


@pytest.mark.parametrize(("runs", "pace"), [
    (_runs({"a": 1.0, "b": 10.0}, {"a": 1.0, "b": 10.0}, {"a": 1.0, "b": 10.0}), [1.0, 1.0, 1.0]),
    # the third run slow in every cell: the machine, not a demo
    (_runs({"a": 1.0, "b": 10.0}, {"a": 1.0, "b": 10.0}, {"a": 1.5, "b": 15.0}), [1.0, 1.0, 1.5]),
    # one cell slow once: the run's pace barely moves (median over its cells)
    (_runs({"a": 1.0, "b": 10.0, "c": 4.0}, {"a": 3.0, "b": 10.0, "c": 4.0}, {"a": 1.0, "b": 10.0, "c": 4.0}),
     [1.0, 1.0, 1.0]),
    (_runs({"a": 0.0}, {"a": 0.0}), [1.0, 1.0]),  # nothing to measure by
])
def test_a_runs_pace_is_its_cells_median_against_their_own_medians(runs, pace):
    assert summary.run_pace(runs) == pytest.approx(pace)


def test_the_spread_worst_first_and_the_cold_runs_rows_say_what_was_not_measured():
    runs = _runs({"a": 1.0, "b": 10.0}, {"a": 2.0, "b": 11.0}, {"a": 1.0, "b": 12.0})
    worst = summary.spread(runs)
    assert [(w["cell"], round(w["ratio"], 3)) for w in worst] == [("a", 2.0), ("b", 1.091)]
    rows = summary._cold_run_rows({"cold_cells": runs, "cold_runs": [
        {"seconds": 100.0, "cpu": 150.0, "steal": 0.031, "loop_before": 1.234}]})
    assert rows[2] == "| 1 | 100 | 150 | 3.1 % | 1.23 | 0.955 |"  # a: 1 / 1, b: 10 / 11
    assert rows[3].startswith("| 2 | not kept | not kept | not measured | not measured |")
    assert len(rows) == 2 + 3


@pytest.mark.parametrize(("before", "after", "share"), [
    ([0] * 8, [100, 0, 0, 0, 0, 0, 0, 0], 0.0),
    ([10, 0, 0, 10, 0, 0, 0, 0], [70, 0, 0, 40, 0, 0, 0, 10], 0.1),  # 10 of 100 ticks went to others
    ([5] * 10, [5] * 10, 0.0),  # no time passed
])
def test_the_stolen_share_is_steal_over_all_ticks_that_passed(before, after, share):
    assert measure.stolen_share(before, after) == pytest.approx(share)


def test_the_machines_ticks_are_read_from_proc_stat():
    if not Path("/proc/stat").exists():
        pytest.skip("Linux only")
    first = measure.machine_ticks()
    assert len(first) >= 8 and sum(first) > 0
    assert sum(measure.machine_ticks()) >= sum(first)


def test_two_shards_take_as_long_as_the_slower_and_each_is_named():
    sharded = {"count": 2, "seconds": 700.0, "shards": [
        {"seconds": 700.0, "sessions": 23, "cells": 430, "exit": 0, "cpu": 1100.0, "steal": 0.02},
        {"seconds": 650.0, "sessions": 24, "cells": 434, "exit": 1, "cpu": 1050.0, "steal": None}]}
    [row] = summary._shard_rows(sharded)
    assert "| 11.7 min, the slowest shard (shard 1: 11.7 min, 23 sessions, 430 cells, exit 0, 1100 s CPU, 2.0 %" in row
    assert "shard 2: 10.8 min, 24 sessions, 434 cells, exit 1, 1050 s CPU) |" in row
    assert summary._shard_rows(None) == []


def test_company_counts_the_cells_running_beside_each_over_its_duration():
    run = {
        "a": {"started": "2026-12-03T10:00:00.000+00:00", "duration": 4.0},  # 0-4
        "b": {"started": "2026-12-03T10:00:01.000+00:00", "duration": 2.0},  # 1-3: inside a
        "c": {"started": "2026-12-03T10:00:03.000+00:00", "duration": 2.0},  # 3-5: half beside a
        "d": {"started": "2026-12-03T10:00:09.000+00:00", "duration": 1.0},  # alone
        "e": {"duration": 1.0},  # an older record without `started`: left out
    }
    beside = summary.company(run)
    assert beside == pytest.approx({"a": (2 + 1) / 4, "b": 1.0, "c": 0.5, "d": 0.0})
    for cell in run.values():
        cell.update(attempts=1, outcome="pass")
    row = summary.spread([run, run])
    assert {r["cell"]: r["beside"] for r in row}["a"] == pytest.approx([0.75, 0.75])
    assert {r["cell"]: r["beside"] for r in row}["e"] == [None, None]
