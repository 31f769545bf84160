"""What a benchmark run measured, as benchmarks/RESULTS.md (for people) and benchmarks/results.json (for tools).

Both are written only from `measurements` (bench.py keeps them in its scratch folder as
it goes, so `bench.py --from-measurements FILE` can write them again without rerunning).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path

from floor import BOUND, chance_within, floor_rows

ROOT = Path(__file__).resolve().parents[1]


def spread(runs: list[dict[str, dict]], machine: list[dict] | None = None) -> list[dict]:
    """Per cell (demo on release) over the cold runs of ours: durations, max / median, attempts, its own CPU time
    in each run (None where not kept), the cells beside it in each run (`company`), and with `machine` (the cold
    runs' own records) how slow the core itself was meanwhile (`core_slowness`); worst first."""
    cells: dict[str, list[dict]] = {}
    beside: dict[str, list[float | None]] = {}
    slowness: dict[str, list[float | None]] = {}
    usual = usual_probe(machine)
    for number, run in enumerate(runs):
        others = company(run)
        probe = (machine[number].get("speed") if machine and number < len(machine) else None) or []
        for key, cell in run.items():
            cells.setdefault(key, []).append(cell)
            beside.setdefault(key, []).append(others.get(key))
            slowness.setdefault(key, []).append(core_slowness(probe, cell, usual))
    rows = []
    for key, seen in cells.items():
        durations = [c["duration"] for c in seen]
        median = statistics.median(durations)
        if len(seen) < 2 or median <= 0:
            continue
        rows.append({"cell": key, "durations": durations, "median": median, "ratio": max(durations) / median,
                     "attempts": [c["attempts"] for c in seen], "outcomes": sorted({c["outcome"] for c in seen}),
                     "cpu": [c.get("cpu") for c in seen], "beside": beside[key], "core": slowness[key]})
    return sorted(rows, key=lambda r: -r["ratio"])


SPREAD_LENGTHS = (0.0, 0.25, 0.5, 1.0, 2.0)  # seconds: the shortest median a cell may have to be counted


def spread_by_length(cells: list[dict], bound: float = BOUND) -> list[dict]:
    """The worst max / median among the cells whose median is at least each length, and how many are over
    `bound`: where the spread comes from, since a few hundredths of a second of scheduling on two busy
    cores is a large ratio of a cell that takes a tenth of a second and a small one of a cell of seconds."""
    rows = []
    for length in SPREAD_LENGTHS:
        counted = [c["ratio"] for c in cells if c["median"] >= length]
        rows.append({"from": length, "cells": len(counted), "worst": max(counted, default=None),
                     "over": sum(ratio > bound for ratio in counted)})
    return rows


def spread_causes(cells: list[dict], bound: float = BOUND) -> dict:
    """The cells over `bound`, split by their own CPU time: one whose CPU time also went over `bound` of its
    median computed longer in its slowest run (a slower core, or more work), one whose CPU time did not waited
    longer (for a core, its server, a poll); `unmeasured`: CPU time not kept for every run."""
    over = [c for c in cells if c["ratio"] > bound]
    measured = [c for c in over if c.get("cpu") and None not in c["cpu"]]
    computed = [c for c in measured if max(c["cpu"]) > bound * statistics.median(c["cpu"]) > 0]
    return {"over": len(over), "computed_longer": len(computed), "waited_longer": len(measured) - len(computed),
            "unmeasured": len(over) - len(measured)}


def usual_probe(machine: list[dict] | None) -> float | None:
    """The probe's usual loop time: its median over every cold run that had one (measure.CoreSpeed)."""
    samples = [seconds for run in machine or [] for _, seconds in run.get("speed") or []]
    return statistics.median(samples) if samples else None


def core_slowness(probe: list, cell: dict, usual: float | None, every: float = 0.2) -> float | None:
    """The probe's loop time while a cell ran (the samples from one interval before it to one after), over its
    usual time: 1.0 when the core ran at its usual speed, 1.5 when it was a third slower."""
    if not usual or not probe or not cell.get("started"):
        return None
    start = datetime.fromisoformat(cell["started"]).timestamp()
    near = [seconds for when, seconds in probe if start - every <= when <= start + cell["duration"] + every]
    return statistics.median(near) / usual if near else None


def company(run: dict[str, dict]) -> dict[str, float]:
    """For each cell of one run, how many other cells were running beside it, on average over its duration
    (from each record's `started` and `duration`): on two cores, a CPU-bound cell with five beside it gets
    about a third of a core."""
    spans = {}
    for key, cell in run.items():
        if cell.get("started") and cell["duration"] > 0:
            start = datetime.fromisoformat(cell["started"]).timestamp()
            spans[key] = (start, start + cell["duration"])
    return {key: sum(max(0.0, min(end, other_end) - max(start, other_start))
                     for other, (other_start, other_end) in spans.items() if other != key) / (end - start)
            for key, (start, end) in spans.items()}


def run_pace(runs: list[dict[str, dict]]) -> list[float]:
    """Per cold run, the median over its cells of (duration / that cell's median over the runs): 1.0 for a run
    at the usual pace, 1.25 for one in which the cells took a quarter longer. A run slow in every cell points
    at the machine (a slower core, cores given to others), not at any one demo."""
    medians = {row["cell"]: row["median"] for row in spread(runs)}  # cells seen more than once, of some length
    paces = [[cell["duration"] / medians[key] for key, cell in run.items() if key in medians] for run in runs]
    return [statistics.median(ratios) if ratios else 1.0 for ratios in paces]


def _cold_run_rows(m: dict) -> list[str]:
    """The cold runs themselves, beside the pace of their cells."""
    pace = run_pace(m["cold_cells"])
    runs = m.get("cold_runs") or []
    runs = runs + [{}] * (len(pace) - len(runs))  # measured before the runs themselves were kept
    rows = ["| cold run | wall s | CPU s | CPU time stolen by the hypervisor | the loop just before, s | pace of its "
            "cells (median of duration / the cell's median) | the core: its probe over the usual, median and slowest "
            "tenth |", "|---|---|---|---|---|---|---|"]
    for number, (run, speed) in enumerate(zip(runs, pace, strict=False), 1):
        steal = f"{100 * run['steal']:.1f} %" if run.get("steal") is not None else "not measured"
        loop = f"{run['loop_before']:.2f}" if run.get("loop_before") else "not measured"
        wall = f"{run['seconds']:.0f}" if run.get("seconds") else "not kept"
        cpu = f"{run['cpu']:.0f}" if run.get("cpu") else "not kept"
        core = run_core(run, runs)
        rows.append(f"| {number} | {wall} | {cpu} | {steal} | {loop} | {speed:.3f} | "
                    f"{_listed(core, '.2f') if core else 'not measured'} |")
    return rows


def _median(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if key in r]
    return statistics.median(values) if values else None


def true_limit(m: dict) -> dict:
    """The limit from what was measured: the CPU term is the least CPU any measured way spent on these cells
    (the warm-process measurement starts the demos' own subprocesses, `prefect` calls and flow runs, as fresh
    interpreters, which ours forks: so ours may have spent less), over the cores; the path term is the longest
    env's build + import + server start + its longest demo."""
    limit = m["limit"]
    ours_cpu = _median(m["rounds"], "ours_cpu")
    cpu = min(limit["cpu"], ours_cpu) if ours_cpu else limit["cpu"]
    return {"cpu": cpu, "cpu_from": "ours" if cpu != limit["cpu"] else "the warm-process measurement",
            "cpu_bound": cpu / limit["cores"], "path_bound": limit["path_bound"],
            "seconds": max(cpu / limit["cores"], limit["path_bound"]),
            "decided_by": "CPU" if cpu / limit["cores"] >= limit["path_bound"] else f"the path of {limit['path_env']}"}


def _cold_for_rerun(m: dict) -> float:
    """The cold run a no-change re-run is a share of: measured beside it when it was measured again."""
    again = [a for a in _remeasures(m) if "rerun" in a["parts"]]
    return statistics.median(again[-1]["cold"]) if again else _median(m["rounds"], "ours")


def _remeasures(m: dict) -> list[dict]:
    """Each later measurement of some parts, oldest first (one dict before several were kept)."""
    again = m.get("remeasured") or []
    return [again] if isinstance(again, dict) else again


def figures(m: dict) -> dict:
    """The headline numbers: medians of pair-by-pair ratios, ours over the limit, spread, re-run share."""
    rounds = m["rounds"]
    ours = _median(rounds, "ours")
    cells = spread(m["cold_cells"])
    limit = true_limit(m)
    return {
        "ratio_plain_nox": _median([{"x": r["plain"] / r["ours"]} for r in rounds if "plain" in r], "x"),
        "ratio_skilled_peer": statistics.median(r["skilled"] / r["ours"] for r in rounds),
        "ours_over_limit": ours / limit["seconds"],
        "rerun_share": m["rerun"] / _cold_for_rerun(m),
        "spread_max": cells[0]["ratio"] if cells else None,
        # the same over cells whose median is 2 s or more: below that, a few tenths of a second of scheduling
        # on two busy cores is a large ratio
        "spread_max_2s": max((c["ratio"] for c in cells if c["median"] >= 2), default=None),
        "spread_by_length": spread_by_length(cells),
        "spread_causes": spread_causes(cells),
        "spread_max_seconds": max((max(c["durations"]) - c["median"] for c in cells), default=None),
        # the same fixed work, alone on the machine, for the cells under 2 s: what no schedule can beat (floor.py)
        "spread_floor": next((r["ratio"] for r in _floor(m)), None),
        # how often the machine alone keeps the shortest cells' fixed work within 1.5: the spread target cannot
        # be met more often than that (floor.floor_chance)
        "spread_floor_chance": _chance(m.get("floor_chance")),
        "minors_seconds": m.get("minors", {}).get("seconds"),
        "minors_two_shards_seconds": (m.get("minors_shards") or {}).get("seconds"),
        "ours_median_seconds": ours,
        "skilled_median_seconds": _median(rounds, "skilled"),
        "limit_seconds": limit["seconds"],
    }


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    outputs = [f":(exclude)benchmarks/{name}" for name in ("RESULTS.md", "results.json", "measurements.json")]
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "harness", "benchmarks", "matrix.toml", "demos",
                            *outputs],  # the benchmark's own outputs are not the code it measured
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + ("+uncommitted" if dirty else "")


