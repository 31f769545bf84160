"""The warm runner: import once, fork per demo, and prove each demo still starts from a clean state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.run.process import isolated_environ
from harness.run.warm import WarmRunner
from tests.test_services import alive, wait_dead

STATE_MODULE = """
import os
COUNTER = 0
IMPORTED_WITH = os.environ.get("MARK", "none")
"""

THREADED_MODULE = """
import threading, time
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
"""


@pytest.fixture
def warm(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "statemod.py").write_text(STATE_MODULE)
    environ = isolated_environ({}, "statemod", tmp_path / "parent", {"PYTHONPATH": str(lib), "MARK": "parent"})
    reset = "import os, statemod\nstatemod.RESET_WITH = os.environ.get('MARK')\n"
    runner = WarmRunner(Path(sys.executable), ("statemod",), reset, environ, tmp_path, tmp_path / "warm.log")
    yield runner, tmp_path, lib
    runner.close()


def _run(runner, tmp_path, lib, name, code, timeout=30, mark="child", extra=None):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    env = isolated_environ({}, "statemod", tmp_path / f"cell-{name}",
                           {"PYTHONPATH": str(lib), "MARK": mark, **(extra or {})})
    return runner.run(script, tmp_path, env, tmp_path / "logs" / f"{name}.log", timeout)


def test_forked_demos_do_not_see_each_others_changes(warm):
    runner, tmp_path, lib = warm
    assert runner.ready and runner.info["threads"] == 1
    first = _run(runner, tmp_path, lib, "mutate", """
        import os, sys, statemod
        assert statemod.COUNTER == 0
        statemod.COUNTER = 99
        statemod.NEW = "added"
        os.environ["LEAK"] = "yes"
        os.chdir("/")
        sys.path.append("/nowhere")
        sys.modules["injected"] = object()
        print("mutated")
    """)
    assert first.exit_code == 0 and "mutated" in first.output
    second = _run(runner, tmp_path, lib, "check", f"""
        import os, sys, statemod
        assert statemod.COUNTER == 0, statemod.COUNTER
        assert not hasattr(statemod, "NEW")
        assert "LEAK" not in os.environ
        assert os.getcwd() == {str(tmp_path)!r}, os.getcwd()
        assert "/nowhere" not in sys.path and "injected" not in sys.modules
        print("clean")
    """)
    assert second.exit_code == 0, second.output
    assert "clean" in second.output


def test_a_child_runs_as_a_script_with_its_own_environment(warm):
    runner, tmp_path, lib = warm
    result = _run(runner, tmp_path, lib, "script", """
        import atexit, os, sys, statemod
        assert __name__ == "__main__"
        assert sys.argv == [__file__], sys.argv
        assert sys.path[0] == os.path.dirname(__file__)
        assert os.environ["MARK"] == "child" and os.environ["HOME"].endswith("cell-script/home")
        assert statemod.IMPORTED_WITH == "parent"   # imported once, in the warm parent
        assert statemod.RESET_WITH == "child"       # the reset code saw the child's environment
        atexit.register(lambda: print("atexit ran"))
    """, mark="child")
    assert result.exit_code == 0, result.output
    assert "atexit ran" in result.output


def test_exit_codes_and_tracebacks_are_those_of_a_plain_run(warm):
    runner, tmp_path, lib = warm
    assert _run(runner, tmp_path, lib, "three", "import sys; sys.exit(3)").exit_code == 3
    message = _run(runner, tmp_path, lib, "message", "raise SystemExit('rows: 3, expected 4')")
    assert message.exit_code == 1 and "rows: 3, expected 4" in message.output
    crash = _run(runner, tmp_path, lib, "crash", "def load():\n    raise ValueError('bad row')\nload()\n")
    assert crash.exit_code == 1
    assert "Traceback" in crash.output and "ValueError: bad row" in crash.output


def test_a_child_exits_as_a_plain_interpreter_would(warm):
    """The child skips tearing down the parent's objects, but not what a demo relies on at exit."""
    runner, tmp_path, lib = warm
    out = tmp_path / "left-open.txt"
    result = _run(runner, tmp_path, lib, "exiting", f"""
        import atexit, threading, time
        left_open = open({str(out)!r}, "w")          # never closed: its finalizer would flush it
        left_open.write("written, not flushed")
        def late():
            time.sleep(0.5)
            print("non-daemon thread finished", flush=True)
        threading.Thread(target=late).start()       # the interpreter waits for it before atexit
        atexit.register(lambda: print("atexit after the thread", flush=True))
        print("buffered line", end="")             # no newline, no flush
    """)
    assert result.exit_code == 0, result.output
    assert out.read_text() == "written, not flushed"
    assert result.output.index("non-daemon thread finished") < result.output.index("atexit after the thread")
    assert "buffered line" in result.output


