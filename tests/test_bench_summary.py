"""The benchmark's pure arithmetic (benchmarks/summary.py, measure.py, floor.py): what RESULTS.md says of its runs."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import floor  # noqa: E402
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
    assert rows[2] == "| 1 | 100 | 150 | 3.1 % | 1.23 | 0.955 | not measured |"  # a: 1 / 1, b: 10 / 11
    assert rows[3].startswith("| 2 | not kept | not kept | not measured | not measured |")
    assert len(rows) == 2 + 3


def test_the_spread_by_length_leaves_out_the_cells_shorter_than_each_length():
    runs = _runs({"tiny": 0.1, "short": 0.5, "long": 3.0}, {"tiny": 0.1, "short": 0.6, "long": 3.0},
                 {"tiny": 0.2, "short": 0.5, "long": 3.3}, {"tiny": 0.1, "short": 0.8, "long": 3.0},
                 {"tiny": 0.1, "short": 0.5, "long": 3.0})
    rows = summary.spread_by_length(summary.spread(runs))
    assert [(r["from"], r["cells"], round(r["worst"], 3), r["over"]) for r in rows] == [
        (0.0, 3, 2.0, 2), (0.25, 2, 1.6, 1), (0.5, 2, 1.6, 1), (1.0, 1, 1.1, 0), (2.0, 1, 1.1, 0)]
    assert summary.spread_by_length([])[0] == {"from": 0.0, "cells": 0, "worst": None, "over": 0}


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


@pytest.mark.parametrize(("medians", "sizes"), [
    ({"a": 0.5, "b": 1.999}, {"a": 500, "b": 1999}),
    ({"long": 2.0, "longer": 30.0}, {}),  # 2 s or more: the cells spread_max_2s already covers
    ({"none": 0.0}, {}),  # nothing to size by
    ({"tiny": 0.0001}, {"tiny": 1}),  # at least one turn
])
def test_a_stand_in_is_sized_to_its_cells_median_and_only_short_cells_get_one(medians, sizes):
    assert floor.stand_in_sizes(medians, pace=1000.0) == sizes


def test_stand_ins_run_round_by_round_each_round_in_its_own_order(monkeypatch):
    ran: list[int] = []
    monkeypatch.setattr(floor, "fixed_work", lambda iterations: ran.append(iterations) or iterations / 100)
    sizes = {f"cell{i}": i for i in range(1, 9)}
    durations = floor.run_stand_ins(sizes, samples=3)
    assert durations == {cell: [size / 100] * 3 for cell, size in sizes.items()}
    rounds = [ran[i:i + 8] for i in range(0, 24, 8)]
    assert all(sorted(r) == list(range(1, 9)) for r in rounds)  # every stand-in once a round
    assert len({tuple(r) for r in rounds}) > 1  # shuffled anew each round
    assert floor.run_stand_ins(sizes, samples=3) == durations


def test_the_floor_is_each_stand_ins_max_over_median_worst_first_and_shows_beside_the_spread():
    rows = floor.floor_rows({"steady": [0.1, 0.1, 0.1], "stalled": [0.1, 0.1, 0.2], "once": [0.3]},
                            {"steady": 0.12, "stalled": 0.11})
    assert [(r["cell"], r["ratio"], r["cell_median"]) for r in rows] == [("stalled", 2.0, 0.11),
                                                                         ("steady", 1.0, 0.12)]
    runs = _runs({"stalled": 0.1, "steady": 3.0}, {"stalled": 0.1, "steady": 3.0}, {"stalled": 0.3, "steady": 3.0})
    m = {"cold_cells": runs, "floor": {"short": 2.0, "samples": 3, "iterations_per_second": 1000, "seconds": 1.0,
                                       "left_running": [], "durations": {"stalled": [0.1, 0.1, 0.2]},
                                       "medians": {"stalled": 0.1}}}
    lines = summary._floor_lines(m)
    assert "- stand-ins: worst max / median **2.000**, 1 of 1 cells over 1.5" in lines
    assert "- the cells themselves: worst **3.000**, 1 of 1 cells over 1.5" in lines  # `steady` is 2 s or more
    assert lines[-1] == "| stalled | 0.100 | 0.100, 0.100, 0.200 | 2.000 | 3.000 |"
    assert summary._floor({"cold_cells": runs}) == [] and summary._floor_lines({"cold_cells": runs}) == []


def test_the_floor_chance_counts_the_repeats_whose_every_short_stand_in_stayed_within_the_bound(monkeypatch):
    calls = iter(range(10**6))
    stalled_calls = {7, 31}  # one stand-in sample in repeat 1 (calls 0-9) and one in repeat 4 (calls 30-39)
    monkeypatch.setattr(floor, "iterations_per_second", lambda: 1000.0)
    monkeypatch.setattr(floor, "fixed_work",
                        lambda iterations: iterations / 1000 * (1.6 if next(calls) in stalled_calls else 1.0))
    medians = {"short": 0.1, "shorter": 0.02, "long": 0.9, "longest": 5.0}
    chance = floor.floor_chance(medians, repeats=5, samples=5)
    assert chance["stand_ins"] == 2 and chance["repeats"] == 5  # only cells under 0.5 s
    assert [w["ratio"] for w in chance["worst"]] == [1.6, 1.0, 1.0, 1.6, 1.0]
    assert floor.chance_within(chance) == (3, 5)
    assert floor.chance_within(chance, bound=1.7) == (5, 5)
    figure = summary._chance(chance)
    assert (figure["within"], figure["repeats"], figure["share_within"], figure["worst_median"]) == (3, 5, 0.6, 1.0)
    text = " ".join(summary._chance_lines({"floor_chance": chance}))
    assert "the 2 cells under 0.5 s, measured 5 times over" in text and "**3 of 5** repeats" in text
    assert summary._chance(None) is None and summary._chance_lines({}) == []
    again = {"command": "python3 benchmarks/bench.py --remeasure floor", "date": "2026-12-05", "commit": "abc1234",
             "parts": ["floor"]}
    assert summary._one_remeasure({"floor_chance": chance}, again).endswith(
        "at commit abc1234: the floor of the cells under 0.5 s, 5 times over.")


def _cell(started: float, duration: float) -> dict:
    return {"duration": duration, "attempts": 1, "outcome": "pass",
            "started": datetime.fromtimestamp(started, UTC).isoformat()}


def test_the_core_while_a_cell_ran_is_the_probes_loop_time_then_over_its_usual():
    probe = [(99.7, 0.001), (99.9, 0.001), (100.1, 0.002), (100.3, 0.002), (100.5, 0.002), (100.9, 0.001)]
    machine = [{"speed": probe}, {"speed": [(0.0, 0.001)] * 6}]
    assert summary.usual_probe(machine) == 0.001
    assert summary.usual_probe([{}, {"speed": None}]) is None
    # from one interval (0.2 s) before the cell to one after: 99.9 to 100.7
    assert summary.core_slowness(probe, _cell(100.1, 0.4), 0.001) == pytest.approx(2.0)
    assert summary.core_slowness(probe, _cell(200.0, 0.4), 0.001) is None  # no sample near it
    assert summary.core_slowness([], _cell(100.1, 0.4), 0.001) is None
    assert summary.core_slowness(probe, {"duration": 0.4}, 0.001) is None  # no start recorded
    assert summary.run_core(machine[0], machine) == [pytest.approx(1.5), pytest.approx(2.0)]
    assert summary.run_core({}, machine) is None


def test_the_spread_rows_carry_the_core_of_each_run_when_the_probe_ran():
    runs = [{"a": _cell(100.1, 0.4)}, {"a": _cell(100.1, 0.4)}]
    machine = [{"speed": [(100.2, 0.003)]}, {"speed": [(100.2, 0.001), (50.0, 0.001), (60.0, 0.001)]}]
    [row] = summary.spread(runs, machine)
    assert row["core"] == [pytest.approx(3.0), pytest.approx(1.0)]
    [row] = summary.spread(runs)
    assert row["core"] == [None, None]


def test_the_core_speed_probe_times_its_own_cpu_while_the_command_runs():
    with measure.CoreSpeed(every=0.05, turns=1000) as speed:
        time.sleep(0.4)
    assert len(speed.samples) >= 3
    assert all(seconds > 0 for _, seconds in speed.samples)
    assert [when for when, _ in speed.samples] == sorted(when for when, _ in speed.samples)
    count = len(speed.samples)
    time.sleep(0.15)
    assert len(speed.samples) == count  # stopped with the block


def _cells(**cpu_per_cell: list[float | None]) -> list[dict]:
    """Spread rows whose durations went from 1 s to 2 s (max / median 2.0), with the CPU time given per run."""
    runs = [{cell: {"duration": seconds, "attempts": 1, "outcome": "pass", "cpu": cpu[number]}
             for cell, cpu in cpu_per_cell.items()} for number, seconds in enumerate((1.0, 1.0, 2.0))]
    return summary.spread(runs)


@pytest.mark.parametrize(("cpu", "causes"), [
    ({"busy": [0.5, 0.5, 1.0]}, {"over": 1, "computed_longer": 1, "waited_longer": 0, "unmeasured": 0}),
    ({"idle": [0.5, 0.5, 0.6]}, {"over": 1, "computed_longer": 0, "waited_longer": 1, "unmeasured": 0}),
    ({"old": [0.5, None, 0.6]}, {"over": 1, "computed_longer": 0, "waited_longer": 0, "unmeasured": 1}),
    ({"none": [0.0, 0.0, 0.0]}, {"over": 1, "computed_longer": 0, "waited_longer": 1, "unmeasured": 0}),
    ({"busy": [0.5, 0.5, 1.0], "idle": [0.5, 0.5, 0.5]},
     {"over": 2, "computed_longer": 1, "waited_longer": 1, "unmeasured": 0}),
])
def test_the_cells_over_the_bound_are_split_by_whether_their_own_cpu_time_went_over_too(cpu, causes):
    assert summary.spread_causes(_cells(**cpu)) == causes


def test_a_spread_within_the_bound_has_no_causes_to_name():
    runs = _runs({"a": 1.0}, {"a": 1.2}, {"a": 1.1})
    causes = summary.spread_causes(summary.spread(runs))
    assert causes == {"over": 0, "computed_longer": 0, "waited_longer": 0, "unmeasured": 0}
    assert summary._causes_line(causes) == "No cell went over 1.5."
    assert summary._causes_line({"over": 3, "computed_longer": 1, "waited_longer": 1, "unmeasured": 1}) == (
        "Of the 3 cells over 1.5, 1 spent over 1.5 times their median CPU time in some run (they computed longer: "
        "a slower core, or more work) and 1 did not (they waited longer: for a core, their server, a poll); "
        "1 with CPU time not kept in every run.")


def test_results_md_shows_each_worst_cells_cpu_time_and_the_causes(tmp_path):
    """Written from the committed measurements, with the CPU time kept for the worst cell alone."""
    measurements = json.loads((summary.ROOT / "benchmarks" / "measurements.json").read_text())
    worst = summary.spread(measurements["cold_cells"])[0]["cell"]
    for number, run in enumerate(measurements["cold_cells"]):
        for cell in run.values():
            cell.pop("cpu", None)
        run[worst]["cpu"] = 0.25 + number / 100
    summary.write_markdown(tmp_path / "RESULTS.md", measurements)
    text = (tmp_path / "RESULTS.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {worst} |"))
    assert "| 0.25, 0.26, 0.27, 0.28, 0.29 |" in row
    assert "| cell | durations s | max / median | its CPU s | attempts | beside it | the core |" in text
    cells = summary.spread(measurements["cold_cells"])
    causes = summary.spread_causes(cells)
    assert causes["unmeasured"] == causes["over"] - (cells[0]["ratio"] > 1.5)
    assert summary._causes_line(causes) in text
