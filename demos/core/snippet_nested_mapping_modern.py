"""Snippet: nested mapping on a concurrent task runner (2.x, and 3.x via alias).

Nested mapping = a map whose inputs come from another map: here one run per
warehouse lists its shelves, then one run per shelf of each warehouse counts
the items on it, and one reduce step adds everything up.

What this shows:
- ``.map()`` returns one future per element at once; passing a future to
  ``.map()`` makes Prefect wait for it and map over the list it holds, so
  the inner maps need no explicit ``.result()``.
- Which runs overlap is decided by the flow's *task runner*:
  ``@flow(task_runner=ConcurrentTaskRunner())`` runs submitted/mapped task
  runs concurrently in threads (the default in 2.x). 2.x also had
  ``SequentialTaskRunner`` (one at a time), used below for comparison where
  it exists. 3.0 replaced both with ``ThreadPoolTaskRunner(max_workers=N)``
  and kept ``ConcurrentTaskRunner`` only as an alias of it, which is why
  this file still runs on 3.x; see snippet_nested_mapping_3x.py for the 3.x
  spelling. (For many machines there is ``DaskTaskRunner`` in the separate
  prefect-dask package.)
- Classic 1.x did the same with ``LocalDaskExecutor`` and
  ``task.map(flatten(...))``; there the executor was chosen at
  ``flow.run(executor=...)`` time, not on the flow.

The check: every shelf is counted exactly once with the right total; on the
concurrent runner several of the 8 shelf runs (0.3 s each) are in progress
at once, on the sequential runner never more than one -- from 2.10.0 on.
Before 2.10, ``.map()`` started all of a map's runs together even on
``SequentialTaskRunner`` (only ``.submit()`` calls were serialized), so the
demo reports the overlap there instead of failing on it.
"""
import sys
import time
from pathlib import Path

import prefect
from prefect import flow, task
from prefect.task_runners import ConcurrentTaskRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _concurrency import Probe, timed  # noqa: E402

try:  # 2.x only; 3.0 removed it
    from prefect.task_runners import SequentialTaskRunner
except ImportError:
    SequentialTaskRunner = None

WAREHOUSES = {
    "north": {"n1": 4, "n2": 7, "n3": 1},
    "south": {"s1": 10, "s2": 2},
    "east": {"e1": 3, "e2": 3, "e3": 5},
}
SHELVES = sum(len(s) for s in WAREHOUSES.values())  # 8
# 2.10.0 made SequentialTaskRunner run mapped runs one at a time.
MAP_IS_SEQUENTIAL = tuple(int(x) for x in prefect.__version__.split(".")[:2]) >= (2, 10)
WORK_SECONDS = 0.3
PROBE = Probe()


@task
def list_shelves(warehouse):
    return sorted(WAREHOUSES[warehouse])


@task
def count_shelf(shelf):
    with PROBE:
        time.sleep(WORK_SECONDS)  # stands in for a slow scan
        warehouse = {"n": "north", "s": "south", "e": "east"}[shelf[0]]
        return (shelf, WAREHOUSES[warehouse][shelf])


@task
def add_up(counts):
    return dict(counts)


def inventory():
    shelf_lists = list_shelves.map(sorted(WAREHOUSES))  # map 1: per warehouse
    counts = []
    for shelf_list in shelf_lists:  # map 2: per shelf, nested in map 1
        counts.extend(count_shelf.map(shelf_list))
    return add_up(counts)  # reduce


concurrent_inventory = flow(name="nested-mapping-concurrent", task_runner=ConcurrentTaskRunner())(inventory)


def fail(message):
    raise SystemExit("snippet_nested_mapping_modern: " + message)


def check(label, runner_flow, concurrent):
    PROBE.reset()
    counts, seconds = timed(runner_flow)
    want = {shelf: n for shelves in WAREHOUSES.values() for shelf, n in shelves.items()}
    if counts != want:
        fail("%s: counted %r, expected %r" % (label, counts, want))
    serial = SHELVES * WORK_SECONDS
    print("%s: %d shelves, %d items, peak %d at once, %.2fs (serial work %.1fs)"
          % (label, len(counts), sum(counts.values()), PROBE.peak, seconds, serial))
    if concurrent and PROBE.peak < 2:
        fail("%s: the shelf runs never overlapped" % label)
    if not concurrent and MAP_IS_SEQUENTIAL:
        if PROBE.peak != 1:
            fail("%s: %d shelf runs overlapped on a sequential runner" % (label, PROBE.peak))
        if seconds < serial:
            fail("%s: took %.2fs, less than the serial %.1fs" % (label, seconds, serial))
    elif not concurrent:
        print("  (Prefect %s: before 2.10 a .map() on SequentialTaskRunner still "
              "overlapped its runs)" % prefect.__version__)
    return seconds


def main():
    check("ConcurrentTaskRunner", concurrent_inventory, concurrent=True)
    if SequentialTaskRunner is not None:
        sequential = flow(name="nested-mapping-sequential", task_runner=SequentialTaskRunner())(inventory)
        check("SequentialTaskRunner", sequential, concurrent=False)
    else:
        print("SequentialTaskRunner: not in this Prefect (removed in 3.0)")
    print("snippet_nested_mapping_modern: ok")


if __name__ == "__main__":
    main()
