"""Snippet: output caching with cache_for / cache_validator (Prefect "Core" API).

What this shows:
- ``@task(cache_for=timedelta(...), cache_validator=...)`` keeps a task's
  result for a while; a later run whose inputs pass the validator gets the
  stored result without running the task. Note that such a task ends in a
  ``Cached`` state (a Success) on *every* run, also when it really ran: the
  state is what gets stored. So the demo counts executions of the body.
- Validators (``prefect.engine.cache_validators``): ``duration_only`` (the
  default: any inputs), ``all_inputs`` (same inputs), ``all_parameters``,
  ``partial_inputs_only(validate_on=[...])``, ``never_use``.
- Where the cache lives: for ``flow.run()`` in ``prefect.context.caches``,
  i.e. in this process, across runs; with a backend, the API keeps the
  Cached states (shared by runs of the flow, keyed by ``cache_key``).
  For a cache that survives the process locally, use a ``target`` (see
  etl_level3_classic.py).

The demo runs the flow four times with day = 1, 1, 2, 1 and checks the
task body ran only for the first 1 and for 2.
"""
from datetime import timedelta

from prefect import Flow, Parameter, task
from prefect.engine.cache_validators import all_inputs
from prefect.engine.state import Cached

CALLS = []


@task(cache_for=timedelta(minutes=10), cache_validator=all_inputs)
def expensive_report(day):
    CALLS.append(day)
    return {"day": day, "total": 100 * day}


with Flow("snippet-caching-classic") as flow:
    day = Parameter("day", default=1)
    report = expensive_report(day)


def fail(message):
    raise SystemExit("snippet_caching_classic: " + message)


def main():
    seen = []
    for d in (1, 1, 2, 1):
        calls_before = len(CALLS)
        state = flow.run(parameters={"day": d})
        task_state = state.result[report]
        if not isinstance(task_state, Cached):
            fail("a task with cache_for should end Cached, got %r" % (task_state,))
        if not state.is_successful() or task_state.result != {"day": d, "total": 100 * d}:
            fail("run for day %d ended %r with %r" % (d, state, task_state.result))
        seen.append("ran" if len(CALLS) > calls_before else "cached")
        print("day %d: %s -> %r" % (d, seen[-1], task_state.result))

    if seen != ["ran", "cached", "ran", "cached"]:
        fail("runs were %r, expected ran, cached, ran, cached" % (seen,))
    if CALLS != [1, 2]:
        fail("the task body ran for %r, expected [1, 2]" % (CALLS,))
    print("snippet_caching_classic: ok, 4 runs, 2 real executions")


if __name__ == "__main__":
    main()
