"""Issue 16, defects 1, 2, 3 and 8 against real processes: stopping a run (SIGINT, SIGTERM, twice, SIGKILL),
what it records, what it leaves running, and two runs on one state folder.

No Prefect: the release's env is made the way the harness would reuse it (its marker, and this interpreter as
its python), so the harness runs real demos, a warm runner, a server and a worker (small stdlib stand-ins)
within seconds. The env build case uses real uv against an index that never answers.
"""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness.plan.sessions import load_plan
from harness.run.lock import state_lock
from harness.run.session import env_spec
from harness.run.stop import Interrupted, StopRequest
from harness.run.watchdog import CELL_VARIABLE, remove_temp, sweep
from tests.conftest import REPO
from tests.test_services import alive, wait_dead

MATRIX = """
[harness]
timeout = 600
retries = 1
jobs = {jobs}
fallbacks = 0

[[ranges]]
releases = "<2"
[ranges.warm]
preload = ["json"]
commands = ["python"]
[ranges.server]
command = ["python", "fake_server.py", "{{port}}"]
export = "FAKE_API_URL"
[ranges.worker]
command = ["python", "fake_worker.py"]
ready = "worker ready"

[[demos]]
path = "demos/quick.py"
story = "quick"
releases = "==1.4.1"

[[demos]]
path = "demos/slow_a.py"
story = "slow_a"
releases = "==1.4.1"

[[demos]]
path = "demos/slow_b.py"
story = "slow_b"
releases = "==1.4.1"
needs = ["process-worker"]
"""

# Sleeps while the marker file exists; starts a child and a double-forked setsid daemon first.
SLOW = """
import os, pathlib, subprocess, sys, time
out = pathlib.Path({out!r})
name = pathlib.Path(__file__).stem
if (out / "hold").exists():
    child = subprocess.Popen(["sleep", "600"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            (out / (name + ".daemon")).write_text(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        os._exit(0)
    (out / (name + ".pids")).write_text(f"{{os.getpid()}} {{child.pid}}")
    time.sleep(600)
print(name, "done")
"""

SERVER = """
import http.server, os, pathlib, sys
pathlib.Path({out!r}, "server.pid").write_text(str(os.getpid()))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
        if self.path.endswith("/die"):
            os._exit(3)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# Ignores SIGTERM and SIGINT, as a worker busy shutting down may: only SIGKILL ends it.
WORKER = """
import os, pathlib, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
pathlib.Path({out!r}, "worker.pid").write_text(str(os.getpid()))
print("worker ready", flush=True)
time.sleep(3600)
"""


def fake_env(project, version: str = "1.4.1") -> str:
    """The release's env as the harness reuses it (ready.json), this interpreter as its python; the session name."""
    plan = load_plan(project.matrix, only=[version])
    (session,) = [s for s in plan.sessions if s.release.version == version]
    matrix = plan.matrix
    spec = env_spec(matrix, session, matrix.env_settings(session.release.parsed, session.resolution))
    interpreter = session.candidates[0]
    name = f"{spec.package}-{version}-py{interpreter.minor}-{session.resolution}-{spec.key(interpreter)}"
    env = matrix.resolve(matrix.settings.state_dir) / "envs" / name
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(sys.executable)
    (env / "ready.json").write_text(json.dumps({"freeze": ["fake==1.0"], "python": interpreter.version}))
    return session.name


