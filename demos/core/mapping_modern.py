"""Mapping (fan-out / fan-in), Prefect 2.x/3.x API.

The same story as mapping_classic.py: price every order in parallel, then
add the amounts up.

What this shows about the modern (2.x/3.x) API:
- Inside a ``@flow``, ``task.map(iterable)`` submits one task run per element
  to the flow's task runner (threads by default) and returns immediately
  with one *future* per element.
- ``task.submit(...)`` does the same for a single call.
- Futures can be passed straight into another task: Prefect waits for them
  and hands the task their values, so ``total.submit(amounts)`` is the
  "reduce" step, and it also tells Prefect that total depends on the mapped
  runs.
- ``future.result()`` blocks until the run is finished and returns its value
  (raising if the run failed) on both 2.x and 3.x.

Where 2.x and 3.x differ, and how this file copes:
- ``future.wait()`` returns the final State in 2.x but None in 3.x, where
  the State is read from ``future.state`` instead (see final_state below).
- In 2.x a flow waits for every submitted run before it returns; in 3.x it
  does not, so always resolve futures (``.result()``/``.wait()``) or pass
  them downstream, as done here.
- ``unmapped(value)`` (pass the same value to every mapped run) does not
  exist in 2.0.0 (it arrived in 2.0.1); this demo maps over a single
  iterable so that it also runs there.

Run it with:  python demos/core/mapping_modern.py
"""
from prefect import flow, task

ORDER_IDS = [101, 102, 103, 104, 105]
PRICES = {101: 2.5, 102: 4.0, 103: 10.0, 104: 0.5, 105: 3.0}
QUANTITY = 2
EXPECTED_AMOUNTS = [PRICES[i] * QUANTITY for i in ORDER_IDS]
EXPECTED_TOTAL = sum(EXPECTED_AMOUNTS)  # 40.0


@task
def list_orders():
    return list(ORDER_IDS)


@task
def price_order(order_id):
    # Runs once per order id: one task run per element of the list.
    return PRICES[order_id] * QUANTITY


@task
def total(amounts):
    # Receives the plain values of all mapped runs, in input order.
    return sum(amounts)


def final_state(future):
    """Wait for a future and return its final State, on 2.x and 3.x."""
    state = future.wait()  # 2.x: returns the State
    if state is None:  # 3.x: wait() returns None; the State is on .state
        state = future.state
    return state


@flow(name="mapping-modern")
def pricing():
    orders = list_orders()  # a plain call: runs now, returns the list
    amount_futures = price_order.map(orders)  # fan out: one future per order
    total_future = total.submit(amount_futures)  # fan in: waits for all of them

    states = [final_state(f) for f in amount_futures]
    failed = [i for i, s in enumerate(states) if not s.is_completed()]
    if failed:
        raise RuntimeError("mapped runs %r did not complete: %r" % (failed, states))
    amounts = [f.result() for f in amount_futures]
    return amounts, total_future.result()


def main():
    amounts, grand_total = pricing()
    if len(amounts) != len(ORDER_IDS):
        raise SystemExit(
            "mapping_modern: %d mapped runs, expected %d" % (len(amounts), len(ORDER_IDS))
        )
    if amounts != EXPECTED_AMOUNTS:
        raise SystemExit(
            "mapping_modern: mapped runs returned %r, expected %r"
            % (amounts, EXPECTED_AMOUNTS)
        )
    if grand_total != EXPECTED_TOTAL:
        raise SystemExit(
            "mapping_modern: total is %r, expected %r" % (grand_total, EXPECTED_TOTAL)
        )
    print("mapping_modern: ok, %d mapped runs, total %r" % (len(amounts), grand_total))


if __name__ == "__main__":
    main()
