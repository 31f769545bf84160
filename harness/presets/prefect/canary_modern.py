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

    @task
    def double(x):
        return 2 * x

    @task
    def add_up(first, rest):
        return first + sum(rest)

    @flow(name="canary-modern")
    def canary_flow():
        submitted = double.submit(21)
        mapped = double.map([1, 2, 3])
        total = add_up.submit(submitted, mapped)
        states = [final_state(f) for f in [submitted] + list(mapped) + [total]]
        return (
            submitted.result(),
            [f.result() for f in mapped],
            total.result(),
            [s.is_completed() for s in states],
        )

    try:
        got = canary_flow()
    except Exception as exc:
        fail("flow with submit/map raised %s: %s" % (type(exc).__name__, exc), True)

    expected_result = (42, [2, 4, 6], 54, [True] * 5)
    if got != expected_result:
        fail("flow returned %r, expected %r" % (got, expected_result))

    print(
        "canary ok: prefect %s on python %s: flow with submit, map of 3 -> %r"
        % (actual, python, got[2])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
