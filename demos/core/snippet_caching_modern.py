"""Snippet: a second call served from the cache, Prefect 2.x/3.x.

What this shows:
- ``@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(...))``:
  before running, Prefect computes a *cache key* (here a hash of the task's
  inputs) and looks for an earlier completed run with that key that has not
  expired. If there is one, the task does not run: its state is ``Cached``
  and it returns the earlier value.
  Here the key is that hash with a nonce of this run in front: the cache is
  kept outside the process, and a rerun must not find this run's entries.
- The cache outlives the flow run: a second flow run with the same input is
  served from it too, because the value was persisted (to local result
  storage under PREFECT_HOME by default, or to DEMO_STORAGE_DIR here).
- A different input is a different key and runs the task; after
  ``cache_expiration`` the same input runs it again. ``with_options`` makes a
  copy of the task with a short expiration for that step, so the earlier steps
  keep a long one and hold however slow the machine is.
- 3.x still accepts ``cache_key_fn``; its own spelling is
  ``cache_policy=INPUTS`` (see etl_level3_3x.py). Classic 1.x:
  ``@task(cache_for=timedelta(...), cache_validator=all_inputs)``, and the
  cache lived only in-process unless a backend stored it.

The check counts how often the task body really ran.
"""
import datetime
import os
import threading
import time
import uuid

STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR")
if STORAGE_DIR:
    # Prefect reads its settings when imported: set this first.
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR

from prefect import flow, task  # noqa: E402
from prefect.tasks import task_input_hash  # noqa: E402

EXPIRY = datetime.timedelta(minutes=5)  # the first two flow runs fall well within it
SHORT_EXPIRY = datetime.timedelta(seconds=5)  # the last step waits this out; its second call comes well within it
CALLS = []
RAN_AT = {}  # currency -> when its body last finished: its cache entry expires EXPIRY later
# The cache lives in the API server (2.x) or the result storage (3.x), beyond this
# process: a key of this run's own keeps a rerun, or another demo on the same
# server, from finding this run's entries (and this run from finding theirs).
RUN_NONCE = uuid.uuid4().hex


def inputs_of_this_run(context, parameters):
    return "%s-%s" % (RUN_NONCE, task_input_hash(context, parameters))


_lock = threading.Lock()


@task(cache_key_fn=inputs_of_this_run, cache_expiration=EXPIRY)
def exchange_rate(currency):
    with _lock:
        CALLS.append(currency)
    time.sleep(0.5)  # stands in for a slow, rate-limited API
    RAN_AT[currency] = time.monotonic()
    return {"EUR": 1.08, "GBP": 1.27, "CHF": 0.94}[currency]


short_lived_rate = exchange_rate.with_options(cache_expiration=SHORT_EXPIRY)


@flow(name="caching-demo")
def lookups(currencies, short_lived=False):
    lookup = short_lived_rate if short_lived else exchange_rate
    return [(c, lookup(c, return_state=True)) for c in currencies]


def summary(pairs):
    return [(c, s.name, s.result()) for c, s in pairs]


def fail(message):
    raise SystemExit("snippet_caching_modern: " + message)


def main():
    # One flow run: EUR runs, EUR again is cached, GBP runs.
    first = summary(lookups(["EUR", "EUR", "GBP"]))
    want = [("EUR", "Completed", 1.08), ("EUR", "Cached", 1.08), ("GBP", "Completed", 1.27)]
    if first != want:
        fail("first flow run: %r, expected %r" % (first, want))

    # A new flow run, within the expiration: both come from the cache.
    second = summary(lookups(["EUR", "GBP"]))
    if second != [("EUR", "Cached", 1.08), ("GBP", "Cached", 1.27)]:
        fail("second flow run: %r, expected both Cached" % (second,))

    # An entry that expires soon: once it has, the same input runs again.
    third = summary(lookups(["CHF", "CHF"], short_lived=True))
    time.sleep(max(0.0, RAN_AT["CHF"] + SHORT_EXPIRY.total_seconds() + 0.5 - time.monotonic()))
    fourth = summary(lookups(["CHF"], short_lived=True))
    if third != [("CHF", "Completed", 0.94), ("CHF", "Cached", 0.94)]:
        fail("short expiry: %r, expected Completed then Cached" % (third,))
    if fourth != [("CHF", "Completed", 0.94)]:
        fail("after the short expiry: %r, expected a fresh Completed run" % (fourth,))

    if CALLS != ["EUR", "GBP", "CHF", "CHF"]:
        fail("the task body ran for %r, expected EUR, GBP, then CHF before and after its expiry" % CALLS)
    for label, rows in (("run 1", first), ("run 2", second), ("short-lived", third), ("after expiry", fourth)):
        print("%-12s %s" % (label, ", ".join("%s=%s (%s)" % (c, v, s) for c, s, v in rows)))
    print("snippet_caching_modern: ok, 8 lookups, the task body ran %d times" % len(CALLS))


if __name__ == "__main__":
    main()
