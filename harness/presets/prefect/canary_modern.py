"""Canary for Prefect 2.x/3.x environments.

Usage: python canary_modern.py EXPECTED_VERSION

Run in a freshly built environment before any demo. Checks that:
  1. ``import prefect`` works and ``prefect.__version__ == EXPECTED_VERSION``;
  2. a tiny ``@flow`` runs a task with ``.submit()`` and a task with
     ``.map()``, feeds their futures into a downstream task, and gets the
     right results back.
A flow that only calls tasks directly is not enough: some releases paired
with newer dependencies (e.g. 3.4.25 with fastapi>=0.132) pass a trivial flow
but break the task-run API calls that submit/map make.

One error is not held against the interpreter: httpcore 0.16.0-0.16.1 raise
"The connection pool was closed while N HTTP requests/responses were still
in-flight" when a client closes with a request unanswered, and 2.6.x's client,
as released with them, does so at the end of a flow run now and then (2.6.9:
4 of 6 canaries on Python 3.10, 3.9 and 3.8). When the flow's body had already
returned the right results, that error came after everything checked here
worked, and it comes on every interpreter alike: the canary passes and says so.
The demos meet the same race, and their records show it.

Prints one line and exits 0 on success; otherwise prints (after any
traceback) a one-line reason starting with "canary FAILED" and exits 1
(2 for bad usage). Python 3.7 syntax-compatible (2.0-2.10 support 3.7).
This file is run in the release's interpreter; it must not import the harness.
"""
import sys
import traceback


def fail(message, show_traceback=False):
    if show_traceback:
        traceback.print_exc()
    sys.stderr.write("canary FAILED: %s\n" % message)
    sys.stderr.flush()
    sys.exit(1)


def final_state(future):
    # 2.x: wait() returns the final State; 3.x: wait() returns None and the
    # State is on future.state.
    state = future.wait()
    if state is None:
        state = future.state
    return state


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s EXPECTED_VERSION\n" % argv[0])
        return 2
    expected = argv[1]
    python = "%d.%d.%d" % sys.version_info[:3]

    try:
        import prefect
    except Exception as exc:
        fail("import prefect raised %s: %s" % (type(exc).__name__, exc), True)

    actual = getattr(prefect, "__version__", None)
    if actual != expected:
        fail("prefect.__version__ is %r, expected %r" % (actual, expected))

    try:
        from prefect import flow, task
    except Exception as exc:
        fail(
            "prefect %s has no 2.x/3.x API (from prefect import flow, task): %s"
            % (actual, exc)
        )

    got, note = run_flow(flow, task)
    if got != EXPECTED:
        fail("flow returned %r, expected %r" % (got, EXPECTED))

    print(
        "canary ok: prefect %s on python %s: flow with submit, map of 3 -> %r%s"
        % (actual, python, got[2], note)
    )
    return 0


EXPECTED = (42, [2, 4, 6], 54, [True] * 5)  # submitted, mapped, their total, each future completed


def run_flow(flow, task):
    """The flow's results, and a note when its call raised httpcore's closed-pool error after its body
    returned the right ones (see the docstring); any other error fails the canary."""
    @task
    def double(x):
        return 2 * x

    @task
    def add_up(first, rest):
        return first + sum(rest)

    body = []  # what the flow's body returned, kept in case the flow call raises after it

    @flow(name="canary-modern")
    def canary_flow():
        submitted = double.submit(21)
        mapped = double.map([1, 2, 3])
        total = add_up.submit(submitted, mapped)
        states = [final_state(f) for f in [submitted] + list(mapped) + [total]]
        body.append((
            submitted.result(),
            [f.result() for f in mapped],
            total.result(),
            [s.is_completed() for s in states],
        ))
        return body[-1]

    try:
        return canary_flow(), ""
    except Exception as exc:
        if not (body and body[-1] == EXPECTED and closed_in_flight(exc)):
            fail("flow with submit/map raised %s: %s" % (type(exc).__name__, exc), True)
        return body[-1], " (after the body returned, the client's close raised: %s)" % exc


def closed_in_flight(exc):
    """httpcore 0.16.0-0.16.1's error for a pool closed with requests unanswered (see the docstring)."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("The connection pool was closed while")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
