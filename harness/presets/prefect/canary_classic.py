"""Canary for Prefect 0.x/1.x ("Core" API) environments.

Usage: python canary_classic.py EXPECTED_VERSION

Run in a freshly built environment before any demo. Checks that:
  1. ``import prefect`` works and ``prefect.__version__ == EXPECTED_VERSION``;
  2. a tiny flow with a mapped task and a reduce step runs with ``flow.run()``
     and produces the right result, with every mapped child successful.
Prints one line and exits 0 on success; otherwise prints (after any
traceback) a one-line reason starting with "canary FAILED" and exits 1
(2 for bad usage).

Kept Python 3.6/3.7 syntax-compatible: 0.x releases run on old interpreters.
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


def import_classic(expected):
    """The prefect module of the expected 0.x/1.x release, or a failure saying why not."""
    try:
        import prefect
    except Exception as exc:
        fail("import prefect raised %s: %s" % (type(exc).__name__, exc), True)

    actual = getattr(prefect, "__version__", None)
    if actual != expected:
        fail("prefect.__version__ is %r, expected %r" % (actual, expected))

    # prefect.Flow also exists in 2.x/3.x, as a different class: refuse early.
    if actual.split(".")[0] not in ("0", "1"):
        fail("prefect %s is not a 0.x/1.x release; use the modern canary" % (actual,))
    try:
        from prefect import Flow, task  # noqa: F401
    except Exception as exc:
        fail(
            "prefect %s has no classic API (from prefect import Flow, task): %s"
            % (actual, exc)
        )
    return prefect


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s EXPECTED_VERSION\n" % argv[0])
        return 2
    prefect = import_classic(argv[1])
    from prefect import Flow, task
    python = "%d.%d.%d" % sys.version_info[:3]

    @task
    def numbers():
        return [1, 2, 3, 4]

    @task
    def square(x):
        return x * x

    @task
    def add_up(values):
        return sum(values)

    try:
        with Flow("canary-classic") as flow:
            squares = square.map(numbers())
            total = add_up(squares)
        state = flow.run()
    except Exception as exc:
        fail("flow.run() raised %s: %s" % (type(exc).__name__, exc), True)

    if not state.is_successful():
        fail("flow run ended in %r" % (state,))
    children = state.result[squares].map_states
    child_results = [child.result for child in children]
    if not all(child.is_successful() for child in children):
        fail("mapped children not all successful: %r" % (children,))
    if child_results != [1, 4, 9, 16]:
        fail("mapped results %r, expected [1, 4, 9, 16]" % (child_results,))
    result = state.result[total].result
    if result != 30:
        fail("reduced result %r, expected 30" % (result,))

    print(
        "canary ok: prefect %s on python %s: flow.run() with map of %d -> %r"
        % (prefect.__version__, python, len(children), result)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