def write_json(path: Path, m: dict) -> None:
    data = dict(figures(m), true_limit=true_limit(m), backend=m["backend"], commit=m["commit"], date=m["date"],
                machine=m["machine"],
                workload=m["workload"], rounds=m["rounds"], limit=m["limit"], rerun_seconds=m["rerun"],
                worst_cells=spread(m["cold_cells"], m.get("cold_runs"))[:10], floor_worst=_floor(m)[:10],
                cold_runs=[dict({k: v for k, v in run.items() if k != "speed"}, core=run_core(run, m["cold_runs"]))
                           for run in m.get("cold_runs") or []],
                cold_run_pace=run_pace(m["cold_cells"]), minors=m.get("minors"), minors_shards=m.get("minors_shards"),
                ours_sqlite=m.get("ours_sqlite"),
                command=m["command"], remeasured=m.get("remeasured"))
    path.write_text(json.dumps(data, indent=1) + "\n")


def _number(value: float | None, spec: str) -> str:
    return "not measured" if value is None else format(value, spec)


def _round_rows(rounds: list[dict]) -> list[str]:
    rows = ["| round | plain nox s | skilled peer s | ours s | skilled / ours | plain / ours | ours CPU s | "
            "ours whole-run peak MB |", "|---|---|---|---|---|---|---|---|"]
    for number, r in enumerate(rounds, 1):
        plain = f"{r['plain']:.1f}" if "plain" in r else "-"
        ratio = f"{r['plain'] / r['ours']:.1f}" if "plain" in r else "-"
        rows.append(f"| {number} | {plain} | {r['skilled']:.1f} | {r['ours']:.1f} | {r['skilled'] / r['ours']:.2f} | "
                    f"{ratio} | {r['ours_cpu']:.0f} | {r['tree_mb']:.0f} |")
    return rows


