"""Snippet: the states of mapped runs when one of them fails (2.6+/3.x).

Five files are parsed by a mapped task; one of them is corrupt. What does
each run end as, what does a downstream task see, and what does the flow
end as?

What this shows:
- Each mapped run has its own final State. ``future.wait()`` (2.x) /
  ``future.state`` (3.x) give it without raising; ``future.result()``
  would re-raise the failed run's exception. ``.map(..., return_state=True)``
  is not a thing; ``task(..., return_state=True)`` on a plain call is.
- A downstream task that takes the mapped futures does **not** run if any
  of them failed: it ends ``NotReady`` (a Pending-type state: "upstream
  task run did not reach a COMPLETED state"). Wrapping the futures in
  ``allow_failure(...)`` lets it run, and it gets each run's value or, for
  the failed one, the exception.
- The flow's final state follows from what it *returns*: returning the
  futures (or states) means "my result is these runs", and one Failed among
  them makes the flow Failed ("1/5 states failed"); returning a plain value
  computed despite the failure leaves the flow Completed.
  Classic 1.x had a ``Mapped`` parent state with ``map_states``, and the
  flow's state came from its *reference tasks* instead.

``allow_failure`` arrived in 2.6.0, but up to 2.7.6 the downstream task
could not read the failed run's exception and the flow died with
``MissingResult``; this demo needs 2.7.7+.
"""
from prefect import flow, task
from prefect.utilities.annotations import allow_failure

FILES = ["a.csv", "b.csv", "corrupt.csv", "d.csv", "e.csv"]


@task
def parse(name):
    if name == "corrupt.csv":
        raise ValueError("%s: unexpected end of data" % name)
    return {"file": name, "rows": len(name)}


@task
def summarize(parsed):
    good = [p for p in parsed if not isinstance(p, BaseException)]
    bad = [str(p) for p in parsed if isinstance(p, BaseException)]
    return {"rows": sum(p["rows"] for p in good), "good": len(good), "errors": bad}


def final_state(future):
    state = future.wait()  # 2.x: the State; 3.x: None
    return future.state if state is None else state


@flow(name="mapped-state-returns-futures")
def return_the_runs():
    # The flow's result is the mapped runs themselves.
    return parse.map(FILES)


@flow(name="mapped-state-carries-on")
def carry_on():
    runs = parse.map(FILES)
    states = [final_state(f) for f in runs]

    # Without allow_failure the summary cannot run.
    blocked = summarize(runs, return_state=True)

    # With it, it runs and sees the error in place of the failed value.
    summary = summarize(allow_failure(runs))
    return {
        "child_states": [s.name for s in states],
        "blocked": (blocked.type.value, blocked.name),
        "summary": summary,
    }


def fail(message):
    raise SystemExit("snippet_mapped_state_modern: " + message)


def main():
    print("one mapped run is meant to fail: tracebacks are expected")
    want_children = ["Failed" if f == "corrupt.csv" else "Completed" for f in FILES]

    # 1. The flow that returns the runs fails with them.
    state = return_the_runs(return_state=True)
    if not state.is_failed():
        fail("returning the mapped runs left the flow %s, expected Failed" % state.name)
    if "1/5" not in (state.message or ""):
        fail("flow message %r does not count the failed run" % state.message)
    print("flow returning the runs: %s (%s)" % (state.name, state.message))

    # 2. The flow that carries on completes.
    state = carry_on(return_state=True)
    if not state.is_completed():
        fail("the carrying-on flow ended %s" % state.name)
    out = state.result()
    if out["child_states"] != want_children:
        fail("child states %r, expected %r" % (out["child_states"], want_children))
    if out["blocked"][0] == "COMPLETED":
        fail("summarize ran without allow_failure although an upstream failed")
    summary = out["summary"]
    want_rows = sum(len(f) for f in FILES if f != "corrupt.csv")
    if summary["rows"] != want_rows or summary["good"] != 4:
        fail("summary %r, expected %d rows from 4 files" % (summary, want_rows))
    if len(summary["errors"]) != 1 or "corrupt.csv" not in summary["errors"][0]:
        fail("summary errors %r" % summary["errors"])
    print("children: %s" % ", ".join("%s=%s" % x for x in zip(FILES, out["child_states"])))
    print("summarize without allow_failure: %s/%s" % out["blocked"])
    print("summarize with allow_failure: %r" % summary)
    print("snippet_mapped_state_modern: ok")


if __name__ == "__main__":
    main()
