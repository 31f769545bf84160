"""Commands the package starts by itself (its CLI, a worker's flow runs) fork from the warm runner.

Each test starts a real warm runner with an exec socket and calls commands
through harness/warm_exec.py the way a worker or a demo would: as a plain
subprocess, with its own stdin/stdout/stderr, environment, cwd and argv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from harness.run.process import isolated_environ
from harness.run.warm import WARM_EXEC_VARIABLE, WarmRunner, write_shims
from tests.test_services import alive, wait_dead

STATE_MODULE = """
import os
IMPORTED_WITH = os.environ.get("MARK", "none")
"""

PROBE = """
import json, os, signal, sys, statemod
print(json.dumps({
    "imported_with": statemod.IMPORTED_WITH, "reset_with": getattr(statemod, "RESET_WITH", None),
    "mark": os.environ.get("MARK"), "argv": sys.argv[1:], "cwd": os.getcwd(), "name": __name__,
    "stdin": sys.stdin.read(),
    "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL, "wakeup_fd": signal.set_wakeup_fd(-1),
}))
sys.stderr.write("to stderr\\n")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


@pytest.fixture
def warm(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "statemod.py").write_text(STATE_MODULE)
    (lib / "probe_mod.py").write_text(PROBE)
    environ = isolated_environ({}, "statemod", tmp_path / "parent", {"PYTHONPATH": str(lib), "MARK": "parent"})
    reset = "import os, statemod\nstatemod.RESET_WITH = os.environ.get('MARK')\n"
    folder = tempfile.mkdtemp(prefix="hw-test-", dir="/tmp")
    runner = WarmRunner(Path(sys.executable), ("statemod",), reset, environ, tmp_path, tmp_path / "warm.log",
                        exec_socket=Path(folder) / "exec.sock")
    assert runner.ready, runner.info
    yield runner, tmp_path, lib
    runner.close()
    shutil.rmtree(folder, ignore_errors=True)


def _environ(runner, tmp_path, lib, **extra):
    env = isolated_environ({}, "statemod", tmp_path / "caller", {"PYTHONPATH": str(lib), "MARK": "child", **extra})
    if runner is not None:
        env[WARM_EXEC_VARIABLE] = runner.exec_socket
    return env


