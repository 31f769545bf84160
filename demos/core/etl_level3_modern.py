"""Evolving ETL, level 3: results, caching, retries, partial failure (2.6+/3.x).

Level 2 (etl_level2_modern.py) made the pipeline configurable. Level 3 makes
it robust, with the tools Prefect 2.x introduced (3.x still accepts them):

- **Result persistence.** ``persist_result=True`` writes each run's return
  value to *result storage*, here a ``LocalFileSystem`` block pointed at
  DEMO_STORAGE_DIR and given to the flow as ``result_storage``; tasks
  inherit it. Persisted results are what make caching across flow runs and
  reading a finished run's value back later possible.
  3.x insists that a block used as result storage is saved on the server
  first (``block.save(...)``); 2.x saved it for you, anonymously. Doing it
  explicitly, as here, works in both.
- **Caching by key.** ``cache_key_fn=task_input_hash`` computes a key from the
  task's inputs; a later run with the same key, before ``cache_expiration``,
  is not executed: its state is ``Cached`` and it returns the stored value.
  (3.x's own way is ``cache_policy``; see etl_level3_3x.py.)
- **Retries.** ``@task(retries=2, retry_delay_seconds=1)`` reruns a failed
  task run after a pause; the flaky extract below fails on its first
  attempt of every run and succeeds on its second.
- **Carrying on after a partial failure.** Each source is loaded by its own
  mapped run and one of them fails. ``allow_failure(futures)`` lets the report
  task run anyway and hands it each upstream's value, or the exception of
  the one that failed; ``wait_for=[...]`` orders it after the archive step
  without passing data; ``return_state=True`` returns the report's State
  instead of its value. The flow returns a plain value, so it ends Completed
  although one task run failed.

Classic 1.x had the same ideas with other names: ``checkpoint=True`` plus a
``Result`` class, ``cache_for``/``cache_validator`` (or ``target``),
``max_retries``/``retry_delay``, and triggers (``any_successful``) instead of
``allow_failure``.

``persist_result``/``result_storage`` and ``allow_failure`` appeared in 2.6.0,
but until 2.7.6 a task given ``allow_failure`` of a *failed* upstream could
not get that upstream's exception (``MissingResult``: the failed state's
data was not kept), so this demo needs 2.7.7+. Same file on 2.x and 3.x.

Needs: DEMO_STORAGE_DIR (a folder for results; a temporary one otherwise) and
a Prefect API (PREFECT_API_URL, or Prefect's temporary local one).
"""
import datetime
import os
import tempfile
import threading
import uuid

from prefect import flow, task, unmapped
from prefect.context import get_run_context
from prefect.filesystems import LocalFileSystem
from prefect.tasks import task_input_hash
from prefect.utilities.annotations import allow_failure

STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(prefix="etl-results-")
TOKEN = uuid.uuid4().hex[:8]  # keeps this run's cache keys and block apart

SOURCES = ["shop", "marketplace", "legacy-erp"]
BROKEN_SOURCE = "legacy-erp"  # its load always fails
ORDERS = [("A-1", 3, 250), ("A-2", 1, 1999), ("A-3", 12, 75)]

CALLS = {"extract": 0, "transform": 0, "load": 0}
_lock = threading.Lock()
ATTEMPTS = {}  # flow run id -> extract attempts in that run


def count(kind):
    with _lock:
        CALLS[kind] += 1


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


@task(cache_key_fn=task_input_hash, cache_expiration=datetime.timedelta(hours=1))
def transform(orders):
    count("transform")
    return {order_id: qty * cents / 100 for order_id, qty, cents in orders}


@task
def load(totals, source):
    count("load")
    if source == BROKEN_SOURCE:
        raise RuntimeError("%s rejected the batch" % source)
    return {"source": source, "rows": len(totals)}


@task
def archive(orders):
    return len(orders)


