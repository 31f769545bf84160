"""Evolving ETL, level 3 in Prefect 3.x: cache policies and transactions.

The same robustness story as etl_level3_modern.py (results, caching, retries,
carrying on after a partial failure), told with what Prefect 3.0 added:

- **Cache policies instead of cache key functions.** ``cache_policy=...``
  says *what* a cache key is made of, and policies add up:
  ``INPUTS`` (the task's arguments), ``TASK_SOURCE`` (the task's code),
  ``FLOW_PARAMETERS``, ``RUN_ID``. 3.x caches by default
  (``INPUTS + TASK_SOURCE + RUN_ID``: only within one flow run); the demo
  shows why ``TASK_SOURCE`` matters: with ``INPUTS`` alone, a *new version*
  of a task, called with the same arguments, is served the old version's
  cached value. ``cache_expiration`` still bounds how long a key is valid.
  (2.x's ``cache_key_fn=task_input_hash`` still works in 3.x and means
  roughly ``INPUTS``.)
- **Results.** Caching in 3.x *is* a stored result plus a record under the
  cache key, so any task with a cache policy persists its result, into the
  flow's ``result_storage`` (a block that 3.x requires to be saved first).
- **Transactions.** ``with transaction():`` groups task runs so that they
  succeed or fail together: if anything inside raises, the transaction is
  rolled back and each completed task's ``@task.on_rollback`` hook undoes its
  side effect. Here a staging file is written, validation then fails, and
  the rollback hook deletes the file again; a valid batch is committed and
  its file stays.
- **Retries and partial failure** use the same API as 2.x: ``retries`` /
  ``retry_delay_seconds``, and ``allow_failure`` + ``wait_for`` for a report
  that runs even though one mapped load failed.

1.x had none of this: ``cache_for``/``cache_validator`` and the ``target``
template were its caching, and there was no transaction/rollback concept.

Needs: Prefect 3.0+, DEMO_STORAGE_DIR (a temporary folder otherwise), a
Prefect API (PREFECT_API_URL, or Prefect's temporary local one).
"""
import datetime
import json
import os
import tempfile
import threading
import uuid

from prefect import flow, task, unmapped
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.context import get_run_context
from prefect.filesystems import LocalFileSystem
from prefect.transactions import get_transaction, transaction
from prefect.utilities.annotations import allow_failure

STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(prefix="etl-results-")
STAGING_DIR = tempfile.mkdtemp(prefix="etl-staging-")
TOKEN = uuid.uuid4().hex[:8]

SOURCES = ["shop", "marketplace", "legacy-erp"]
BROKEN_SOURCE = "legacy-erp"
ORDERS = [("A-1", 3, 250), ("A-2", 1, 1999), ("A-3", 12, 75)]
ONE_HOUR = datetime.timedelta(hours=1)

CALLS = {}
ROLLED_BACK = []
_lock = threading.Lock()
ATTEMPTS = {}  # flow run id -> extract attempts in that run


def count(kind):
    with _lock:
        CALLS[kind] = CALLS.get(kind, 0) + 1


@task(retries=2, retry_delay_seconds=1)
def extract(batch):
    count("extract")
    # Fail on the first attempt of each flow run's extract, succeed on the
    # retry. (Counted here: the run context's task_run.run_count did not
    # follow the retries on 3.0.0.)
    flow_run_id = get_run_context().task_run.flow_run_id
    with _lock:
        ATTEMPTS[flow_run_id] = ATTEMPTS.get(flow_run_id, 0) + 1
        first_attempt = ATTEMPTS[flow_run_id] == 1
    if first_attempt:
        raise ConnectionError("orders API timed out (first attempt always does)")
    return [(order_id + "@" + batch, qty, cents) for order_id, qty, cents in ORDERS]


# Two versions of the pricing step, as if the code had been edited between
# deployments (v2 adds 10% tax). With INPUTS alone they share cache keys.
@task(cache_policy=INPUTS, cache_expiration=ONE_HOUR)
def price_v1_inputs_only(orders):
    count("v1_inputs_only")
    return {order_id: round(qty * cents / 100, 2) for order_id, qty, cents in orders}


@task(cache_policy=INPUTS, cache_expiration=ONE_HOUR)
def price_v2_inputs_only(orders):
    count("v2_inputs_only")
    return {order_id: round(qty * cents / 100 * 1.1, 2) for order_id, qty, cents in orders}


@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=ONE_HOUR)
def price_v1(orders):
    count("v1")
    return {order_id: round(qty * cents / 100, 2) for order_id, qty, cents in orders}


@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=ONE_HOUR)
def price_v2(orders):
    count("v2")
    return {order_id: round(qty * cents / 100 * 1.1, 2) for order_id, qty, cents in orders}


@task
def stage(totals, batch):
    path = os.path.join(STAGING_DIR, batch + ".json")
    with open(path, "w") as f:
        json.dump(totals, f)
    get_transaction().set("staged_path", path)  # for the rollback hook
    return path


@stage.on_rollback
def unstage(txn):
    path = txn.get("staged_path")
    os.remove(path)
    ROLLED_BACK.append(os.path.basename(path))


@task
def validate(totals):
    if any(total <= 0 for total in totals.values()):
        raise ValueError("batch has non-positive totals: %r" % totals)
    return True