def _limit_rows(limit: dict) -> list[str]:
    rows = ["| env | build s | import s | API server start s | longest demo s (warm) | critical path s | CPU s |",
            "|---|---|---|---|---|---|---|"]
    for e in limit["envs"]:
        rows.append(f"| {e['release']} | {e['build']:.1f} | {e['import']:.1f} | {e['server']:.1f} | "
                    f"{max(e['bodies'].values(), default=0):.1f} | {e['path']:.1f} | {e['cpu']:.1f} |")
    return rows


def _remeasured_note(m: dict) -> str:
    again = _remeasures(m)
    rest = " Every other number is from the run above." if again else ""
    return "".join(_one_remeasure(m, a) for a in again) + rest


def _one_remeasure(m: dict, again: dict) -> str:
    parts = {"rerun": lambda: "the no-change re-run (and the 3 cold runs it is a share of, median "
                              f"{statistics.median(again['cold']):.1f} s)",
             "spread": lambda: f"each cell's spread over {len(m['cold_cells'])} cold runs"
                               + (" and the machine's floor under it" if m.get("floor") else ""),
             "floor": lambda: (f"the floor of the cells under {m['floor_chance']['under']:g} s, "
                               f"{m['floor_chance']['repeats']} times over"),
             "minors": lambda: "the `minors` runs",
             "shards": lambda: "`minors` as two shards",
             "rounds": lambda: f"the {len(m['rounds'])} rounds with the peers and the true limit"}
    machine = f" on {again['machine']}" if again.get("machine") else ""
    loop = f" (the loop: {again['loop']:.2f} s)" if again.get("loop") else ""
    return (f" Measured again by `{again['command']}` on {again['date']} at commit {again['commit']}{machine}{loop}: "
            + " and ".join(parts[p]() for p in again["parts"]) + ".")


