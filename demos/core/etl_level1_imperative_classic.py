"""Evolving ETL, level 1 again: the imperative API (Prefect "Core" API, 0.x/1.x).

The same sales pipeline as etl_level1_classic.py, built the other way the
classic API allowed: Task *classes* and explicit edges instead of decorated
functions called inside ``with Flow(...)``.

What this shows:
- A task is a subclass of ``prefect.Task`` with a ``run()`` method; its
  settings (name, retries, ...) go to ``Task.__init__``, so one class can be
  instantiated several times with different settings.
- ``flow.set_dependencies(task, upstream_tasks=[...], keyword_tasks={...})``
  wires a task in: ``keyword_tasks`` maps ``run()`` arguments to the tasks
  whose results feed them (data edges); ``upstream_tasks`` only orders.
- ``flow.add_edge(upstream, downstream, key="arg")`` adds one edge; without
  ``key`` it is a pure ordering edge ("run after"), no data is passed.
- Both build exactly the graph that the functional API builds; the demo
  checks the edges (which carry data, which only order) before running.

The functional API is a thin layer over this one: ``@task`` makes a
FunctionTask and calling it inside ``with Flow`` calls
``flow.set_dependencies`` for you.

Run it with:  python demos/core/etl_level1_imperative_classic.py
"""
import csv
import io

from prefect import Flow, Task

RAW_CSV = """order_id,store,amount
1,north,12.50
2,south,40.00
3,north,7.25
4,east,19.99
5,south,5.01
6,north,30.25
"""
EXPECTED = {"east": 19.99, "north": 50.0, "south": 45.01}
WAREHOUSE = {}
AUDIT_LOG = []


class Extract(Task):
    def run(self):
        return list(csv.DictReader(io.StringIO(RAW_CSV)))


class Transform(Task):
    def run(self, rows):
        totals = {}
        for row in rows:
            totals[row["store"]] = totals.get(row["store"], 0.0) + float(row["amount"])
        return {store: round(total, 2) for store, total in totals.items()}


class Load(Task):
    def __init__(self, table, **kwargs):
        # Task settings are constructor arguments; extra ones are our own.
        self.table = table
        super().__init__(**kwargs)

    def run(self, totals):
        self.table.update(totals)
        return len(totals)


class Audit(Task):
    def run(self):
        # Takes no data: it only has to run after the load.
        AUDIT_LOG.append("warehouse has %d stores" % len(WAREHOUSE))
        return AUDIT_LOG[-1]


extract = Extract(name="extract")
transform = Transform(name="transform")
load = Load(WAREHOUSE, name="load")
audit = Audit(name="audit")

flow = Flow("etl-level1-imperative-classic")
# transform(rows=extract()): a data edge with key "rows"
flow.set_dependencies(task=transform, keyword_tasks={"rows": extract})
# load(totals=transform()): the same, one edge at a time
flow.add_edge(upstream_task=transform, downstream_task=load, key="totals")
# audit runs after load but receives nothing from it: an ordering edge
flow.set_dependencies(task=audit, upstream_tasks=[load])


def fail(message):
    raise SystemExit("etl_level1_imperative_classic: " + message)


def main():
    edges = {(e.upstream_task.name, e.downstream_task.name, e.key) for e in flow.edges}
    expected_edges = {
        ("extract", "transform", "rows"),
        ("transform", "load", "totals"),
        ("load", "audit", None),
    }
    if edges != expected_edges:
        fail("edges are %r, expected %r" % (sorted(edges, key=str), sorted(expected_edges, key=str)))
    order = [t.name for t in flow.sorted_tasks()]
    if order != ["extract", "transform", "load", "audit"]:
        fail("topological order is %r" % (order,))
    print("graph: %s" % " -> ".join(order))

    state = flow.run()
    if not state.is_successful():
        fail("flow run was not successful: %r" % (state,))
    if state.result[transform].result != EXPECTED or WAREHOUSE != EXPECTED:
        fail("warehouse holds %r, expected %r" % (WAREHOUSE, EXPECTED))
    if state.result[audit].result != "warehouse has 3 stores" or len(AUDIT_LOG) != 1:
        fail("audit ran %r, expected once after the load" % (AUDIT_LOG,))
    print("etl_level1_imperative_classic: ok, loaded %r; %s" % (WAREHOUSE, AUDIT_LOG[0]))


if __name__ == "__main__":
    main()