@task
def load(totals, source):
    count("load")
    if source == BROKEN_SOURCE:
        raise RuntimeError("%s rejected the batch" % source)
    return {"source": source, "rows": len(totals)}


@task
def report(results):
    ok = [r["source"] for r in results if not isinstance(r, BaseException)]
    failed = [str(r) for r in results if isinstance(r, BaseException)]
    return {"loaded": ok, "failed": failed}


def stage_and_validate(totals, batch):
    """Stage then validate, all or nothing: True if committed."""
    try:
        with transaction():
            stage(totals, batch)
            validate(totals)
    except ValueError:
        return False
    return True


@flow(name="etl-level3-3x")
def etl(batch):
    orders = extract(batch)

    # Cache keys: the same inputs, two code versions, two policies.
    p1 = price_v1_inputs_only(orders, return_state=True)
    p2 = price_v2_inputs_only(orders, return_state=True)
    s1 = price_v1(orders, return_state=True)
    s2 = price_v2(orders, return_state=True)
    totals = s2.result()

    committed = stage_and_validate(totals, batch)
    bad = dict(totals, **{"A-0@" + batch: 0.0})
    rejected = not stage_and_validate(bad, batch + "-bad")

    loads = load.map(unmapped(totals), SOURCES)
    summary = report(allow_failure(loads), wait_for=[loads[0]], return_state=True)
    return {
        "states": [p1.name, p2.name, s1.name, s2.name],
        "values": [p1.result(), p2.result(), s1.result(), s2.result()],
        "committed": committed,
        "rejected": rejected,
        "load_states": [f.state.name for f in loads],
        "summary": summary.result(),
    }


def fail(message):
    raise SystemExit("etl_level3_3x: " + message)


def main():
    storage = LocalFileSystem(basepath=STORAGE_DIR)
    storage.save("etl-level3-3x-" + TOKEN, overwrite=True)  # 3.x: must be saved
    stored_etl = etl.with_options(result_storage=storage)

    batch = "batch-" + TOKEN
    first = stored_etl(batch)
    second = stored_etl(batch)

    if CALLS.get("extract") != 4:
        fail("extract ran %r attempts over 2 runs, expected 4" % CALLS.get("extract"))

    # Run 1: v1 (INPUTS only) computed; v2 (INPUTS only) got v1's record, a
    # stale value; with TASK_SOURCE both versions computed their own.
    if first["states"] != ["Completed", "Cached", "Completed", "Completed"]:
        fail("first run states %r" % first["states"])
    v1_value, stale, s1_value, s2_value = first["values"]
    if stale != v1_value:
        fail("INPUTS-only v2 returned %r, expected v1's cached %r" % (stale, v1_value))
    if s2_value == s1_value or s2_value != {k: round(v * 1.1, 2) for k, v in s1_value.items()}:
        fail("INPUTS+TASK_SOURCE v2 returned %r" % (s2_value,))
    # Run 2: everything comes from the cache, across flow runs.
    if second["states"] != ["Cached"] * 4 or second["values"] != first["values"]:
        fail("second run states %r values %r" % (second["states"], second["values"]))
    want_calls = {"v1_inputs_only": 1, "v2_inputs_only": 0, "v1": 1, "v2": 1}
    got_calls = {k: CALLS.get(k, 0) for k in want_calls}
    if got_calls != want_calls:
        fail("pricing function calls %r, expected %r" % (got_calls, want_calls))

    # Transactions: the good batch's staging file stayed, the bad one was
    # written and then removed by the rollback hook, once per run.
    for label, out in (("first", first), ("second", second)):
        if not (out["committed"] and out["rejected"]):
            fail("%s run: committed=%r rejected=%r" % (label, out["committed"], out["rejected"]))
    staged = sorted(os.listdir(STAGING_DIR))
    if staged != [batch + ".json"]:
        fail("staging folder holds %r, expected only the committed batch" % staged)
    if ROLLED_BACK != [batch + "-bad.json"] * 2:
        fail("rollback hook ran for %r" % ROLLED_BACK)

    # Partial failure.
    want_states = ["Failed" if s == BROKEN_SOURCE else "Completed" for s in SOURCES]
    for label, out in (("first", first), ("second", second)):
        if out["load_states"] != want_states:
            fail("%s run load states %r" % (label, out["load_states"]))
        if out["summary"]["loaded"] != [s for s in SOURCES if s != BROKEN_SOURCE]:
            fail("%s run report %r" % (label, out["summary"]))
        if len(out["summary"]["failed"]) != 1 or BROKEN_SOURCE not in out["summary"]["failed"][0]:
            fail("%s run report %r" % (label, out["summary"]))

    stored = [n for _, _, names in os.walk(STORAGE_DIR) for n in names]
    if not stored:
        fail("no results were persisted under %s" % STORAGE_DIR)

    print("run 1 pricing states: %s" % first["states"])
    print("run 2 pricing states: %s" % second["states"])
    print("rolled back: %s; committed: %s" % (ROLLED_BACK, staged))
    print("etl_level3_3x: ok, %d result files in %s" % (len(stored), STORAGE_DIR))


if __name__ == "__main__":
    main()
