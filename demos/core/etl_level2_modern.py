"""Evolving ETL, level 2: parameters, branching and mapping, Prefect 2.x/3.x.

Level 1 (etl_level1_modern.py) ran a fixed pipeline. Level 2 makes it
configurable and data-driven:

- **Flow parameters with type validation.** The flow function's own
  signature is its parameter schema. Type hints are enforced by pydantic
  when the flow is called: ``fx_rate="0.5"`` is coerced to the float 0.5, and
  ``min_total="lots"`` makes the call fail with ``ParameterTypeError``
  before any task runs (turn this off with ``@flow(validate_parameters=False)``).
  Classic 1.x declared ``Parameter("fx_rate", default=1.0)`` objects inside
  ``with Flow(...)`` and did no type checking.
- **A plain-Python conditional branch.** Task calls return real values, so
  ``if`` works on them. Classic needed ``case(...)``/``merge(...)`` tasks,
  because the flow body was only *building* a graph.
- **Mapping.** ``price_order.map(orders)`` starts one task run per element
  and returns futures at once. Three shapes are shown:
  * fan-out over the regions (``extract_region.map(regions)``);
  * *nested* mapping: one ``.map()`` per region, each over the list that
    region's extract returned. ``.map()`` accepts a future and waits for
    its value, so no explicit ``.result()`` is needed;
  * ``unmapped(fx_rate)``: the same value for every mapped run instead of
    being iterated over (the same spelling as classic ``unmapped``).
  Then every priced future is fanned in to one ``load`` call.

``unmapped`` is importable from 2.0.1 on (not in 2.0.0), so this demo needs
2.0.1+.
It runs unchanged on 2.x and 3.x.

Run it with:  python demos/core/etl_level2_modern.py
"""
import threading
from typing import List

from prefect import flow, task, unmapped
from prefect.exceptions import ParameterTypeError

# Each region's order API: (order id, quantity, unit price in cents).
REGIONS = {
    "eu": [("E-1", 3, 250), ("E-2", 1, 1999)],
    "us": [("U-1", 12, 75), ("U-2", 2, 500), ("U-3", 1, 50)],
    "apac": [("P-1", 4, 1000)],
}

WAREHOUSE = {}
CALLS = {"tag": 0, "price": 0}  # how many task runs of each kind ran
_lock = threading.Lock()  # mapped runs execute in worker threads


def count(kind):
    with _lock:
        CALLS[kind] += 1


@task
def extract_region(region):
    return list(REGIONS[region])


@task
def price_order(order, fx_rate):
    count("price")
    order_id, qty, cents = order
    return (order_id, round(qty * cents / 100 * fx_rate, 2))


@task
def drop_small(priced, min_total):
    return [(order_id, total) for order_id, total in priced if total >= min_total]


@task
def tag_as_large_batch(rows):
    count("tag")
    return [(order_id + "*", total) for order_id, total in rows]


@task
def load(rows):
    WAREHOUSE.clear()
    WAREHOUSE.update(dict(rows))
    return len(rows)


@flow(name="etl-level2-modern")
def etl(regions: List[str] = ["eu", "us"], fx_rate: float = 1.0, min_total: float = 0.0):
    # Fan out: one extract per region, futures back at once.
    per_region = extract_region.map(regions)

    # Nested mapping: for each region's future, map over the list it will
    # hold; fx_rate is passed unchanged to every run.
    priced = []
    for region_future in per_region:
        priced.extend(price_order.map(region_future, fx_rate=unmapped(fx_rate)))

    # Fan in: a normal task call with a list of futures gets their values.
    kept = drop_small(priced, min_total)

    # A plain Python branch on a real value.
    if len(kept) > 3:
        kept = tag_as_large_batch(kept)
    return load(kept)


def expected_rows(regions, fx_rate, min_total, large_tag=True):
    rows = {}
    for region in regions:
        for order_id, qty, cents in REGIONS[region]:
            total = round(qty * cents / 100 * fx_rate, 2)
            if total >= min_total:
                rows[order_id] = total
    if large_tag and len(rows) > 3:
        rows = {k + "*": v for k, v in rows.items()}
    return rows


def fail(message):
    raise SystemExit("etl_level2_modern: " + message)


def check_run(label, kwargs, want_rows, want_tags, want_prices):
    CALLS.update(tag=0, price=0)
    loaded = etl(**kwargs)
    if WAREHOUSE != want_rows or loaded != len(want_rows):
        fail("%s: loaded %r rows %r, expected %r" % (label, loaded, WAREHOUSE, want_rows))
    if CALLS["tag"] != want_tags:
        fail("%s: the large-batch branch ran %d times, expected %d"
             % (label, CALLS["tag"], want_tags))
    if CALLS["price"] != want_prices:
        fail("%s: %d mapped price runs, expected %d" % (label, CALLS["price"], want_prices))
    print("%s: %d rows %r" % (label, loaded, WAREHOUSE))


def main():
    # Defaults: eu + us = 5 orders, more than 3, so the branch is taken.
    check_run("defaults", {}, expected_rows(["eu", "us"], 1.0, 0.0), 1, 5)

    # Strings are coerced to the annotated types; the filter leaves 2 rows,
    # so the branch is skipped.
    kwargs = {"regions": ["eu", "apac"], "fx_rate": "0.5", "min_total": "5"}
    want = expected_rows(["eu", "apac"], 0.5, 5.0)
    if len(want) > 3:
        fail("test data is wrong: expected at most 3 rows, got %r" % want)
    check_run("coerced", kwargs, want, 0, 3)

    # A value that cannot be coerced: the flow fails before any task runs.
    CALLS.update(tag=0, price=0)
    print("calling the flow with min_total='lots' (a validation traceback is expected)")
    try:
        etl(min_total="lots")
    except ParameterTypeError as exc:
        print("rejected: %s" % str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - report what we got instead
        fail("bad parameter raised %s, not ParameterTypeError: %s" % (type(exc).__name__, exc))
    else:
        fail("the flow accepted min_total='lots'")
    if CALLS["price"]:
        fail("tasks ran although the parameters were invalid")

    print("etl_level2_modern: ok")


if __name__ == "__main__":
    main()