@pytest.fixture
def faults(project, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "hold").write_text("")
    project.write_matrix(MATRIX.format(jobs=3))
    project.demo("demos/quick.py", "print('quick')\n")
    project.demo("demos/slow_a.py", SLOW.format(out=str(out)))
    project.demo("demos/slow_b.py", SLOW.format(out=str(out)))
    (project.root / "fake_server.py").write_text(SERVER.format(out=str(out)))
    (project.root / "fake_worker.py").write_text(WORKER.format(out=str(out)))
    project.session = fake_env(project)
    project.out = out
    return project


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_harness_left():
    """A test that fails half way leaves no harness running (its watchdog then cleans up after it)."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def start(project, *args: str) -> subprocess.Popen:
    """The harness in a session of its own, so a signal reaches it alone (as a terminal's Ctrl-C reaches the
    foreground group, which holds no demo: each has its own)."""
    process = subprocess.Popen([sys.executable, "-m", "harness", "--matrix", str(project.matrix), *args],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    STARTED.append(process)
    return process


def wait_for(paths: list[Path], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"never written: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.1)
    time.sleep(0.2)


def demo_pids(out: Path) -> list[int]:
    """Each slow demo, its child and its setsid daemon."""
    pids = []
    for name in ("slow_a", "slow_b"):
        pids += [int(p) for p in (out / f"{name}.pids").read_text().split()]
        pids.append(int((out / f"{name}.daemon").read_text()))
    return pids


def started(out: Path) -> list[Path]:
    return [out / f"{name}.{kind}" for name in ("slow_a", "slow_b") for kind in ("pids", "daemon")]


def wait_recorded(project, demo: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not any(r["demo"] == demo for r in records(project)):
        assert time.monotonic() < deadline, f"{demo} was never recorded"
        time.sleep(0.1)


def records(project) -> list[dict]:
    path = project.root / ".matrix" / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcomes(project) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in records(project):
        found.setdefault(Path(record["demo"]).stem, []).append(record["outcome"])
    return found


def our_temp(pid: int) -> list[str]:
    return [name for folder in {tempfile.gettempdir(), "/tmp"} for name in os.listdir(folder)
            if name.startswith((f"harness-cell-{pid}-", f"harness-warm-{pid}-", f"harness-canary-{pid}-"))]


@pytest.mark.slow  # the tests that start the harness take seconds each
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_stops_the_run_within_seconds_and_records_only_what_is_true(faults, sig, code):
    harness = start(faults, "run", "1.4.1", "--no-report")
    wait_for(started(faults.out) + [faults.out / "worker.pid", faults.out / "server.pid"])
    wait_recorded(faults, "demos/quick.py")
    pids = demo_pids(faults.out) + [int((faults.out / n).read_text()) for n in ("worker.pid", "server.pid")]
    signalled = time.monotonic()
    harness.send_signal(sig)
    stdout, stderr = harness.communicate(timeout=60)
    assert harness.returncode == code, stdout + stderr
    assert time.monotonic() - signalled < 8, stdout + stderr
    name = signal.Signals(sig).name
    assert f"interrupted by {name}: stopped 2: demos/slow_" in stdout and "1 cell(s) recorded" in stdout
    assert "Traceback" not in stderr and "retrying" not in stdout
    assert outcomes(faults) == {"quick": ["pass"], "slow_a": ["interrupted"], "slow_b": ["interrupted"]}
    stopped = [r for r in records(faults) if r["outcome"] == "interrupted"]
    assert all(r["attempts"] == 1 and r["error"].startswith(f"stopped by {name}") for r in stopped)
    assert wait_dead(pids, 5) == []  # the demos, their children and daemons, the server, the worker
    assert our_temp(harness.pid) == []
    # the interrupted cells run again (they pass now); the cell that passed is reused, nothing regressed
    (faults.out / "hold").unlink()
    again = faults.harness("run", "1.4.1", "--no-report", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "quick.py on 1.4.1: pass (reused: inputs unchanged)" in again.stdout
    assert outcomes(faults) == {"quick": ["pass", "pass"], "slow_a": ["interrupted", "pass"],
                                "slow_b": ["interrupted", "pass"]}


@pytest.mark.slow
def test_a_second_signal_kills_at_once_and_no_record_claims_a_result(faults):
    harness = start(faults, "run", "1.4.1", "--no-report")
    wait_for(started(faults.out) + [faults.out / "worker.pid"])
    pids = demo_pids(faults.out) + [int((faults.out / "worker.pid").read_text())]
    harness.send_signal(signal.SIGINT)
    time.sleep(0.3)
    harness.send_signal(signal.SIGINT)
    harness.communicate(timeout=30)
    assert harness.returncode == 130
    slow = [o for name, found in outcomes(faults).items() if name != "quick" for o in found]
    assert set(slow) <= {"interrupted"}, slow  # recorded as interrupted, or not at all
    assert wait_dead(pids, 15) == []  # the watchdog kills what the harness had no time to


@pytest.mark.slow
def test_a_killed_harness_leaves_no_process_and_no_temp_folder(faults):
    harness = start(faults, "run", "1.4.1", "--no-report")
    wait_for(started(faults.out) + [faults.out / "worker.pid", faults.out / "server.pid"])
    # the worker and the server are forks of the warm runner, in sessions of their own; the daemons too
    pids = demo_pids(faults.out) + [int((faults.out / n).read_text()) for n in ("worker.pid", "server.pid")]
    assert our_temp(harness.pid)
    harness.kill()
    harness.communicate(timeout=30)
    assert wait_dead(pids, 15) == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in pids if alive(p)]
    deadline = time.monotonic() + 5
    while our_temp(harness.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_temp(harness.pid) == []


@pytest.mark.slow
def test_a_second_run_on_the_same_state_folder_is_refused_and_the_first_stays_true(faults):
    first = start(faults, "run", "1.4.1", "--no-report")
    wait_for(started(faults.out))
    wait_recorded(faults, "demos/quick.py")
    log = faults.root / ".matrix" / "logs" / faults.session / "demos_slow_a.py.log"
    assert log.exists()
    second = faults.harness("run", "1.4.1", "--no-report", "--force", timeout=60)
    assert second.returncode == 2
    state = (faults.root / ".matrix").resolve()
    assert f"error: {state} is in use by another run (pid {first.pid}: " in second.stderr
    assert log.exists()  # the first run's folder was left alone
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    assert outcomes(faults) == {"quick": ["pass"], "slow_a": ["interrupted"], "slow_b": ["interrupted"]}
    (faults.out / "hold").unlink()
    again = faults.harness("run", "1.4.1", "--no-report", timeout=60)  # the lock went with the first run
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.slow
def test_a_service_that_dies_under_a_cell_is_an_infra_error_not_the_demos_fail(faults):
    faults.demo("demos/slow_a.py", """
        import os, urllib.request
        import time
        try:
            urllib.request.urlopen(os.environ["FAKE_API_URL"] + "/die")
        except OSError:
            pass
        time.sleep(1)
        urllib.request.urlopen(os.environ["FAKE_API_URL"] + "/health")
    """)
    (faults.out / "hold").unlink()
    done = faults.harness("run", "1.4.1", "--no-report", timeout=120)
    cell = next(r for r in records(faults) if r["demo"] == "demos/slow_a.py")
    assert (cell["outcome"], cell["attempts"]) == ("infra-error", 1), done.stdout + done.stderr
    assert cell["error"].startswith("a service of the env died: the server exited with 3")
    assert done.returncode == 1  # CI notices
    assert outcomes(faults)["quick"] == ["pass"]


@pytest.fixture
def silent_index():
    """An index that accepts connections and never answers: uv waits on it."""
    sockets = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            sockets.append(self.connection)
            time.sleep(600)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple"
    server.shutdown()


def uv_processes(marker: str) -> list[int]:
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                found.append(int(name))
        except OSError:
            pass
    return found


@pytest.mark.slow
def test_ctrl_c_during_the_env_build_prints_one_line_and_no_traceback(project, silent_index):
    project.write_matrix("""
        [harness]
        fallbacks = 0

        [[demos]]
        path = "demos/quick.py"
        story = "quick"
        releases = "==1.4.1"
    """)
    project.demo("demos/quick.py", "print('quick')\n")
    environ = dict(os.environ, UV_DEFAULT_INDEX=silent_index, UV_NO_CONFIG="1", UV_NO_CACHE="1")
    harness = subprocess.Popen([sys.executable, "-m", "harness", "--matrix", str(project.matrix), "run", "1.4.1",
                                "--no-report"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=environ)
    STARTED.append(harness)
    envs = project.root / ".matrix" / "envs"
    deadline = time.monotonic() + 60
    while not [p for p in uv_processes(str(envs)) if b"install" in Path(f"/proc/{p}/cmdline").read_bytes()]:
        assert time.monotonic() < deadline and harness.poll() is None, "uv never started installing"
        time.sleep(0.1)
    uv = uv_processes(str(envs))
    harness.send_signal(signal.SIGINT)
    stdout, stderr = harness.communicate(timeout=30)
    assert harness.returncode == 130, stdout + stderr
    assert "interrupted by SIGINT: stopped 1: the env build (uv: installing); 0 cell(s) recorded" in stdout
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert records(project) == []  # not an env-error: nothing was measured
    assert wait_dead(uv, 5) == []


# --- the mechanisms alone, in this process: fast ---------------------------------------------------------------

def sleeper(**environ: str) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "600"], start_new_session=True, env=dict(os.environ, **environ))


def test_a_stop_ends_the_registered_groups_and_one_that_registers_late():
    stop = StopRequest()
    running, finished = sleeper(), sleeper()
    with stop.watching(running.pid) as entry, stop.watching(finished.pid) as ended:
        ended.done = True  # its leader ended by itself: killing its group's leftovers interrupts nothing
        stop.request(signal.SIGTERM)
        assert running.wait(timeout=5) == -signal.SIGTERM and finished.wait(timeout=5) == -signal.SIGTERM
    assert (entry.stopped, ended.stopped) == (True, False)
    late = sleeper()
    with stop.watching(late.pid) as entry:
        assert late.wait(timeout=5) == -signal.SIGKILL and entry.stopped
    with pytest.raises(Interrupted, match="the worker's start"):
        stop.check("the worker's start")
    assert stop.exit_code == 143
    assert stop.summary(4) == "interrupted by SIGTERM: stopped 1: the worker's start; 4 cell(s) recorded"


def test_a_stop_kills_a_group_that_ignores_sigterm_after_the_grace():
    stop = StopRequest()
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                                 "time.sleep(600)"], start_new_session=True, stdout=subprocess.PIPE)
    stubborn.stdout.readline()
    with stop.watching(stubborn.pid):
        stop.request(signal.SIGINT)
        assert stubborn.wait(timeout=5) == -signal.SIGKILL


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(600)
    os._exit(0)
os.waitpid(-1, 0)
"""


