"""Snippet: retries with delays and backoff, Prefect 2.x/3.x.

What this shows:
- ``@task(retries=3, retry_delay_seconds=...)``: a failed task run is put in
  an ``AwaitingRetry`` state and run again after the delay, up to ``retries``
  more times. ``retry_delay_seconds`` can be
  * one number (the same pause every time),
  * a list, one pause per retry,
  * ``exponential_backoff(backoff_factor=b)``: ``b, 2b, 4b, ...``, optionally
    with ``retry_jitter_factor`` to spread retries out.
  Lists, backoff and jitter arrived in 2.7.4 (yanked, like 2.7.5). Measured:
  up to 2.7.3 a task retried at once whatever ``retry_delay_seconds`` said;
  from 2.7.6 the pauses hold, so this demo needs 2.7.6+. 2.x keeps the
  delays as whole seconds, and its server rounds the wait left to the
  nearest second, so a retry may begin up to half a second early.
- A task that keeps failing ends ``Failed`` after ``retries + 1`` attempts.
- Flows retry too: ``@flow(retries=1)`` reruns the whole flow body.
- Classic 1.x: ``@task(max_retries=3, retry_delay=timedelta(...))``, one
  fixed delay, and no flow-level retries.

The four tasks are submitted and run side by side, so their pauses overlap.
It records the time of every attempt and checks both the number of
attempts and the pauses between them, task by task.
"""
import threading
import time

import prefect
from prefect import flow, task
from prefect.tasks import exponential_backoff

ATTEMPTS = {}  # task name -> [monotonic time of each attempt]
_lock = threading.Lock()


def attempt(name):
    with _lock:
        ATTEMPTS.setdefault(name, []).append(time.monotonic())
        return len(ATTEMPTS[name])


def flaky(name, failures):
    """A task body that fails `failures` times, then succeeds."""
    def body():
        n = attempt(name)
        if n <= failures:
            raise ConnectionError("%s: attempt %d failed" % (name, n))
        return "%s ok on attempt %d" % (name, n)
    body.__name__ = name.replace("-", "_")
    return body


# (name, retries, delay spec, expected pauses, failures before success)
# Whole seconds: 2.x keeps the delays in the task run's policy on the server
# as integers, so 0.5 would become 0 there (3.x waits in the client and
# honours fractions).
CASES = [
    ("fixed", 2, 1, [1, 1], 2),
    ("listed", 2, [1, 2], [1, 2], 2),
    ("backoff", 2, exponential_backoff(backoff_factor=1), [1, 2], 2),
    ("gives-up", 1, 1, [1], 99),  # never succeeds
]


FLOW_ATTEMPTS = []


@flow(name="retry-tasks")
def retry_tasks():
    futures = {}
    for name, retries, delay, _, failures in CASES:
        # A task built from a plain function at run time, with its retry policy,
        # submitted: the four run side by side, each timed on its own.
        t = task(flaky(name, failures), name=name, retries=retries, retry_delay_seconds=delay)
        futures[name] = t.submit()
    results = {}
    for name, future in futures.items():
        state = future.wait() or future.state  # 2.x: wait() returns the final state; 3.x: None, and .state has it
        results[name] = (state.name, state.result(raise_on_failure=False))
    return results


@flow(name="retry-flow", retries=1, retry_delay_seconds=0)
def retry_flow():
    FLOW_ATTEMPTS.append(time.monotonic())
    if len(FLOW_ATTEMPTS) == 1:
        raise RuntimeError("the first flow attempt fails")
    return len(FLOW_ATTEMPTS)


def fail(message):
    raise SystemExit("snippet_retries_modern: " + message)


def early(pause):
    """How much sooner than its delay a retry may begin.

    2.x's server decides (its WaitForScheduledTime rule): a run asking to start
    is told to wait the time left *rounded to the nearest second*, so with less
    than half a second left it starts at once. Under load that was measured:
    0.77 s and 0.89 s pauses for a 1 s delay (2.9.0, 2.13.8). 3.x's client
    sleeps until the scheduled time itself: only timing noise."""
    return 0.5 if prefect.__version__.startswith("2.") else 0.1 * pause


def main():
    print("failing attempts are expected and logged below")
    results = retry_tasks()
    for name, retries, _, pauses, failures in CASES:
        times = ATTEMPTS[name]
        tries = failures + 1 if failures <= retries else retries + 1
        if len(times) != tries:
            fail("%s: %d attempts, expected %d" % (name, len(times), tries))
        gaps = [b - a for a, b in zip(times, times[1:])]
        for gap, pause in zip(gaps, pauses):
            if gap < pause - early(pause):
                fail("%s: paused %.2fs between attempts, expected >= %.2fs (%.2fs early at most)"
                     % (name, gap, pause, early(pause)))
        state_name, value = results[name]
        if failures > retries:
            if state_name != "Failed" or not isinstance(value, ConnectionError):
                fail("%s: ended %s with %r, expected Failed" % (name, state_name, value))
        elif state_name != "Completed" or value != "%s ok on attempt %d" % (name, tries):
            fail("%s: ended %s with %r" % (name, state_name, value))
        print("%-9s %d attempts, pauses %s -> %s" % (
            name, tries, ", ".join("%.2fs" % g for g in gaps), state_name))

    if retry_flow() != 2 or len(FLOW_ATTEMPTS) != 2:
        fail("the flow ran %d times, expected 2 (one flow retry)" % len(FLOW_ATTEMPTS))
    print("flow      2 attempts (retries=1) -> Completed")
    print("snippet_retries_modern: ok")


if __name__ == "__main__":
    main()