def test_a_child_has_sigchld_as_a_plain_interpreter_has_it(warm):
    """The parent hears of its children's ends through SIGCHLD and a wakeup fd; a demo must not inherit either."""
    runner, tmp_path, lib = warm
    result = _run(runner, tmp_path, lib, "signals", """
        import signal, subprocess, sys
        print("default", signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)
        print("wakeup fd", signal.set_wakeup_fd(-1))
        print("subprocess", subprocess.run([sys.executable, "-c", "print(7)"], capture_output=True).stdout)
    """)
    assert result.exit_code == 0, result.output
    assert "default True" in result.output and "wakeup fd -1" in result.output
    assert "subprocess b'7\\n'" in result.output


PARENT_HEARS_AN_EXIT = """
import os, sys
sys.path.insert(0, sys.argv[1])
import warm_runner
quiet, held_open = os.pipe()
os.dup2(quiet, 0)  # requests come on stdin: none will
children = warm_runner.Children("", None, warm_runner.hear_child_exits())
pid = os.fork()
if pid == 0:
    os._exit(5)
children.demos[pid] = "the child"
woken = children.poll(timeout=20)  # only the child's end can wake it: nothing else is watched or sent
print("woken by the exit", woken, flush=True)
children.reap()
"""


def test_the_parent_hears_of_a_childs_end_at_once_not_when_its_wait_times_out(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_HEARS_AN_EXIT)
    inenv = Path(__file__).resolve().parent.parent / "harness" / "inenv"
    done = subprocess.run([sys.executable, str(script), str(inenv)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    woken, reply = done.stdout.splitlines()
    assert woken == "woken by the exit True"
    assert {k: v for k, v in json.loads(reply).items() if k != "cpu"} == {"id": "the child", "exit": 5}


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_a_timeout_kills_the_child_and_what_it_started_and_the_runner_goes_on(warm):
    runner, tmp_path, lib = warm
    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()
    hung = _run(runner, tmp_path, lib, "hang", f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
    """, timeout=2)
    assert hung.timed_out and hung.exit_code is None
    assert time.monotonic() - started < 20
    assert wait_dead([int(pid_file.read_text())]) == []
    after = _run(runner, tmp_path, lib, "after", "print('still serving')")
    assert after.exit_code == 0 and "still serving" in after.output


def test_fork_is_refused_when_the_warm_parent_has_threads(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "threaded.py").write_text(THREADED_MODULE)
    environ = isolated_environ({}, "x", tmp_path / "parent", {"PYTHONPATH": str(lib)})
    runner = WarmRunner(Path(sys.executable), ("threaded",), "", environ, tmp_path, tmp_path / "warm.log")
    try:
        assert not runner.ready and runner.info["threads"] == 2
        script = tmp_path / "demo.py"
        script.write_text("print('x')\n")
        assert runner.run(script, tmp_path, environ, tmp_path / "demo.log", 10) is None  # caller falls back
    finally:
        runner.close()
    assert not alive(runner.proc.pid)


def test_a_module_that_fails_to_import_is_reported(tmp_path):
    environ = isolated_environ({}, "x", tmp_path / "parent")
    runner = WarmRunner(Path(sys.executable), ("no_such_module_here",), "", environ, tmp_path, tmp_path / "warm.log")
    try:
        assert not runner.ready and "ModuleNotFoundError" in runner.info["error"]
    finally:
        runner.close()


def test_a_demo_that_configures_the_package_through_its_environment_is_handed_back(warm):
    runner, tmp_path, lib = warm
    script = tmp_path / "configures.py"
    script.write_text("import os\nos.environ['STATEMOD_LEVEL'] = 'DEBUG'\nimport statemod\n")
    env = isolated_environ({}, "statemod", tmp_path / "cell", {"PYTHONPATH": str(lib)})
    result = runner.run(script, tmp_path, env, tmp_path / "configures.log", 30, watch="STATEMOD_")
    assert result is None  # a plain interpreter would read it at import: the caller reruns it so
    assert runner.handed_back[str(script)] == "STATEMOD_LEVEL"
    plain = tmp_path / "plain.py"
    plain.write_text("import os\nos.environ['OTHER'] = '1'\n")
    assert runner.run(plain, tmp_path, env, tmp_path / "plain.log", 30, watch="STATEMOD_").exit_code == 0


def test_a_reset_that_does_not_work_in_this_release_means_no_forking(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "statemod.py").write_text(STATE_MODULE)
    environ = isolated_environ({}, "x", tmp_path / "parent", {"PYTHONPATH": str(lib)})
    reset = "import statemod\nstatemod.no_such_function()\n"
    runner = WarmRunner(Path(sys.executable), ("statemod",), reset, environ, tmp_path, tmp_path / "warm.log")
    try:
        assert not runner.ready and "reset code failed: AttributeError" in runner.info["error"]
    finally:
        runner.close()


def test_runs_from_several_threads_overlap_and_stay_apart(warm):
    """Concurrent demos of one env: each in its own child, with its own environment and exit code."""
    from concurrent.futures import ThreadPoolExecutor

    runner, tmp_path, lib = warm
    code = """
        import os, sys, time, statemod
        statemod.COUNTER += 1
        print("began", time.time())
        time.sleep(1.0)
        assert statemod.COUNTER == 1, statemod.COUNTER
        print("ended", time.time())
        print("mark", os.environ["MARK"])
        sys.exit(int(os.environ["MARK"][-1]))
    """
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: _run(runner, tmp_path, lib, f"overlap{i}", code, mark=f"child{i}"), range(4)))
    assert [r.exit_code for r in results] == [0, 1, 2, 3]
    assert [r.output.split()[-1] for r in results] == ["child0", "child1", "child2", "child3"]

    def stamp(result, word):
        return float(next(line.split()[1] for line in result.output.splitlines() if line.startswith(word)))

    began = [stamp(r, "began") for r in results]
    ended = [stamp(r, "ended") for r in results]
    assert max(began) < min(ended), "the four children did not run at the same time"


def test_a_childs_exit_carries_the_cpu_time_it_and_its_own_children_spent(warm):
    runner, tmp_path, lib = warm
    burns = _run(runner, tmp_path, lib, "burns", """
        import subprocess, sys, time
        end = time.process_time() + 0.4
        while time.process_time() < end:
            pass
        subprocess.run([sys.executable, "-c", "import time\\nend = time.process_time() + 0.4\\n"
                        "while time.process_time() < end: pass"], check=True)
    """)
    sleeps = _run(runner, tmp_path, lib, "sleeps", "import time\ntime.sleep(0.8)\n")
    assert burns.exit_code == 0 and sleeps.exit_code == 0, burns.output + sleeps.output
    assert burns.cpu >= 0.75  # its own 0.4 s and its subprocess's, which it waited for
    assert sleeps.cpu < 0.2 and sleeps.duration >= 0.8