def test_a_sweep_kills_a_tagged_setsid_daemon_and_nothing_else(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    subprocess.run([sys.executable, "-c", DAEMON, str(pid_file)], env=dict(os.environ, **{CELL_VARIABLE: "t1"}),
                   timeout=30)
    wait_for([pid_file], 10)
    daemon = int(pid_file.read_text())
    bystander = sleeper(**{CELL_VARIABLE: "t2"})
    assert alive(daemon)
    assert sweep(CELL_VARIABLE, "t1", grace=1.0) == [daemon]
    assert wait_dead([daemon], 5) == [] and alive(bystander.pid)
    bystander.kill()
    bystander.wait()


def test_temp_folders_of_a_harness_that_is_gone_are_removed(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    for name in (f"harness-cell-{gone.pid}-a", f"harness-warm-{os.getpid()}-b", "harness-other-1-c"):
        (tmp_path / name).mkdir()
    remove_temp([str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["harness-other-1-c", f"harness-warm-{os.getpid()}-b"]
    remove_temp([str(tmp_path)], owner=os.getpid())
    assert [p.name for p in tmp_path.iterdir()] == ["harness-other-1-c"]


LOCKER = """
import sys, time
from pathlib import Path
from harness.run.lock import StateBusy, state_lock
try:
    with state_lock(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None):
        print("locked", flush=True)
        time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)
except StateBusy as exc:
    print(exc, flush=True)
"""


def locker(*args: str) -> str:
    return subprocess.run([sys.executable, "-c", LOCKER, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_the_state_folder_is_one_runs_own_shared_by_its_processes_and_freed_when_it_dies(tmp_path):
    state = tmp_path / "state"
    with state_lock(state):
        refused = locker(str(state))
        assert refused.startswith(f"{state.resolve()} is in use by another run (pid {os.getpid()}: ")
        assert "give this run a state folder of its own" in refused
        assert locker(str(state), str(os.getpid())) == "locked"  # a process of the same run (nox --parallel)
    killed = subprocess.Popen([sys.executable, "-c", LOCKER, str(state), "", "600"], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "locked"
    killed.kill()
    killed.wait()
    with state_lock(state):  # the killed run's lock went with it
        assert [p.name for p in (state / "runs").glob("*.lock")] == [f"{os.getpid()}.lock"]


def test_processes_of_one_run_starting_together_never_take_each_others_probe_for_a_live_run(tmp_path):
    """nox --parallel starts its workers at once, and a previous run left its lock file: one worker, removing
    that stale file, holds it exclusively for a moment; the others must wait their turn, not refuse."""
    runs = tmp_path / "state" / "runs"
    runs.mkdir(parents=True)
    stale = runs / "4194305.lock"  # a run that ended: nobody holds it
    stale.touch()
    turn = os.open(runs / "probing", os.O_RDWR | os.O_CREAT)
    held = os.open(stale, os.O_RDWR)
    fcntl.flock(turn, fcntl.LOCK_EX)  # as a sibling worker is, mid-probe
    fcntl.flock(held, fcntl.LOCK_EX)
    sibling = subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path / "state"), str(os.getpid())],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    stale.unlink()
    os.close(held)
    os.close(turn)
    assert sibling.communicate(timeout=30)[0].strip() == "locked"
    stale.touch()
    (runs / "4194305.postgres.json").write_text("{}")  # what that run kept beside its lock
    together = [subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path / "state"), str(os.getpid()), "0.2"],
                                 cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    assert [p.communicate(timeout=30)[0].strip() for p in together] == ["locked"] * 6
    assert sorted(p.name for p in runs.iterdir()) == [f"{os.getpid()}.lock", "probing"]


def as_from_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it: a suite started in the background by a shell without job control
    inherits SIGINT *ignored* (bash does that to asynchronous commands), and a Python that starts with SIGINT
    ignored never raises KeyboardInterrupt, so nox --parallel, whose stop relies on it, would not stop at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "parallel"])
def test_nox_stops_on_one_ctrl_c_and_records_only_what_is_true(faults, parallel):
    command = [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-t", "1.4.1"]
    command += ["--parallel", "2"] if parallel else []
    nox = subprocess.Popen(command, cwd=REPO, env=dict(os.environ, MATRIX_FILE=str(faults.matrix)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                           preexec_fn=as_from_a_terminal)
    STARTED.append(nox)
    wait_for(started(faults.out) + [faults.out / "worker.pid"])
    wait_recorded(faults, "demos/quick.py")
    pids = demo_pids(faults.out) + [int((faults.out / "worker.pid").read_text())]
    signalled = time.monotonic()
    nox.send_signal(signal.SIGINT)  # under --parallel nox passes it on as SIGTERM, and SIGKILL 2 s later
    output, _ = nox.communicate(timeout=60)
    assert nox.returncode == 130 and time.monotonic() - signalled < 10, output
    if parallel:
        # nox passes the signal on as SIGTERM and SIGKILLs its worker 2 s later: an in-flight cell is recorded
        # `interrupted` when the worker got that far (measured 1.5-1.9 s here), else not at all; never fail/pass
        found = outcomes(faults)
        assert found.pop("quick") == ["pass"], output
        assert all(found.get(name, ["interrupted"]) == ["interrupted"] for name in ("slow_a", "slow_b")), found
        assert set(found) <= {"slow_a", "slow_b"}, found
    else:  # in-process, the run ends itself: every in-flight cell is recorded, and it says so in one line
        assert outcomes(faults) == {"quick": ["pass"], "slow_a": ["interrupted"], "slow_b": ["interrupted"]}, output
        assert "interrupted by SIGINT: stopped 2: demos/slow_" in output and "Traceback" not in output
    assert wait_dead(pids, 10) == []


@pytest.mark.slow
@pytest.mark.parametrize("warm", [True, False], ids=["forked", "plain"])
def test_a_daemon_a_demo_leaves_behind_dies_with_its_cell_or_session(faults, warm):
    faults.demo("demos/slow_a.py", f"""
        import os, pathlib, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                pathlib.Path({str(faults.out)!r}, "left.daemon").write_text(str(os.getpid()))
                time.sleep(600)
            os._exit(0)
        os.wait()
        while not pathlib.Path({str(faults.out)!r}, "left.daemon").exists():
            time.sleep(0.05)
    """)
    (faults.out / "hold").unlink()
    done = faults.harness("run", "1.4.1", "--no-report", *([] if warm else ["--no-warm"]), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outcomes(faults)["slow_a"] == ["pass"]
    assert wait_dead([int((faults.out / "left.daemon").read_text())], 5) == []