def _call(prefix, args, env, cwd, stdin=""):
    return subprocess.run([*prefix, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)


def test_a_command_forks_from_the_warm_parent_with_the_callers_stdio_env_cwd_and_exit_code(warm):
    runner, tmp_path, lib = warm
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    done = _call(runner.exec_prefix(), [str(script), "a", "b c"], _environ(runner, tmp_path, lib, EXIT="3"), workdir,
                 stdin="from the caller")
    assert done.returncode == 3, done.stderr
    seen = json.loads(done.stdout)
    assert seen["imported_with"] == "parent"  # imported once, in the warm parent: this is a fork
    assert seen["reset_with"] == "child"  # the reset code read the caller's environment
    assert seen["mark"] == "child" and seen["argv"] == ["a", "b c"] and seen["cwd"] == str(workdir)
    assert seen["name"] == "__main__" and seen["stdin"] == "from the caller"
    assert seen["sigchld_default"] and seen["wakeup_fd"] == -1  # not the parent's way of hearing of exits
    assert done.stderr == "to stderr\n"


def test_a_module_runs_as_main_like_python_dash_m(warm):
    runner, tmp_path, lib = warm
    done = _call(runner.exec_prefix(), ["-m", "probe_mod", "--flag"], _environ(runner, tmp_path, lib), tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["imported_with"] == "parent" and seen["name"] == "__main__" and seen["argv"] == ["--flag"]


def test_without_the_socket_it_is_a_plain_interpreter(warm):
    runner, tmp_path, lib = warm
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = _environ(None, tmp_path, lib, EXIT="4")
    done = _call(runner.exec_prefix(), [str(script), "x"], env, tmp_path)
    assert done.returncode == 4
    seen = json.loads(done.stdout)
    assert seen["imported_with"] == "child" and seen["reset_with"] is None and seen["argv"] == ["x"]
    env[WARM_EXEC_VARIABLE] = str(tmp_path / "no-such.sock")  # a runner that is gone: the same
    again = _call(runner.exec_prefix(), [str(script)], env, tmp_path)
    assert again.returncode == 4 and json.loads(again.stdout)["imported_with"] == "child"


def test_a_shim_named_like_the_envs_script_calls_it_through_the_warm_runner(warm):
    runner, tmp_path, lib = warm
    env_bin = tmp_path / "envbin"
    env_bin.mkdir()
    (env_bin / "tool").write_text(PROBE)
    assert write_shims(tmp_path / "shims", env_bin, runner.exec_prefix(), ("tool", "absent")) == ["tool"]
    env = _environ(runner, tmp_path, lib)
    env["PATH"] = f"{tmp_path / 'shims'}:{env['PATH']}"
    done = subprocess.run("tool 'one arg'", shell=True, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["imported_with"] == "parent" and seen["argv"] == ["one arg"]


def test_a_python_shim_forks_dash_m_and_dash_c_and_hands_anything_else_to_the_real_interpreter(tmp_path):
    """With a python shim, a forked child's sys.executable is the shim: its own `-m` and `-c` children fork too."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "statemod.py").write_text(STATE_MODULE)
    (lib / "probe_mod.py").write_text(PROBE)
    extra_lib = tmp_path / "extra"
    extra_lib.mkdir()
    (extra_lib / "only_on_pythonpath.py").write_text("VALUE = 'found through PYTHONPATH'\n")
    env_bin = tmp_path / "envbin"
    env_bin.mkdir()
    (env_bin / "python").symlink_to(sys.executable)
    shims = tmp_path / "shims"
    folder = tempfile.mkdtemp(prefix="hw-test-", dir="/tmp")
    runner = WarmRunner(Path(sys.executable), ("statemod",), "", isolated_environ(
        {}, "statemod", tmp_path / "parent", {"PYTHONPATH": str(lib), "MARK": "parent"}), tmp_path,
        tmp_path / "warm.log", exec_socket=Path(folder) / "exec.sock", python_shim=shims / "python")
    try:
        assert write_shims(shims, env_bin, runner.exec_prefix(), ("python",)) == ["python"]
        assert runner.ready, runner.info
        outer = tmp_path / "outer.py"
        outer.write_text(textwrap.dedent("""
            import json, os, subprocess, sys
            pythonpath = os.pathsep.join([os.environ["PYTHONPATH"], sys.argv[1]])
            forked = subprocess.run([sys.executable, "-m", "probe_mod"], capture_output=True, text=True,
                                    env=dict(os.environ, PYTHONPATH=pythonpath))
            code = "import statemod, sys; print(statemod.IMPORTED_WITH, sys.argv, repr(sys.path[0]), __name__)"
            dash_c = subprocess.run([sys.executable, "-c", code, "x"], capture_output=True, text=True)
            plain = subprocess.run([sys.executable, "-u", "-c", "import statemod; print(statemod.IMPORTED_WITH)"],
                                   capture_output=True, text=True)
            check = subprocess.run([sys.executable, sys.argv[2]], capture_output=True, text=True,
                                   env=dict(os.environ, PYTHONPATH=pythonpath))
            print(json.dumps({"executable": sys.executable, "forked": json.loads(forked.stdout),
                              "dash_c": dash_c.stdout.strip() + dash_c.stderr, "plain": plain.stdout.strip(),
                              "check": check.stdout.strip() + check.stderr}))
        """))
        importer = tmp_path / "importer.py"
        importer.write_text("import only_on_pythonpath\nprint(only_on_pythonpath.VALUE)\n")
        env = _environ(runner, tmp_path, lib)
        done = _call(runner.exec_prefix(), [str(outer), str(extra_lib), str(importer)], env, tmp_path)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["executable"] == str(shims / "python")
        assert seen["forked"]["imported_with"] == "parent" and seen["forked"]["name"] == "__main__"
        assert seen["dash_c"] == "parent ['-c', 'x'] '' __main__"  # -c forks, with python -c's argv and path
        assert seen["plain"] == "child"  # interpreter options: a real interpreter imported statemod itself
        assert seen["check"] == "found through PYTHONPATH"  # a forked child sees the caller's PYTHONPATH
    finally:
        runner.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_command_handed_a_descriptor_beyond_stdio_runs_plain_and_reads_it(warm):
    """multiprocessing's spawn runs `python -c ... --multiprocessing-fork` with its pipe passed down: a fork
    from the runner would not have that descriptor."""
    runner, tmp_path, lib = warm
    code = "import os, sys, statemod; print(statemod.IMPORTED_WITH, os.read(int(sys.argv[1]), 20).decode())"
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"through the pipe")
        os.close(write_end)
        handed = subprocess.run([*runner.exec_prefix(), "-c", code, str(read_end)], env=_environ(runner, tmp_path, lib),
                                cwd=tmp_path, capture_output=True, text=True, timeout=60, pass_fds=(read_end,))
    finally:
        os.close(read_end)
    assert handed.returncode == 0, handed.stderr
    assert handed.stdout.strip() == "child through the pipe"  # a real interpreter, which has the pipe
    forked = _call(runner.exec_prefix(), ["-c", "import statemod; print(statemod.IMPORTED_WITH)"],
                   _environ(runner, tmp_path, lib), tmp_path)
    assert forked.stdout.strip() == "parent", forked.stderr  # nothing handed down: it forks


SLEEPER = """
import os, signal, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
def stop(signum, frame):
    open(sys.argv[1] + ".signal", "w").write(str(signum))
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
time.sleep(60)
"""


def _start_sleeper(runner, tmp_path, lib):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    pid_file = tmp_path / "child.pid"
    caller = subprocess.Popen([*runner.exec_prefix(), str(script), str(pid_file)], env=_environ(runner, tmp_path, lib),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and caller.poll() is None, caller.communicate()
        time.sleep(0.05)
    return caller, pid_file, int(pid_file.read_text())


def test_signals_reach_the_command_and_its_exit_status_comes_back(warm):
    runner, tmp_path, lib = warm
    caller, pid_file, child = _start_sleeper(runner, tmp_path, lib)
    assert child != caller.pid  # the work happens in the forked child, not in the stand-in
    caller.send_signal(signal.SIGTERM)  # what a worker does to cancel a flow run
    assert caller.wait(timeout=30) == 7
    assert Path(str(pid_file) + ".signal").read_text() == str(int(signal.SIGTERM))
    assert wait_dead([child]) == []


def test_a_command_whose_caller_is_killed_dies_too(warm):
    runner, tmp_path, lib = warm
    caller, _, child = _start_sleeper(runner, tmp_path, lib)
    assert alive(child)
    caller.kill()  # SIGKILL cannot be passed on: the warm runner sees the caller's socket close
    caller.wait(timeout=30)
    assert wait_dead([child]) == []


BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end:\n    pass\n"


def test_the_cpu_of_commands_a_demo_calls_counts_as_the_demos_own(warm):
    runner, tmp_path, lib = warm
    burn = tmp_path / "burn.py"
    burn.write_text(BURN)
    demo = tmp_path / "calls_a_command.py"  # as a CLI demo calls `prefect ...`: through the exec socket
    demo.write_text(textwrap.dedent(f"""
        import subprocess
        subprocess.run({runner.exec_prefix() + [str(burn)]!r}, check=True)
        subprocess.run({runner.exec_prefix() + [str(burn)]!r}, check=True)
    """))
    result = runner.run(demo, tmp_path, _environ(runner, tmp_path, lib), tmp_path / "logs" / "demo.log", 60)
    assert result is not None and result.exit_code == 0, result and result.output
    assert result.cpu >= 0.95  # the two commands' 0.5 s each: forked by the runner, started by the demo
    lone = _call(runner.exec_prefix(), [str(burn)], _environ(runner, tmp_path, lib), tmp_path)
    assert lone.returncode == 0, lone.stderr  # a command no demo called counts for none
    again = runner.run(demo, tmp_path, _environ(runner, tmp_path, lib), tmp_path / "logs" / "again.log", 60)
    assert 0.95 <= again.cpu < 1.45