def _minors_rows(minors: dict | None) -> list[str]:
    if not minors:
        return []
    first = minors.get("first")  # measured since the benchmark runs minors twice; before, once and first
    how = "from fresh env folders after a first `minors` run, as the rounds are" if first else \
        "the first `minors` run in a new state folder"
    rows = [f"| `minors` profile, as released ({minors['sessions']} sessions, {minors['cells']} cells), {how} | "
            f"**{minors['seconds'] / 60:.1f} min** (exit {minors['exit']}, {minors['cpu']:.0f} s CPU{_stolen(minors)}) "
            "| ≤ 15 min |"]
    if first:
        rows.append(f"| the same, the first `minors` run in a new state folder (compiles each release's Prefect) | "
                    f"{first['seconds'] / 60:.1f} min (exit {first['exit']}, {first['cpu']:.0f} s CPU{_stolen(first)}) "
                    "| - |")
    return rows


def _shard_rows(sharded: dict | None) -> list[str]:
    if not sharded:
        return []
    each = "; ".join(f"shard {i}: {shard['seconds'] / 60:.1f} min, {shard['sessions']} sessions, {shard['cells']} "
                     f"cells, exit {shard['exit']}, {shard['cpu']:.0f} s CPU{_stolen(shard)}"
                     for i, shard in enumerate(sharded["shards"], 1))
    return [f"| the same as {sharded['count']} CI shards (`-- --shard I/{sharded['count']} --profile minors`), each "
            f"run alone on this machine, one after the other: what {sharded['count']} machines like it would take | "
            f"{sharded['seconds'] / 60:.1f} min, the slowest shard ({each}) | - |"]


def _stolen(run: dict) -> str:
    return f", {100 * run['steal']:.1f} % of the machine's CPU time stolen" if run.get("steal") is not None else ""


def _floor(m: dict) -> list[dict]:
    """The stand-ins of the short cells (floor.py), worst first; none when the floor was not measured."""
    floor = m.get("floor")
    return floor_rows(floor["durations"], floor["medians"]) if floor else []


def _chance(chance: dict | None) -> dict | None:
    if not chance:
        return None
    within, repeats = chance_within(chance)
    ratios = [w["ratio"] for w in chance["worst"] if w is not None]
    return {"under": chance["under"], "stand_ins": chance["stand_ins"], "repeats": repeats, "within": within,
            "share_within": within / repeats if repeats else None,
            "worst_median": statistics.median(ratios) if ratios else None}