@task
def report(results):
    # With allow_failure, a failed upstream arrives as its exception.
    ok = [r["source"] for r in results if not isinstance(r, BaseException)]
    failed = [str(r) for r in results if isinstance(r, BaseException)]
    return {"loaded": ok, "failed": failed}


def final_state(future):
    """A future's final State: 2.x wait() returns it, 3.x has it on .state."""
    state = future.wait()
    return future.state if state is None else state


def etl(batch):
    """The flow body; main() makes it a flow once its result storage exists."""
    orders = extract(batch)
    totals = transform(orders, return_state=True)  # the State, to see "Cached"
    archived = archive.submit(orders)
    loads = load.map(unmapped(totals.result()), SOURCES)
    summary = report(allow_failure(loads), wait_for=[archived], return_state=True)
    return {
        "transform_state": totals.name,
        "totals": totals.result(),
        "load_states": [final_state(f).name for f in loads],
        "summary_state": summary.name,
        "summary": summary.result(),
    }


def fail(message):
    raise SystemExit("etl_level3_modern: " + message)


def files_under(folder):
    return sorted(
        os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
    )


def main():
    storage = LocalFileSystem(basepath=STORAGE_DIR)
    storage.save("etl-level3-" + TOKEN, overwrite=True)
    # (flow(...)(fn) rather than a decorator, because the storage block has to
    # be saved first; Flow.with_options would do too, except on 2.6.0, where
    # it mixed up its result settings.)
    stored_etl = flow(name="etl-level3-modern", persist_result=True, result_storage=storage)(etl)

    batch = "batch-" + TOKEN
    first = stored_etl(batch, return_state=True)
    second = stored_etl(batch, return_state=True)
    for label, state in (("first", first), ("second", second)):
        if not state.is_completed():
            fail("%s run ended %s; a partial failure should not fail the flow" % (label, state.name))
    one, two = first.result(), second.result()

    # Retries: every run's extract failed once and then succeeded.
    if CALLS["extract"] != 4:
        fail("extract ran %d attempts over 2 runs, expected 4 (2 each)" % CALLS["extract"])

    # Caching: the second run's transform came from the cache.
    if CALLS["transform"] != 1:
        fail("transform ran %d times, expected once (then cached)" % CALLS["transform"])
    if (one["transform_state"], two["transform_state"]) != ("Completed", "Cached"):
        fail("transform states %r / %r" % (one["transform_state"], two["transform_state"]))
    if one["totals"] != two["totals"] or len(one["totals"]) != len(ORDERS):
        fail("cached totals %r differ from %r" % (two["totals"], one["totals"]))

    # Partial failure: two loads completed, one failed, the report still ran.
    for label, out in (("first", one), ("second", two)):
        want_states = ["Failed" if s == BROKEN_SOURCE else "Completed" for s in SOURCES]
        if out["load_states"] != want_states:
            fail("%s run load states %r, expected %r" % (label, out["load_states"], want_states))
        if out["summary_state"] != "Completed":
            fail("%s run report ended %s" % (label, out["summary_state"]))
        want_ok = [s for s in SOURCES if s != BROKEN_SOURCE]
        if out["summary"]["loaded"] != want_ok or len(out["summary"]["failed"]) != 1:
            fail("%s run report says %r" % (label, out["summary"]))
        if BROKEN_SOURCE not in out["summary"]["failed"][0]:
            fail("the report does not carry the load error: %r" % out["summary"])

    # Persistence: the results were written under DEMO_STORAGE_DIR.
    stored = files_under(STORAGE_DIR)
    if not stored:
        fail("no result files were written under %s" % STORAGE_DIR)

    print("first run:  %r" % {k: one[k] for k in ("transform_state", "load_states", "summary")})
    print("second run: %r" % {k: two[k] for k in ("transform_state", "load_states", "summary")})
    print(
        "etl_level3_modern: ok, retried extract, cached transform, partial load "
        "reported, %d result files in %s" % (len(stored), STORAGE_DIR)
    )


if __name__ == "__main__":
    main()
