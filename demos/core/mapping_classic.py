"""Mapping (fan-out / fan-in), Prefect "Core" API (0.x and 1.x).

What this shows about the classic (0.x/1.x) API:
- ``task.map(iterable)`` creates one *child* task run per element, decided at
  run time from the upstream result (here: however many ids extract returns).
- ``unmapped(x)`` passes the same value to every child instead of mapping
  over it.
- A normal (non-mapped) task downstream of a mapped one receives the list of
  all children's results: that is the "reduce" step.
- After ``flow.run()``, the mapped task's State is a ``Mapped`` state whose
  ``map_states`` holds one State per child, so each child can be checked.

In 2.x/3.x ``.map()`` still exists but returns futures inside a ``@flow``
function; see mapping_modern.py.

Run it with:  python demos/core/mapping_classic.py
"""
from prefect import Flow, task, unmapped

ORDER_IDS = [101, 102, 103, 104, 105]
PRICES = {101: 2.5, 102: 4.0, 103: 10.0, 104: 0.5, 105: 3.0}
QUANTITY = 2
EXPECTED_TOTAL = sum(PRICES[i] * QUANTITY for i in ORDER_IDS)  # 40.0


@task
def list_orders():
    return list(ORDER_IDS)


@task
def price_order(order_id, quantity):
    # Runs once per order id: one child task run per element of the list.
    return PRICES[order_id] * quantity


@task
def total(amounts):
    # Receives the list of all mapped children's results, in input order.
    return sum(amounts)


with Flow("mapping-classic") as flow:
    orders = list_orders()
    # Map over the orders; the quantity is the same for every child.
    amounts = price_order.map(orders, quantity=unmapped(QUANTITY))
    grand_total = total(amounts)


def main():
    state = flow.run()
    if not state.is_successful():
        raise SystemExit("mapping_classic: flow run was not successful: %r" % (state,))

    # One child State per mapped element, each of which must have succeeded.
    children = state.result[amounts].map_states
    if len(children) != len(ORDER_IDS):
        raise SystemExit(
            "mapping_classic: %d mapped children, expected %d"
            % (len(children), len(ORDER_IDS))
        )
    failed = [i for i, child in enumerate(children) if not child.is_successful()]
    if failed:
        raise SystemExit("mapping_classic: mapped children %r did not succeed" % (failed,))
    child_results = [child.result for child in children]
    expected_children = [PRICES[i] * QUANTITY for i in ORDER_IDS]
    if child_results != expected_children:
        raise SystemExit(
            "mapping_classic: children returned %r, expected %r"
            % (child_results, expected_children)
        )

    result = state.result[grand_total].result
    if result != EXPECTED_TOTAL:
        raise SystemExit(
            "mapping_classic: total is %r, expected %r" % (result, EXPECTED_TOTAL)
        )
    print(
        "mapping_classic: ok, %d mapped children, total %r" % (len(children), result)
    )


if __name__ == "__main__":
    main()
