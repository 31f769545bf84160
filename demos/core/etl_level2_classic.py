"""Evolving ETL, level 2: parameters, branching and mapping (Prefect "Core" API).

Level 1 loaded one fixed day of orders. Level 2 makes the pipeline take
inputs, fan out per store and per order, and choose what to do with the
result.

What changed from level 1:
- ``Parameter("stores", default=[...])`` is a task whose value comes from
  ``flow.run(parameters={...})`` (or a schedule, or the CLI); the same flow
  runs for different inputs.
- ``extract_store.map(stores)`` runs one child task per store; each child
  returns a *list* of orders, so the mapped result is a list of lists.
- ``clean.map(flatten(per_store))`` is nested mapping: ``flatten`` (0.12.6+) unpacks
  the list of lists so there is one child per *order*, across all stores.
  Without ``flatten``, ``count.map(per_store)`` maps over the stores.
- ``with case(task, value):`` (``from prefect import case``) makes the tasks
  inside run only when ``task``'s result equals ``value``; otherwise they
  end ``Skipped``. ``merge(a, b)`` returns whichever branch actually ran.

The demo runs the flow twice, with the default parameters (a big day: the
alert branch runs) and with only one store (a quiet day: the other branch
runs), and checks the mapped children and which branch was skipped.

Run it with:  python demos/core/etl_level2_classic.py
"""
from prefect import Flow, Parameter, case, flatten, task
from prefect.engine.state import Skipped
from prefect.tasks.control_flow import merge

ORDERS = {
    "north": ["12.50", " 7.25", "30.25 "],
    "south": ["40.00", "5.01"],
    "east": ["19.99", "60.01"],
}


@task
def extract_store(store):
    # One child run per store: returns that store's raw order amounts.
    return list(ORDERS[store])


@task
def count(orders):
    return len(orders)


@task
def clean(raw_amount):
    # One child run per order, whichever store it came from.
    return float(raw_amount.strip())


@task
def day_total(amounts):
    return round(sum(amounts), 2)


@task
def is_big_day(total, threshold):
    return total >= threshold


@task
def send_alert(total):
    return "ALERT: big day, %.2f in sales" % total


@task
def file_quietly(total):
    return "quiet day, %.2f in sales" % total


with Flow("etl-level2-classic") as flow:
    stores = Parameter("stores", default=["north", "south", "east"])
    threshold = Parameter("alert_threshold", default=100.0)

    per_store = extract_store.map(stores)  # [[...north...], [...south...], [...east...]]
    counts = count.map(per_store)  # mapped over the outer list: one per store
    amounts = clean.map(flatten(per_store))  # mapped over the inner items: one per order
    total = day_total(amounts)

    big = is_big_day(total, threshold)
    with case(big, True):
        alert = send_alert(total)
    with case(big, False):
        quiet = file_quietly(total)
    report = merge(alert, quiet)


def fail(message):
    raise SystemExit("etl_level2_classic: " + message)


def check_run(parameters, stores_used, ran, skipped, expected_report):
    state = flow.run(parameters=parameters)
    if not state.is_successful():
        fail("run with %r was not successful: %r" % (parameters, state))
    n_orders = sum(len(ORDERS[s]) for s in stores_used)

    store_children = state.result[per_store].map_states
    order_children = state.result[amounts].map_states
    if len(store_children) != len(stores_used):
        fail("%d store children, expected %d" % (len(store_children), len(stores_used)))
    if len(order_children) != n_orders:
        fail("%d order children after flatten, expected %d" % (len(order_children), n_orders))
    if state.result[counts].result != [len(ORDERS[s]) for s in stores_used]:
        fail("per-store counts %r" % (state.result[counts].result,))

    expected_total = round(sum(float(a) for s in stores_used for a in ORDERS[s]), 2)
    if state.result[total].result != expected_total:
        fail("day total %r, expected %r" % (state.result[total].result, expected_total))

    if not state.result[ran].is_successful() or isinstance(state.result[ran], Skipped):
        fail("branch %s should have run, it ended %r" % (ran.name, state.result[ran]))
    if not isinstance(state.result[skipped], Skipped):
        fail("branch %s should be Skipped, it ended %r" % (skipped.name, state.result[skipped]))
    if state.result[report].result != expected_report:
        fail("merged report %r, expected %r" % (state.result[report].result, expected_report))
    print(
        "stores %s: %d stores -> %d orders -> %.2f; ran %s, skipped %s: %s"
        % (stores_used, len(store_children), len(order_children), expected_total,
           ran.name, skipped.name, expected_report)
    )


def main():
    # Defaults: all three stores, 175.01 in sales >= 100 -> the alert branch.
    check_run({}, ["north", "south", "east"], alert, quiet, "ALERT: big day, 175.01 in sales")
    # One store: 45.01 < 100 -> the quiet branch; the parameter overrides the default.
    check_run({"stores": ["south"]}, ["south"], quiet, alert, "quiet day, 45.01 in sales")
    print("etl_level2_classic: ok")


if __name__ == "__main__":
    main()
