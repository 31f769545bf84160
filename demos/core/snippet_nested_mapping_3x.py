"""Snippet: nested mapping on ThreadPoolTaskRunner, the Prefect 3.x way.

The same inventory as snippet_nested_mapping_modern.py (one run per
warehouse lists its shelves, one run per shelf counts them, one step adds
up), on the task runner that 3.0 introduced.

What changed in 3.x:
- ``ThreadPoolTaskRunner(max_workers=N)`` replaces 2.x's
  ``ConcurrentTaskRunner`` (unbounded threads) and ``SequentialTaskRunner``:
  ``max_workers=1`` is the sequential runner, a larger number bounds how
  many task runs are in progress at once. It is also the default task
  runner, with max_workers from PREFECT_TASK_RUNNER_THREAD_POOL_MAX_WORKERS.
  (``ProcessPoolTaskRunner`` arrived in 3.4.14; Dask and Ray runners live in
  prefect-dask / prefect-ray.)
- ``.map()`` returns a ``PrefectFutureList``: ``.result()`` on it gives all
  values, ``.wait()`` waits for all. Futures passed to ``.map()`` are waited
  for and mapped over, as in 2.x.
- A 3.x flow does not wait for futures it never resolved; resolve them or
  pass them downstream (as ``add_up`` does here).

The check: right counts for every shelf; with max_workers=2 at most 2 shelf
runs are ever in progress together (and 2 are), with max_workers=1 one.
"""
import sys
import time
from pathlib import Path

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _concurrency import Probe, timed  # noqa: E402

WAREHOUSES = {
    "north": {"n1": 4, "n2": 7, "n3": 1},
    "south": {"s1": 10, "s2": 2},
    "east": {"e1": 3, "e2": 3, "e3": 5},
}
SHELVES = sum(len(s) for s in WAREHOUSES.values())  # 8
WORK_SECONDS = 0.3
PROBE = Probe()


@task
def list_shelves(warehouse):
    return sorted(WAREHOUSES[warehouse])


@task
def count_shelf(shelf):
    with PROBE:
        time.sleep(WORK_SECONDS)
        warehouse = {"n": "north", "s": "south", "e": "east"}[shelf[0]]
        return (shelf, WAREHOUSES[warehouse][shelf])


@task
def add_up(counts):
    return dict(counts)


def inventory():
    shelf_lists = list_shelves.map(sorted(WAREHOUSES))  # a PrefectFutureList
    counts = []
    for shelf_list in shelf_lists:  # a nested map per warehouse's future
        counts.extend(count_shelf.map(shelf_list))
    return add_up(counts)


def fail(message):
    raise SystemExit("snippet_nested_mapping_3x: " + message)


def main():
    want = {shelf: n for shelves in WAREHOUSES.values() for shelf, n in shelves.items()}
    for workers in (2, 1):
        PROBE.reset()
        runner_flow = flow(
            name="nested-mapping-%d-workers" % workers,
            task_runner=ThreadPoolTaskRunner(max_workers=workers),
        )(inventory)
        counts, seconds = timed(runner_flow)
        if counts != want:
            fail("max_workers=%d: counted %r, expected %r" % (workers, counts, want))
        if PROBE.peak != workers:
            fail("max_workers=%d: %d shelf runs were in progress at once" % (workers, PROBE.peak))
        floor = SHELVES * WORK_SECONDS / workers
        if seconds < floor:
            fail("max_workers=%d: took %.2fs, less than the %.1fs it must" % (workers, seconds, floor))
        print("max_workers=%d: %d shelves, %d items, peak %d at once, %.2fs (at least %.1fs)"
              % (workers, len(counts), sum(counts.values()), PROBE.peak, seconds, floor))
    print("snippet_nested_mapping_3x: ok")


if __name__ == "__main__":
    main()
