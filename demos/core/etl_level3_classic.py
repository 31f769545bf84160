"""Evolving ETL, level 3: results, targets, retries and triggers (Prefect "Core" API).

Level 2 recomputed everything on every run and gave up on the first error.
Level 3 makes the pipeline cheaper to re-run and more tolerant of failures.

What changed from level 2:
- Results: ``result=LocalResult(dir=..., serializer=JSONSerializer())`` says
  where and how a task's return value is persisted ("checkpointed").
  (Result objects arrived in 0.11; ``prefect.engine.serializers`` in 0.12.1.)
  Checkpointing is on by default with a backend, but *off* for local
  ``flow.run()``; ``PREFECT__FLOWS__CHECKPOINTING=true`` (set here before
  Prefect is imported, as the docs suggest for local testing) turns it on.
- Targets: ``target="{flow_name}/{task_name}-{parameters[day]}.json"`` is a
  templated file name filled from the context. Before running the task,
  Prefect checks whether that file exists; if so the task ends ``Cached``
  (a kind of Success) with the stored value and its code does not run. The
  target is the cache key: a new ``day`` means a new file and a real run.
- Retries: ``max_retries=2, retry_delay=timedelta(seconds=1)`` re-runs a
  task that raised; ``flow.run()`` waits out the delay itself. Inside the
  task ``prefect.context.task_run_count`` says which attempt this is.
- Triggers: a task runs by default only if *all* upstream tasks succeeded
  (``all_successful``). ``trigger=some_successful(at_least=2)`` (or
  ``any_successful``) lets it run when only some of them did. The flow's
  state comes from its terminal ("reference") tasks, so one failed upstream
  does not fail the flow when the task after it succeeded.

Writes under DEMO_STORAGE_DIR (the harness's ``local-storage`` need).

Run it with:  DEMO_STORAGE_DIR=/tmp/x python demos/core/etl_level3_classic.py
"""
import json
import os
import sys
import time
from datetime import timedelta

STORAGE = os.environ.get("DEMO_STORAGE_DIR")
if not STORAGE:
    sys.exit("etl_level3_classic: DEMO_STORAGE_DIR is not set: it should name an empty folder for results")

# Prefect 0.x/1.x reads its configuration at import time.
os.environ["PREFECT__FLOWS__CHECKPOINTING"] = "true"

import prefect  # noqa: E402
from prefect import Flow, Parameter, task  # noqa: E402
from prefect.engine.results import LocalResult  # noqa: E402
from prefect.engine.serializers import JSONSerializer  # noqa: E402
from prefect.engine.state import Cached, Failed  # noqa: E402
from prefect.triggers import some_successful  # noqa: E402

ORDERS = {
    "2021-06-01": [12.5, 40.0, 7.25],
    "2021-06-02": [19.99, 5.01],
}
CALLS = {"extract": 0, "rate_attempts": []}
RETRY_DELAY = timedelta(seconds=1)


@task(
    result=LocalResult(dir=STORAGE, serializer=JSONSerializer()),
    target="{flow_name}/{task_name}-{parameters[day]}.json",
    checkpoint=True,
)
def extract(day):
    CALLS["extract"] += 1  # counts real executions, not cache hits
    return {"day": day, "amounts": ORDERS[day]}


@task(max_retries=2, retry_delay=RETRY_DELAY)
def exchange_rate():
    attempt = prefect.context.get("task_run_count")
    CALLS["rate_attempts"].append((attempt, time.monotonic()))
    if attempt == 1:
        raise ConnectionError("rates service timed out (first attempt always does)")
    return 0.5


@task
def transform(batch, rate):
    return round(sum(batch["amounts"]) * rate, 2)


@task
def push(destination, total):
    if destination == "lake":
        raise ValueError("data lake is read-only today")
    return "%s <- %.2f" % (destination, total)


@task(trigger=some_successful(at_least=2))
def confirm():
    # Runs because 2 of its 3 upstream pushes succeeded.
    return "published"


with Flow("etl-level3-classic") as flow:
    day = Parameter("day", default="2021-06-01")
    total = transform(extract(day), exchange_rate())
    pushes = [push(dest, total, task_args={"name": "push-" + dest})
              for dest in ("warehouse", "lake", "backup")]
    done = confirm(upstream_tasks=pushes)


def fail(message):
    raise SystemExit("etl_level3_classic: " + message)


def task_state(state, name):
    [t] = flow.get_tasks(name=name)
    return state.result[t]


def run_day(day, expect_cached):
    CALLS["rate_attempts"] = []
    calls_before = CALLS["extract"]
    state = flow.run(parameters={"day": day})
    if not state.is_successful():
        fail("run for %s was not successful: %r" % (day, state))

    # --- target: a real run writes the file, the next run reads it ---------
    extract_state = task_state(state, "extract")
    ran = CALLS["extract"] - calls_before
    if expect_cached and (not isinstance(extract_state, Cached) or ran != 0):
        fail("extract for %s should come from its target: %r, ran %d time(s)" % (day, extract_state, ran))
    if not expect_cached and (isinstance(extract_state, Cached) or ran != 1):
        fail("extract for %s should have run: %r, ran %d time(s)" % (day, extract_state, ran))
    path = os.path.join(STORAGE, "etl-level3-classic", "extract-%s.json" % day)
    if not os.path.isfile(path):
        fail("target file %s was not written" % path)
    with open(path) as f:
        stored = json.load(f)
    if stored != {"day": day, "amounts": ORDERS[day]}:
        fail("target file holds %r" % (stored,))

    # --- retries: failed once, succeeded on attempt 2, after the delay ------
    attempts = CALLS["rate_attempts"]
    if [a for a, _ in attempts] != [1, 2]:
        fail("exchange_rate attempts %r, expected [1, 2]" % ([a for a, _ in attempts],))
    waited = attempts[1][1] - attempts[0][1]
    if waited < RETRY_DELAY.total_seconds() * 0.9:
        fail("retry came after %.2fs, before the %s delay" % (waited, RETRY_DELAY))

    # --- trigger: one push failed, confirm ran anyway -----------------------
    lake = task_state(state, "push-lake")
    if not isinstance(lake, Failed) or "read-only" not in str(lake.result):
        fail("push-lake should have failed: %r" % (lake,))
    pushed = sorted(task_state(state, "push-" + d).result for d in ("warehouse", "backup"))
    expected_total = round(sum(ORDERS[day]) * 0.5, 2)
    if pushed != sorted(["warehouse <- %.2f" % expected_total, "backup <- %.2f" % expected_total]):
        fail("successful pushes returned %r" % (pushed,))
    if state.result[done].result != "published":
        fail("confirm ended %r" % (state.result[done],))
    print(
        "%s: extract %s, rate after %d attempts (%.1fs apart), push-lake Failed, confirm ran"
        % (day, "from target" if expect_cached else "ran", len(attempts), waited)
    )


def main():
    run_day("2021-06-01", expect_cached=False)  # first run: computes and writes the target
    run_day("2021-06-01", expect_cached=True)  # same day: the target exists, extract is skipped
    run_day("2021-06-02", expect_cached=False)  # another day: another target file
    print("etl_level3_classic: ok, %d real extract run(s) for 3 flow runs" % CALLS["extract"])


if __name__ == "__main__":
    main()
