"""Snippet: task retries with a delay (Prefect "Core" API).

What this shows:
- ``@task(max_retries=N, retry_delay=timedelta(...))``: when the task raises,
  its run goes to ``Retrying`` (a Scheduled state with a start time) instead
  of ``Failed``, up to N times. ``flow.run()`` sleeps until the retry time
  itself; with a backend, the flow run waits the same way (long delays can
  be released and picked up again by the agent).
- ``prefect.context.task_run_count`` is the attempt number inside the task.
- A state handler sees every transition, including each ``Retrying``.
- When the retries are used up the task ends ``Failed`` with the last error.
- 1.2.0 added ``retry_on=`` (an exception type or tuple of them): other
  exceptions fail at once without retrying. Where the release has it the
  demo checks that too; before 1.2 it says it skipped that part.

Checks: attempt counts, the states seen, and that the attempts are at least
``retry_delay`` apart.
"""
import inspect
import time
from datetime import timedelta

import prefect
from prefect import Flow, Task, task
from prefect.engine.state import Failed, Retrying, Success

DELAY = timedelta(seconds=1)
ATTEMPTS = {"flaky": [], "broken": [], "picky": []}
TRANSITIONS = {"flaky": [], "broken": [], "picky": []}
HAS_RETRY_ON = "retry_on" in inspect.signature(Task.__init__).parameters


def record(task_obj, old_state, new_state):
    TRANSITIONS[task_obj.name].append(type(new_state).__name__)
    return new_state


@task(max_retries=3, retry_delay=DELAY, state_handlers=[record])
def flaky():
    ATTEMPTS["flaky"].append((prefect.context.get("task_run_count"), time.monotonic()))
    if len(ATTEMPTS["flaky"]) < 3:
        raise ConnectionError("upstream API not ready (attempt %d)" % len(ATTEMPTS["flaky"]))
    return "fetched on attempt %d" % prefect.context.get("task_run_count")


@task(max_retries=2, retry_delay=DELAY, state_handlers=[record])
def broken():
    ATTEMPTS["broken"].append((prefect.context.get("task_run_count"), time.monotonic()))
    raise RuntimeError("always broken")


picky_options = {"retry_on": ConnectionError} if HAS_RETRY_ON else {}


@task(max_retries=2, retry_delay=DELAY, state_handlers=[record], **picky_options)
def picky():
    ATTEMPTS["picky"].append((prefect.context.get("task_run_count"), time.monotonic()))
    if HAS_RETRY_ON:
        raise ValueError("bad input: retrying will not help")
    return "retry_on is not available before 1.2"


with Flow("snippet-retries-classic") as flow:
    results = [flaky(), broken(), picky()]


def fail(message):
    raise SystemExit("snippet_retries_classic: " + message)


def check_spacing(name):
    times = [t for _, t in ATTEMPTS[name]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    if any(gap < DELAY.total_seconds() * 0.9 for gap in gaps):
        fail("%s attempts came %r s apart, less than the %s delay" % (name, gaps, DELAY))
    return gaps


def main():
    print("failures are expected below (tracebacks from the retried tasks)")
    started = time.monotonic()
    state = flow.run()
    elapsed = time.monotonic() - started
    by_name = {t.name: state.result[t] for t in results}

    if [n for n, _ in ATTEMPTS["flaky"]] != [1, 2, 3]:
        fail("flaky ran attempts %r, expected [1, 2, 3]" % ([n for n, _ in ATTEMPTS["flaky"]],))
    if not isinstance(by_name["flaky"], Success) or by_name["flaky"].result != "fetched on attempt 3":
        fail("flaky ended %r" % (by_name["flaky"],))
    if TRANSITIONS["flaky"].count("Retrying") != 2:
        fail("flaky went through %r, expected 2 Retrying states" % (TRANSITIONS["flaky"],))
    gaps = check_spacing("flaky")
    print("flaky: %s via %s; gaps %s s" % (by_name["flaky"].result, " -> ".join(TRANSITIONS["flaky"]),
                                           ", ".join("%.2f" % g for g in gaps)))

    if [n for n, _ in ATTEMPTS["broken"]] != [1, 2, 3] or not isinstance(by_name["broken"], Failed):
        fail("broken: attempts %r, final %r; expected 3 attempts then Failed" % (ATTEMPTS["broken"], by_name["broken"]))
    if isinstance(by_name["broken"], Retrying) or "always broken" not in str(by_name["broken"].result):
        fail("broken should end Failed with its error, got %r" % (by_name["broken"],))
    check_spacing("broken")
    print("broken: 3 attempts, then %s: %s" % (type(by_name["broken"]).__name__, by_name["broken"].result))

    if HAS_RETRY_ON:
        if len(ATTEMPTS["picky"]) != 1 or not isinstance(by_name["picky"], Failed):
            fail("picky (retry_on=ConnectionError) raised ValueError: expected 1 attempt then Failed, got %d, %r"
                 % (len(ATTEMPTS["picky"]), by_name["picky"]))
        print("picky: retry_on=ConnectionError, raised ValueError -> 1 attempt, Failed")
    else:
        print("picky: skipped, %s" % by_name["picky"].result)

    if not state.is_failed():
        fail("the flow run should be Failed (broken is a terminal task): %r" % (state,))
    if elapsed < 2 * DELAY.total_seconds() * 0.9:
        fail("the run took %.2fs, less than two retry delays" % elapsed)
    print("snippet_retries_classic: ok, run took %.1fs" % elapsed)


if __name__ == "__main__":
    main()
