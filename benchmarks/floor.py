"""The spread this machine gives work that cannot vary: the floor under the short cells' `spread_max`.

Each cell of the cold runs whose median is under SHORT seconds gets a stand-in: a fixed pure-Python loop
whose every turn costs the same, sized to last about as long as the cell's median. The stand-ins run `samples` times,
one at a time, in this one process, with nothing else of the benchmark running: the same amount of the
same work, with no other cell, server, env build or harness beside it. Whatever spread they still show
(max / median over their samples, as for a cell over its cold runs) comes from the machine: timer ticks,
the hypervisor, a core that runs slower for a while. A real cell of that length, which also forks, reads
files and shares the cores, cannot be expected to show less.

The samples are taken in rounds (every stand-in once, in a shuffled order, then again), so each
stand-in's samples are minutes apart, as a cell's cold runs are.
"""

from __future__ import annotations

import random
import statistics
import time

SHORT = 2.0  # seconds: the cells `spread_max_2s` leaves out, the ones the floor is about
SEED = 20  # the shuffles are the same in every run of the benchmark
CHANCE_UNDER = 0.5  # seconds: the cells whose stand-ins `floor_chance` repeats (18 cells, 13 s a repeat, at 5d4465b)
BOUND = 1.5  # the bound on a cell's max / median


def fixed_work(iterations: int) -> float:
    """Seconds `iterations` turns of the loop took. Every turn adds a small int to a small int, so a turn costs
    the same however many there are (squaring the counter would not: its ints grow), and one pace sizes all."""
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total = (total + i) & 0xFFFF
    return time.perf_counter() - started


def iterations_per_second(tries: int = 15, iterations: int = 2 * 10**6) -> float:
    """The loop's pace on this machine at its usual speed: the fastest of `tries` short runs. A median sized
    every stand-in by whatever the core was doing just then (at 7dcc4de they came out at 0.55-0.65 of their
    cells' medians), and a shorter stand-in shows more spread for the same stall."""
    return iterations / min(fixed_work(iterations) for _ in range(tries))


def stand_in_sizes(medians: dict[str, float], pace: float, short: float = SHORT) -> dict[str, int]:
    """Each short cell's stand-in, as the loop's iterations that last the cell's median."""
    return {cell: max(1, round(median * pace)) for cell, median in medians.items() if 0 < median < short}


def run_stand_ins(sizes: dict[str, int], samples: int = 5, seed: int = SEED) -> dict[str, list[float]]:
    """Every stand-in `samples` times, round by round, each round in its own shuffled order."""
    durations: dict[str, list[float]] = {cell: [] for cell in sizes}
    shuffle = random.Random(seed)
    for _ in range(samples):
        order = sorted(sizes)
        shuffle.shuffle(order)
        for cell in order:
            durations[cell].append(round(fixed_work(sizes[cell]), 4))
    return durations


def floor_rows(durations: dict[str, list[float]], medians: dict[str, float]) -> list[dict]:
    """Per stand-in: its durations, its max / median, and the real cell's median beside them; worst first."""
    rows = []
    for cell, seen in durations.items():
        middle = statistics.median(seen)
        if len(seen) < 2 or middle <= 0:
            continue
        rows.append({"cell": cell, "durations": seen, "median": middle, "ratio": max(seen) / middle,
                     "cell_median": medians.get(cell)})
    return sorted(rows, key=lambda r: -r["ratio"])


def measure_floor(medians: dict[str, float], samples: int = 5) -> dict:
    """The stand-ins of the short cells, measured: what measurements.json keeps as `floor`."""
    pace = iterations_per_second()
    sizes = stand_in_sizes(medians, pace)
    started = time.perf_counter()
    durations = run_stand_ins(sizes, samples)
    return {"short": SHORT, "samples": samples, "iterations_per_second": round(pace),
            "seconds": round(time.perf_counter() - started, 1), "durations": durations,
            "medians": {cell: medians[cell] for cell in sizes}}


def floor_chance(medians: dict[str, float], repeats: int, under: float = CHANCE_UNDER, samples: int = 5) -> dict:
    """The floor of the shortest cells, measured `repeats` times over: how often the machine alone keeps fixed work
    of their lengths within BOUND. The spread target holds over every cell, so it cannot be met more often than
    this, whatever the harness does (an upper bound: a repeat's samples are seconds apart, a cell's cold runs
    minutes, and nearer samples vary less)."""
    pace = iterations_per_second()
    sizes = stand_in_sizes(medians, pace, under)
    started = time.perf_counter()
    worst = []
    for repeat in range(repeats):
        rows = floor_rows(run_stand_ins(sizes, samples, SEED + repeat), medians)
        worst.append({"ratio": round(rows[0]["ratio"], 4), "cell": rows[0]["cell"]} if rows else None)
    return {"under": under, "samples": samples, "repeats": repeats, "stand_ins": len(sizes),
            "iterations_per_second": round(pace), "seconds": round(time.perf_counter() - started, 1),
            "worst": worst}


def chance_within(chance: dict, bound: float = BOUND) -> tuple[int, int]:
    """(repeats whose every stand-in stayed within `bound`, repeats measured)."""
    measured = [w for w in chance["worst"] if w is not None]
    return sum(w["ratio"] <= bound for w in measured), len(measured)
