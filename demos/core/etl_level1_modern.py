"""Evolving ETL, level 1: extract -> transform -> load, Prefect 2.x/3.x API.

Level 1 of the evolving-ETL tutorial: the smallest honest pipeline. A fake
"orders API" is extracted, each order is priced in a transform step, and
the result is loaded into an in-memory warehouse table.

What this shows about the modern (2.x/3.x) API:
- ``@task`` turns a plain function into a task; ``@flow`` turns a plain
  function into a flow. The flow body *is* the pipeline: there is no
  graph-building step (classic ``with Flow(...)``) and no ``flow.run()``.
- Calling a task inside a flow runs it right away and returns its value,
  so data passes between steps as ordinary Python values.
- Calling the flow runs it and returns the flow function's return value;
  a failing task makes the call raise.
- ``return_state=True`` asks for the final State instead of the value, which
  is how you inspect a run after the fact (classic ``flow.run()`` always
  returned a State).

What changed from the classic telling (etl_level1_classic.py): the classic
API built a DAG first and ran it later; here the DAG is discovered as the
code runs. The classic imperative API (``Task`` subclasses wired with
``flow.set_dependencies``) has no counterpart in this file: see
etl_level1_imperative_modern.py for the closest one.

The same file runs unchanged on 2.x and 3.x.

Run it with:  python demos/core/etl_level1_modern.py
"""
from prefect import flow, task

# The "API" we extract from: order id -> (quantity, unit price in cents).
ORDERS_API = {
    "A-1": (3, 250),
    "A-2": (1, 1999),
    "A-3": (12, 75),
}
# What the warehouse must hold after one run: order id -> total in dollars.
EXPECTED = {"A-1": 7.5, "A-2": 19.99, "A-3": 9.0}

WAREHOUSE = {}  # stands in for a database table


@task
def extract():
    # A real pipeline would call an API here; we stay offline.
    return [
        {"order_id": order_id, "quantity": qty, "unit_cents": cents}
        for order_id, (qty, cents) in sorted(ORDERS_API.items())
    ]


@task
def transform(orders):
    return [
        {"order_id": o["order_id"], "total": o["quantity"] * o["unit_cents"] / 100}
        for o in orders
    ]


@task
def load(rows):
    for row in rows:
        WAREHOUSE[row["order_id"]] = row["total"]
    return len(rows)


@flow(name="etl-level1-modern")
def etl():
    orders = extract()  # runs now: a plain list comes back
    rows = transform(orders)
    loaded = load(rows)
    return loaded


def fail(message):
    raise SystemExit("etl_level1_modern: " + message)


def main():
    # 1. The everyday way: call the flow, get its return value.
    loaded = etl()
    if loaded != len(EXPECTED):
        fail("load reported %r rows, expected %d" % (loaded, len(EXPECTED)))
    if WAREHOUSE != EXPECTED:
        fail("warehouse holds %r, expected %r" % (WAREHOUSE, EXPECTED))

    # 2. The same flow again, asking for its final State this time.
    WAREHOUSE.clear()
    state = etl(return_state=True)
    if not state.is_completed():
        fail("second run ended %s, not Completed" % state.name)
    if state.result() != len(EXPECTED):
        fail("the state's result is %r" % (state.result(),))
    if WAREHOUSE != EXPECTED:
        fail("after the second run the warehouse holds %r" % (WAREHOUSE,))

    print("etl_level1_modern: ok, loaded %d rows: %r" % (loaded, WAREHOUSE))


if __name__ == "__main__":
    main()
