"""Evolving ETL, level 1 (imperative): a pipeline assembled at run time, 2.x/3.x.

The classic API had two ways to build a flow: the functional one
(``with Flow(...)``) and an *imperative* one, where you instantiated
``Task`` subclasses and wired them with ``flow.add_task`` /
``flow.set_dependencies(task, upstream_tasks=[...], keyword_tasks={...})``.
That second API is gone in 2.x/3.x: there is no graph object to add nodes
and edges to, and subclassing ``Task`` is not a supported way to write one.

What remains, and what this demo uses instead:
- ``Task(fn=..., name=...)`` (what ``@task`` does under the hood) and
  ``Flow(fn=..., name=...)`` build tasks and flows from plain functions at
  run time, for example from a pipeline spec read from configuration.
- ``task.with_options(...)`` makes a configured copy (name, retries, ...),
  the counterpart of passing settings to a classic Task's constructor.
- Edges are made by *calling* with ``.submit()``: passing one task's future
  as another's argument is a data dependency (classic ``keyword_tasks``);
  ``wait_for=[future]`` is an ordering-only dependency (classic
  ``upstream_tasks``). The task runner then respects both.

The pipeline spec below is plain data: step name, function, and which steps
feed it. The flow walks it in order and submits each step. The checks make
sure the values are right and that every step started only after the steps
it depends on had finished.

Runs unchanged on 2.x and 3.x.

Run it with:  python demos/core/etl_level1_imperative_modern.py
"""
import threading
import time

from prefect import Flow, Task

ORDERS_API = {"A-1": (3, 250), "A-2": (1, 1999), "A-3": (12, 75)}
EXPECTED = {"A-1": 7.5, "A-2": 19.99, "A-3": 9.0}

WAREHOUSE = {}
EVENTS = []  # (step, "start"/"end") in the order they happened
_lock = threading.Lock()


def record(step, what):
    with _lock:
        EVENTS.append((step, what))


# Plain functions: nothing Prefect-specific about them.
def extract_orders():
    record("extract", "start")
    time.sleep(0.2)  # pretend to wait on an API
    rows = [(k, q, c) for k, (q, c) in sorted(ORDERS_API.items())]
    record("extract", "end")
    return rows


def price_orders(orders):
    record("transform", "start")
    out = {order_id: qty * cents / 100 for order_id, qty, cents in orders}
    record("transform", "end")
    return out


def load_totals(totals):
    record("load", "start")
    time.sleep(0.2)
    WAREHOUSE.update(totals)
    record("load", "end")
    return len(totals)


def notify_done():
    # Needs no data from load, only that load has finished.
    record("notify", "start")
    done = "warehouse has %d rows" % len(WAREHOUSE)
    record("notify", "end")
    return done


# The spec: (step name, function, {argument: upstream step}, [ordering-only upstreams]).
PIPELINE = [
    ("extract", extract_orders, {}, []),
    ("transform", price_orders, {"orders": "extract"}, []),
    ("load", load_totals, {"totals": "transform"}, []),
    ("notify", notify_done, {}, ["load"]),
]


def build_tasks(spec):
    """The counterpart of instantiating classic Task objects."""
    tasks = {}
    for name, fn, _, _ in spec:
        t = Task(fn=fn, name=name)
        if name == "extract":
            # A configured copy, as a classic Task(max_retries=...) would be.
            t = t.with_options(retries=2, retry_delay_seconds=0)
        tasks[name] = t
    return tasks


def run_pipeline(spec):
    """The flow body: wire the steps by submitting them in spec order."""
    tasks = build_tasks(spec)
    futures = {}
    for name, _, data_edges, order_edges in spec:
        kwargs = {arg: futures[upstream] for arg, upstream in data_edges.items()}
        wait_for = [futures[upstream] for upstream in order_edges]
        futures[name] = tasks[name].submit(wait_for=wait_for, **kwargs)
    # Resolve every future before the flow returns (3.x does not wait for
    # unresolved futures; 2.x did).
    return {name: f.result() for name, f in futures.items()}


# The counterpart of Flow("name"): a flow object built from a function.
etl = Flow(fn=run_pipeline, name="etl-level1-imperative-modern")


def fail(message):
    raise SystemExit("etl_level1_imperative_modern: " + message)


def main():
    results = etl(PIPELINE)

    if WAREHOUSE != EXPECTED:
        fail("warehouse holds %r, expected %r" % (WAREHOUSE, EXPECTED))
    if results["load"] != len(EXPECTED):
        fail("load returned %r" % (results["load"],))
    if results["notify"] != "warehouse has %d rows" % len(EXPECTED):
        fail("notify saw %r: did it run before load finished?" % (results["notify"],))

    # Every step must have started after each of its upstreams ended.
    position = {event: i for i, event in enumerate(EVENTS)}
    for name, _, data_edges, order_edges in PIPELINE:
        for upstream in list(data_edges.values()) + order_edges:
            if position[(name, "start")] < position[(upstream, "end")]:
                fail("%s started before %s ended: %r" % (name, upstream, EVENTS))
    print(
        "etl_level1_imperative_modern: ok, %d steps in dependency order, "
        "warehouse %r" % (len(PIPELINE), WAREHOUSE)
    )


if __name__ == "__main__":
    main()