def _chance_lines(m: dict) -> list[str]:
    """How often the machine alone keeps the shortest cells' fixed work within the bound."""
    chance = m.get("floor_chance")
    figure = _chance(chance)
    if not figure or not figure["repeats"]:
        return []
    cells = [w["cell"] for w in chance["worst"] if w is not None and w["ratio"] > BOUND]
    common = max(set(cells), key=cells.count) if cells else None
    return [
        "", f"The same floor for the {figure['stand_ins']} cells under {figure['under']:g} s, measured "
        f"{figure['repeats']} times over ({chance['samples']} samples each, {chance['seconds']:.0f} s in all; "
        f"`floor.floor_chance`): every stand-in stayed within {BOUND:g} in "
        f"**{figure['within']} of {figure['repeats']}** repeats; the worst stand-in's max / median had a median of "
        f"{figure['worst_median']:.3f}"
        + (f"; the one most often over {BOUND:g}: {common} ({cells.count(common)} times)" if common else "")
        + ". The spread target holds over every cell, so on this machine it cannot be met more often than that, "
        "whatever the harness does.", ""] + (
        [f"Still running when these began: {'; '.join(chance['left_running'])}.", ""]
        if chance.get("left_running") else [])


def _floor_lines(m: dict) -> list[str]:
    """What fixed work of the short cells' lengths shows on this machine alone, beside the cells themselves."""
    floor, stand_ins = m.get("floor"), _floor(m)
    if not floor:
        return []
    cells = {c["cell"]: c for c in spread(m["cold_cells"])}
    short = [c for c in cells.values() if c["median"] < floor["short"]]
    lines = [
        "", f"## The machine's floor under the spread of cells under {floor['short']:g} s", "",
        f"Each of the {len(stand_ins)} cells of the cold runs whose median is under {floor['short']:g} s replaced by "
        "a stand-in: a fixed pure-Python loop, sized to last about the cell's median (at "
        f"{floor['iterations_per_second']:,} iterations a second), run {floor['samples']} times, round by round in a "
        "shuffled order, one at a time, with nothing else of the benchmark running (`benchmarks/floor.py`, "
        f"{floor['seconds']:.0f} s in all). The same work each time, alone on the machine: the spread it still "
        "shows is the machine's.", "",
        f"- stand-ins: worst max / median **{stand_ins[0]['ratio']:.3f}**, {_over(stand_ins, 1.5)} over 1.5",
        f"- the cells themselves: worst **{max((c['ratio'] for c in short), default=0):.3f}**, {_over(short, 1.5)} "
        "over 1.5", ""] + ([f"Still running when the stand-ins began: {'; '.join(floor['left_running'])}.", ""]
                          if floor.get("left_running") else []) + [
        "| cell | its median s | stand-in durations s | stand-in max / median | the cell's max / median |",
        "|---|---|---|---|---|"]
    for r in stand_ins[:8]:
        own = f"{cells[r['cell']]['ratio']:.3f}" if r["cell"] in cells else "-"
        lines.append(f"| {r['cell']} | {r['cell_median']:.3f} | {', '.join(f'{d:.3f}' for d in r['durations'])} | "
                     f"{r['ratio']:.3f} | {own} |")
    return lines


def _causes_line(causes: dict) -> str:
    """Of the cells over the bound, how many computed longer and how many waited longer (`spread_causes`)."""
    if not causes["over"]:
        return f"No cell went over {BOUND:g}."
    unmeasured = f"; {causes['unmeasured']} with CPU time not kept in every run" if causes["unmeasured"] else ""
    return (f"Of the {causes['over']} cells over {BOUND:g}, {causes['computed_longer']} spent over {BOUND:g} times "
            f"their median CPU time in some run (they computed longer: a slower core, or more work) and "
            f"{causes['waited_longer']} did not (they waited longer: for a core, their server, a poll){unmeasured}.")


