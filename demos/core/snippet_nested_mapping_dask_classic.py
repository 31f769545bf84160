"""Snippet: nested mapping on a LocalDaskExecutor (Prefect "Core" API, 0.14+).

What this shows:
- ``list_stores.map(regions)`` returns one list per region: a list of lists.
- ``fetch.map(flatten(stores))`` maps over every store of every region
  (``flatten`` removes one level of nesting).
- ``adjust.map(sales)`` maps over a mapped result: child *i* takes child
  *i*'s output, and with dask it can start as soon as that one child is done.
- ``flow.run(executor=LocalDaskExecutor(scheduler="threads", num_workers=4))``
  runs independent children in parallel threads (the default LocalExecutor
  runs them one by one). The demo records how many ``fetch`` children were
  running at the same moment and checks it was more than one.

``prefect.executors.LocalDaskExecutor`` is the 0.14+ path; before that it
was ``prefect.engine.executors.LocalDaskExecutor`` (that alias stayed, with a
deprecation warning, through 1.x).
"""
import threading
import time

from prefect import Flow, flatten, task
from prefect.executors import LocalDaskExecutor

REGIONS = {"eu": ["lisbon", "oslo", "berlin"], "us": ["austin", "boston"], "apac": ["osaka", "perth", "pune"]}
SALES = {"lisbon": 10, "oslo": 20, "berlin": 30, "austin": 40, "boston": 50, "osaka": 60, "perth": 70, "pune": 80}

LOCK = threading.Lock()
ACTIVE = {"now": 0, "peak": 0}


@task
def list_regions():
    return sorted(REGIONS)


@task
def list_stores(region):
    return REGIONS[region]


@task
def fetch(store):
    with LOCK:
        ACTIVE["now"] += 1
        ACTIVE["peak"] = max(ACTIVE["peak"], ACTIVE["now"])
    time.sleep(0.3)  # stands in for a slow API call
    with LOCK:
        ACTIVE["now"] -= 1
    return SALES[store]


@task
def adjust(amount):
    return amount * 2


@task
def summarize(amounts):
    return sum(amounts)


with Flow("snippet-nested-mapping-dask-classic") as flow:
    stores = list_stores.map(list_regions())  # [[apac stores], [eu stores], [us stores]]
    sales = fetch.map(flatten(stores))  # one child per store: 8
    adjusted = adjust.map(sales)  # map over a mapped result: 8
    total = summarize(adjusted)


def fail(message):
    raise SystemExit("snippet_nested_mapping_dask_classic: " + message)


def main():
    started = time.monotonic()
    state = flow.run(executor=LocalDaskExecutor(scheduler="threads", num_workers=4))
    elapsed = time.monotonic() - started
    if not state.is_successful():
        fail("flow run ended %r" % (state,))

    n_stores = sum(len(v) for v in REGIONS.values())
    counts = [len(state.result[t].map_states) for t in (stores, sales, adjusted)]
    if counts != [len(REGIONS), n_stores, n_stores]:
        fail("mapped children per level %r, expected %r" % (counts, [len(REGIONS), n_stores, n_stores]))
    expected_order = [SALES[s] for r in sorted(REGIONS) for s in REGIONS[r]]
    if state.result[sales].result != expected_order:
        fail("flattened fetch results %r, expected %r" % (state.result[sales].result, expected_order))
    if state.result[total].result != 2 * sum(SALES.values()):
        fail("total %r, expected %r" % (state.result[total].result, 2 * sum(SALES.values())))
    if ACTIVE["peak"] < 2:
        fail("fetch children never overlapped (peak %d): the executor did not run them in parallel" % ACTIVE["peak"])
    print(
        "regions %d -> stores %d -> adjusted %d, total %d; up to %d fetches at once, %.2fs (%.1fs if serial)"
        % (counts[0], counts[1], counts[2], state.result[total].result, ACTIVE["peak"], elapsed, 0.3 * n_stores)
    )
    print("snippet_nested_mapping_dask_classic: ok")


if __name__ == "__main__":
    main()
