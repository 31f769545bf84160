"""Snippet: what happens to mapped children when one fails (Prefect "Core" API).

A mapped task is a *parent* with one child run per element. When one child
fails, the others are unaffected, and each downstream child inherits only
its own upstream child's fate.

What this shows:
- The parent of a mapped task ends ``Mapped`` (a Success subclass) whatever
  its children did; ``state.map_states`` holds one State per child.
- ``enrich.map(parse)``: child *i* of ``enrich`` depends only on child *i* of
  ``parse``. Where parse failed, enrich ends ``TriggerFailed``; the other
  children run normally.
- A reduce task downstream of the mapped task gets the whole list. With the
  default trigger (``all_successful``) one bad child makes it
  ``TriggerFailed``. ``FilterTask`` (trigger ``all_finished``) keeps going
  and drops the failed children's results, so a reduce after it sees only
  good values.
- A gotcha across releases: a TriggerFailed child's result is the
  ``TRIGGERFAIL`` signal. From 0.15.0 Prefect's signals derive from
  ``BaseException`` (so a bare ``except Exception`` in task code cannot
  swallow them), but ``FilterTask``'s *default* filter still only drops
  ``Exception`` and ``None``: on 0.15+ it lets the signal through. Give it a
  ``filter_func`` that drops ``BaseException``; the demo shows both.
- The flow run's state comes from its terminal ("reference") tasks; here the
  strict reduce failed, so the run is Failed -- unless the flow's reference
  tasks are set to the tolerant branch (``flow.set_reference_tasks``).
"""
from prefect import Flow, task
from prefect.engine import signals
from prefect.engine.state import Failed, Mapped, Success, TriggerFailed
from prefect.tasks.control_flow import FilterTask

RAW = ["12.5", "oops", "7.25", "30.25"]


@task
def parse(raw):
    return float(raw)  # "oops" raises ValueError in child 1


@task
def enrich(amount):
    return round(amount * 1.2, 2)


@task
def strict_total(amounts):
    return sum(amounts)


@task
def tolerant_total(amounts):
    return round(sum(amounts), 2)


with Flow("snippet-mapped-state-classic") as flow:
    parsed = parse.map(RAW)
    enriched = enrich.map(parsed)
    strict = strict_total(enriched)
    default_filtered = FilterTask(name="default-filter")(enriched)
    good_only = FilterTask(
        filter_func=lambda r: not isinstance(r, (BaseException, type(None))), name="drop-failures"
    )(enriched)
    tolerant = tolerant_total(good_only)


def fail(message):
    raise SystemExit("snippet_mapped_state_classic: " + message)


def kinds(state):
    return [type(s).__name__ for s in state.map_states]


def main():
    print("one child is meant to fail (a traceback is expected)")
    state = flow.run()

    for task_, expected in ((parsed, ["Success", "Failed", "Success", "Success"]),
                            (enriched, ["Success", "TriggerFailed", "Success", "Success"])):
        parent = state.result[task_]
        if not isinstance(parent, Mapped):
            fail("%s parent ended %r, expected Mapped" % (task_.name, parent))
        if kinds(parent) != expected:
            fail("%s children %r, expected %r" % (task_.name, kinds(parent), expected))
        print("%s: parent %s, children %s" % (task_.name, type(parent).__name__, kinds(parent)))
    bad = state.result[parsed].map_states[1]
    if not isinstance(bad, Failed) or not isinstance(bad.result, ValueError):
        fail("child 1 of parse should hold the ValueError: %r" % (bad,))

    if not isinstance(state.result[strict], TriggerFailed):
        fail("strict_total ended %r, expected TriggerFailed" % (state.result[strict],))
    # The default filter: drops the failed child's result only where signals are Exceptions.
    default_kept = state.result[default_filtered].result
    signal_is_exception = issubclass(signals.TRIGGERFAIL, Exception)
    if (len(default_kept) == 3) != signal_is_exception:
        fail("default FilterTask kept %r (TRIGGERFAIL is an Exception: %s)" % (default_kept, signal_is_exception))
    print("default FilterTask kept %d of 4 (TRIGGERFAIL %s Exception)"
          % (len(default_kept), "is an" if signal_is_exception else "is a BaseException, not an"))
    kept = state.result[good_only].result
    if kept != [15.0, 8.7, 36.3]:
        fail("FilterTask kept %r" % (kept,))
    if not isinstance(state.result[tolerant], Success) or state.result[tolerant].result != 60.0:
        fail("tolerant_total ended %r" % (state.result[tolerant],))
    print("strict_total: TriggerFailed; drop-failures kept %r; tolerant_total = %r" % (kept, 60.0))

    if not state.is_failed():
        fail("the flow run should be Failed (strict_total is a terminal task): %r" % (state,))
    # Judge the run by the tolerant branch instead.
    flow.set_reference_tasks([tolerant])
    rerun = flow.run()
    if not rerun.is_successful():
        fail("with tolerant_total as the reference task the run should succeed: %r" % (rerun,))
    print("flow: Failed with default reference tasks, Success with [tolerant_total]")
    print("snippet_mapped_state_classic: ok")


if __name__ == "__main__":
    main()
