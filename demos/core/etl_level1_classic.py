"""Evolving ETL, level 1: extract -> transform -> load (Prefect "Core" API, 0.x/1.x).

The first level of the evolving-ETL story: a small sales pipeline written in
the *functional* API, run once with ``flow.run()``.

What this level shows:
- ``@task`` turns a plain function into a Task; calling it inside
  ``with Flow(...) as flow:`` does not run it but adds a node to the graph,
  and passing one task's output to another adds a data edge.
- ``flow.run()`` executes the graph in this process (no server, no agent)
  and returns the flow's final State; task failures do not raise, so the
  script checks ``state.is_successful()`` and the values itself.
- ``state.result`` maps every Task of the graph to its own State; a task's
  return value is that State's ``.result``.

The same flow, built with Task subclasses and explicit edges, is
etl_level1_imperative_classic.py; run from the command line with
``prefect run`` it is etl_cli_classic.py. Level 2 adds parameters, branching
and mapping.

Run it with:  python demos/core/etl_level1_classic.py
"""
import csv
import io

from prefect import Flow, task

# One day of orders; a real pipeline would read a file or an API.
RAW_CSV = """order_id,store,amount
1,north,12.50
2,south,40.00
3,north,7.25
4,east,19.99
5,south,5.01
6,north,30.25
"""
# What the warehouse must hold afterwards: the day's total per store.
EXPECTED = {"east": 19.99, "north": 50.0, "south": 45.01}

# Stands in for a database table, so the demo can check the side effect too.
WAREHOUSE = {}


@task
def extract():
    return list(csv.DictReader(io.StringIO(RAW_CSV)))


@task
def transform(rows):
    totals = {}
    for row in rows:
        totals[row["store"]] = totals.get(row["store"], 0.0) + float(row["amount"])
    return {store: round(total, 2) for store, total in totals.items()}


@task
def load(totals):
    WAREHOUSE.update(totals)
    return len(totals)


# Building the graph: nothing runs yet. Calling a task with another task's
# output records the edge extract -> transform -> load.
with Flow("etl-level1-classic") as flow:
    rows = extract()
    totals = transform(rows)
    loaded = load(totals)


def fail(message):
    raise SystemExit("etl_level1_classic: " + message)


def main():
    # Three tasks, two data edges, known before anything has run.
    if len(flow.tasks) != 3 or len(flow.edges) != 2:
        fail("graph has %d tasks / %d edges, expected 3 / 2" % (len(flow.tasks), len(flow.edges)))

    state = flow.run()
    if not state.is_successful():
        fail("flow run was not successful: %r" % (state,))

    # Every task's State is in state.result, keyed by the Task object.
    for t in (rows, totals, loaded):
        if not state.result[t].is_successful():
            fail("task %s ended %r" % (t.name, state.result[t]))
    if len(state.result[rows].result) != 6:
        fail("extract returned %r rows, expected 6" % (len(state.result[rows].result),))
    if state.result[totals].result != EXPECTED:
        fail("transform returned %r, expected %r" % (state.result[totals].result, EXPECTED))
    if state.result[loaded].result != 3 or WAREHOUSE != EXPECTED:
        fail("warehouse holds %r, expected %r" % (WAREHOUSE, EXPECTED))
    print("etl_level1_classic: ok, loaded %r" % (WAREHOUSE,))


if __name__ == "__main__":
    main()