def _listed(values: list[float | None] | None, spec: str) -> str:
    return ", ".join("?" if v is None else format(v, spec) for v in values or [])


def run_core(run: dict, machine: list[dict]) -> list[float] | None:
    """One cold run's probe against the usual: [median, slowest tenth] of its loop times over the usual one."""
    usual, samples = usual_probe(machine), sorted(seconds for _, seconds in run.get("speed") or [])
    if not usual or not samples:
        return None
    return [statistics.median(samples) / usual, samples[int(0.9 * (len(samples) - 1))] / usual]


def _chance_note(f: dict) -> str:
    chance = f.get("spread_floor_chance")
    if not chance or not chance["repeats"]:
        return ""
    return (f"; for the cells under {chance['under']:g} s, within {BOUND:g} in {chance['within']} of "
            f"{chance['repeats']} repeats")


def _over(cells: list[dict], bound: float) -> str:
    """How many cells' max / median exceed the target (a 1.502 does: the row shows three decimals)."""
    return f"{sum(c['ratio'] > bound for c in cells)} of {len(cells)} cells"


def write_markdown(path: Path, m: dict) -> None:
    f = figures(m)
    limit, bound = m["limit"], true_limit(m)
    worst = spread(m["cold_cells"], m.get("cold_runs"))[:8]
    lines = [
        "# Benchmark results", "",
        f"Produced by `{m['command']}` (or `nox -s bench`) on {m['date']} at commit {m['commit']}; "
        "`benchmarks/results.json` holds the same numbers for tools. Do not edit by hand."
        + (f" Written from that run's measurements by `{m['written_by']}`." if m.get("written_by") else "")
        + _remeasured_note(m), "",
        f"Machine: {m['machine']}" + (f"; a fixed pure-Python loop (`summary.loop_seconds`) took "
                                      f"{m['loop']:.2f} s" if m.get("loop") else "") + ".", "",
        f"Workload: {m['workload']}. Backend of ours: `{m['backend']}`.", "",
        "| target | measured | target |", "|---|---|---|",
        f"| ours vs the skilled peer (median of pair-by-pair ratios) | **{f['ratio_skilled_peer']:.2f}×** | ≥ 3× |",
        f"| ours vs plain nox | **{_number(f['ratio_plain_nox'], '.1f')}** × | ≥ 10× |",
        f"| ours / true limit | **{f['ours_over_limit']:.2f}** | ≤ 1.3 |",
        f"| worst cell's max / median over {len(m['cold_cells'])} cold runs | **{_number(f['spread_max'], '.3f')}** "
        f"({_over(spread(m['cold_cells']), 1.5)} over 1.5; cells of 2 s or more: {_number(f['spread_max_2s'], '.3f')}; "
        f"no cell's max exceeds its median by more than {_number(f['spread_max_seconds'], '.1f')} s; the same "
        f"fixed work alone on this machine: {_number(f['spread_floor'], '.3f')}{_chance_note(f)}) | ≤ 1.5 |",
        f"| no-change re-run / cold run | **{100 * f['rerun_share']:.1f} %** | ≤ 3 % |",
    ] + _minors_rows(m.get("minors")) + _shard_rows(m.get("minors_shards")) + [
        "", "## Rounds", "",
        "Alternating, after a warm-up that filled uv's and pip's caches and the harness's bytecode store; "
        "every run starts from fresh env folders.", "",
    ] + _round_rows(m["rounds"]) + [
        "", "## The true limit", "",
        f"max(CPU of the work that cannot be skipped / cores, the longest critical path) = max({bound['cpu']:.0f} s "
        f"/ {limit['cores']}, {limit['path_bound']:.1f} s on {limit['path_env']}) = **{bound['seconds']:.1f} s**, "
        f"decided by {bound['decided_by']}. Each env was measured alone: a build from the warm cache, one "
        "`import prefect`, its API server's start (with its database), and every demo's body once in a warm "
        f"process ({limit['counted']} bodies; a demo that does not pass there is left out). Those measurements "
        f"spent {limit['cpu']:.0f} s of CPU, since a demo's own subprocesses (`prefect` calls, the flow runs a "
        f"worker starts) start there as fresh interpreters; ours spent {_median(m['rounds'], 'ours_cpu'):.0f} s "
        f"(median) on the same cells, forking them. The CPU term takes the lesser ({bound['cpu_from']}): no "
        "schedule of work measured here needs less.", "",
    ] + _limit_rows(limit) + [
        "", f"## Spread: each cell over {len(m['cold_cells'])} cold runs of ours", "",
        "`its CPU s`: in each run, the CPU time the kernel counted for the demo's process and the children it "
        "waited for. `beside it`: in each run, how many other cells ran beside it, on average over its duration. "
        "`the core`: in each run, the loop time of the benchmark's probe while the cell ran, over its usual time "
        "(`measure.CoreSpeed`: a thread's CPU time for a fixed loop, five times a second; waiting for a core does "
        "not count in it, a slower core does; `?`: not measured).", "",
        "| cell | durations s | max / median | its CPU s | attempts | beside it | the core |",
        "|---|---|---|---|---|---|---|",
    ] + [f"| {w['cell']} | {', '.join(f'{d:.2f}' for d in w['durations'])} | {w['ratio']:.3f} | "
         f"{_listed(w.get('cpu'), '.2f')} | {', '.join(map(str, w['attempts']))} | "
         f"{_listed(w.get('beside'), '.1f')} | {_listed(w.get('core'), '.2f')} |" for w in worst] + [
        "", _causes_line(f["spread_causes"]),
        "", "The worst by the cells' length (their median):", "",
        "| cells of at least | cells | worst max / median | over 1.5 |", "|---|---|---|---|",
    ] + [f"| {row['from']:g} s | {row['cells']} | {_number(row['worst'], '.3f')} | {row['over']} |"
         for row in f["spread_by_length"]] + [
        "", "The cold runs those durations come from:", "",
    ] + _cold_run_rows(m) + _floor_lines(m) + _chance_lines(m) + [
        "", "## Other measures", "", "| measure | value |", "|---|---|",
        f"| re-run with nothing changed (median of 3) | {m['rerun']:.2f} s |",
    ] + ([f"| cells of the `minors` run that did not pass | {'; '.join(m['minors']['failed']) or 'none'} |"]
         if m.get("minors") and "failed" in m["minors"] else []) + (
        [f"| `nox -l` (median of 5) | {m['small']['nox_l']:.2f} s |",
          f"| planning the `all` profile ({m['small']['sessions_all']} sessions, median of 5) | "
          f"{m['small']['plan_all']:.3f} s |"] if m.get("small") else []) + (
        [f"| ours on `sqlite` (MATRIX_BACKEND=sqlite), once | {m['ours_sqlite']['seconds']:.1f} s "
          f"(exit {m['ours_sqlite']['exit']}) |"] if m.get("ours_sqlite") else []) + [
        f"| ours CPU (median) | {_median(m['rounds'], 'ours_cpu'):.0f} s; skilled peer "
        f"{_median(m['rounds'], 'skilled_cpu'):.0f} s; plain nox "
        f"{_number(_median(m['rounds'], 'plain_cpu'), '.0f')} s |",
        "",
        "Exit codes (0: every cell passed): " + ", ".join(
            f"round {i}: " + ", ".join(f"{k[:-5]} {v}" for k, v in r.items() if k.endswith("_exit"))
            for i, r in enumerate(m["rounds"], 1)),
        "",
    ]
    path.write_text("\n".join(lines))


def stamp() -> dict:
    return {"date": time.strftime("%Y-%m-%d"), "commit": commit(), "cores": os.cpu_count(), "loop": loop_seconds()}


def loop_seconds() -> float:
    """One core's speed, to compare machines: the median of 5 runs of a fixed pure-Python loop (seconds).

    Sessions do not always get the same kind of machine (an AMD EPYC one, then a 2.0 GHz Intel Xeon one),
    and every absolute number of the benchmark moves with the core's speed; the ratios much less."""
    def once() -> float:
        started = time.perf_counter()
        sum(i * i for i in range(10**7))
        return time.perf_counter() - started

    return round(statistics.median(once() for _ in range(5)), 3)
