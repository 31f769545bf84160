"""The 2.x/3.x canary (harness/presets/prefect/canary_modern.py) run against a stand-in `prefect` package.

The stand-in runs the canary's flow body for real and raises where a case says: before the body, after it
with httpcore's closed-pool error, or after it with another error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = Path(__file__).resolve().parents[1] / "harness" / "presets" / "prefect" / "canary_modern.py"
CLOSED = "The connection pool was closed while 1 HTTP requests/responses were still in-flight."

STAND_IN = '''
import os

__version__ = "9.9.9"
RAISE = os.environ["CANARY_RAISE"]  # "", "before:<message>", "after:<message>"
WRONG = os.environ.get("CANARY_WRONG") == "1"


class _State:
    def is_completed(self):
        return True


class _Future:
    def __init__(self, value):
        self.value = value

    def wait(self):
        return _State()

    def result(self):
        return self.value + 1 if WRONG else self.value


def _value(argument):
    if isinstance(argument, _Future):
        return argument.value
    if isinstance(argument, list):
        return [_value(a) for a in argument]
    return argument


def task(fn):
    class Task:
        def submit(self, *arguments):
            return _Future(fn(*[_value(a) for a in arguments]))

        def map(self, values):
            return [_Future(fn(v)) for v in values]
    return Task()


def flow(name=None):
    def decorate(fn):
        def call():
            when, _, message = RAISE.partition(":")
            if when == "before":
                raise RuntimeError(message)
            result = fn()
            if when == "after":
                raise RuntimeError(message)
            return result
        return call
    return decorate
'''


def run_canary(tmp_path: Path, raise_: str, wrong: bool = False) -> subprocess.CompletedProcess:
    (tmp_path / "prefect").mkdir(exist_ok=True)
    (tmp_path / "prefect" / "__init__.py").write_text(STAND_IN)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), CANARY_RAISE=raise_, CANARY_WRONG="1" if wrong else "0")
    return subprocess.run([sys.executable, str(CANARY), "9.9.9"], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.mark.parametrize(("raise_", "wrong", "code", "says"), [
    ("", False, 0, "canary ok: prefect 9.9.9"),
    # httpcore's race at the client's close, once the body returned the right results: not the interpreter's
    (f"after:{CLOSED}", False, 0, "after the body returned, the client's close raised: " + CLOSED),
    # the same error before the body ran: nothing was shown to work
    (f"before:{CLOSED}", False, 1, "canary FAILED: flow with submit/map raised RuntimeError: " + CLOSED),
    # any other error after the body
    ("after:something else broke", False, 1, "canary FAILED: flow with submit/map raised RuntimeError: something"),
    # the race after a body whose results were wrong
    (f"after:{CLOSED}", True, 1, "canary FAILED: flow with submit/map raised RuntimeError: " + CLOSED),
    ("", True, 1, "canary FAILED: flow returned (43, [3, 5, 7], 55"),
])
def test_the_canary_forgives_only_the_closed_pool_race_after_a_body_that_worked(tmp_path, raise_, wrong, code,
                                                                                  says):
    done = run_canary(tmp_path, raise_, wrong)
    assert done.returncode == code, done.stdout + done.stderr
    assert says in (done.stdout if code == 0 else done.stderr)
