"""Faults of a demo's output, secrets, working folder and env (issue 16: defects 6-env, 9, 10), against real
processes: a secret in the live log, credential variables every demo sees, relative writes that reach the
project, a demo printing 200 MB, an env whose interpreter was deleted.

The fast tests drive run_process and the warm runner on this interpreter; the slow ones run the harness on a
real Prefect 1.4.1 env (seconds with uv's cache) with a warm runner that preloads only `json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.config.needs import NEEDS
from harness.run.capture import LOG_HEAD, LOG_TAIL, Redactor
from harness.run.cell import judge, work_area
from harness.run.process import error_summary, isolated_environ, run_process
from harness.run.warm import WarmRunner
from tests.conftest import REPO

SECRET = "ghp_s3cr3tT0kenValue42"

# Prints the secret in two writes (two reads on the harness's side), says so, then waits for the test.
LIVE_SECRET = """
import os, sys, time
secret = os.environ["GITHUB_TOKEN"]
half = len(secret) // 2
sys.stdout.write("token=" + secret[:half])
sys.stdout.flush()
time.sleep(0.3)
sys.stdout.write(secret[half:] + "\\n")
print("printed", flush=True)
open(os.environ["READY_FILE"], "w").close()
deadline = time.time() + 60
while not os.path.exists(os.environ["GO_FILE"]) and time.time() < deadline:
    time.sleep(0.05)
"""

# 200 MB of output, then the error that explains the failure.
LOUD = """
import sys
line = b"x" * 1023 + b"\\n"
for _ in range(200 * 1024):
    sys.stdout.buffer.write(line)
sys.stdout.buffer.flush()
raise SystemExit("RuntimeError: the last line after 200 MB")
"""

# Runs a 200 MB demo from a fresh interpreter (the harness's side) and prints its peak RSS (VmHWM: this
# process's own, where ru_maxrss would carry over the parent's peak through fork and exec) before and after.
MEASURE = """
import json, sys
from pathlib import Path
from harness.run.process import isolated_environ, run_process
from harness.run.warm import WarmRunner
def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
tmp, how = Path(sys.argv[1]), sys.argv[2]
env = isolated_environ({}, "x", tmp / "work")
runner = WarmRunner(Path(sys.executable), ("json",), "", env, tmp, tmp / "warm.log") if how == "fork" else None
if runner is not None:
    assert runner.wait_ready(), runner.info
before = peak_kb()
if runner is None:
    result = run_process([sys.executable, str(tmp / "loud.py")], 120, tmp, env, tmp / "loud.log", ["0123456789abcdef"])
else:
    result = runner.run(tmp / "loud.py", tmp, env, tmp / "loud.log", 120, ["0123456789abcdef"])
    runner.close()
after = peak_kb()
print(json.dumps({"before_kb": before, "after_kb": after, "exit": result.exit_code, "output": result.output[-4096:]}))
"""


# --- redaction as output is written -----------------------------------------------------------------------

@pytest.mark.parametrize("secrets", [["s3cr3t"], ["s3cr3t", "cr3t-longer-value"], ["aaab"]])
def test_a_secret_is_redacted_wherever_the_reads_split_it(secrets):
    stream = f"x {secrets[0]} y {secrets[-1]}{secrets[0]} aa{secrets[-1]} end s3c".encode()
    expected = stream
    for secret in sorted(secrets, key=len, reverse=True):
        expected = expected.replace(secret.encode(), b"[redacted]")
    for first in range(len(stream)):
        for second in range(first, len(stream)):
            redactor = Redactor(secrets)
            pieces = (stream[:first], stream[first:second], stream[second:])
            written = b"".join(redactor.feed(piece) for piece in pieces) + redactor.flush()
            assert written == expected, (first, second)


def test_only_what_could_begin_a_secret_is_held_back():
    redactor = Redactor([SECRET])
    assert redactor.feed(b"line one\nghp_s3") == b"line one\n"  # the rest may be the secret
    assert redactor.feed(b"cr3 is not it\n") == b"ghp_s3cr3 is not it\n"


def _read_live_log(run, log: Path, tmp_path: Path, wait: float = 30) -> str:
    """Start `run` in a thread; once the demo printed the secret, the log as it is then; then let it end."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + wait
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the demo never printed"
    while "printed" not in (text := log.read_text(errors="replace")) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    thread.join(wait)
    return text


def _live_secret_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "live.py").write_text(LIVE_SECRET)
    return isolated_environ({}, "x", tmp_path / "work", {"GITHUB_TOKEN": SECRET, "READY_FILE": str(tmp_path / "ready"),
                                                         "GO_FILE": str(tmp_path / "go")})


def test_the_live_log_of_a_plain_process_never_holds_a_secret(tmp_path):
    env, log, results = _live_secret_env(tmp_path), tmp_path / "live.log", []
    text = _read_live_log(lambda: results.append(run_process(
        [sys.executable, str(tmp_path / "live.py")], 60, tmp_path, env, log, [SECRET])), log, tmp_path)
    assert "token=[redacted]\nprinted" in text and SECRET[: len(SECRET) // 2] not in text
    assert results[0].exit_code == 0 and SECRET not in log.read_text()


def test_the_live_log_of_a_forked_demo_never_holds_a_secret(tmp_path):
    env, log, results = _live_secret_env(tmp_path), tmp_path / "live.log", []
    runner = WarmRunner(Path(sys.executable), ("json",), "", isolated_environ({}, "x", tmp_path / "parent"), tmp_path,
                        tmp_path / "warm.log")
    try:
        text = _read_live_log(lambda: results.append(runner.run(tmp_path / "live.py", tmp_path, env, log, 60,
                                                                [SECRET])), log, tmp_path)
    finally:
        runner.close()
    assert "token=[redacted]\nprinted" in text and SECRET[: len(SECRET) // 2] not in text
    assert results[0] is not None and results[0].exit_code == 0, "it ran forked"
    assert SECRET not in log.read_text() and not list(tmp_path.glob("*.pipe"))


def test_a_log_that_cannot_be_written_is_the_harnesss_failure_not_the_demos(tmp_path):
    result = run_process([sys.executable, "-c", "print('hello'); print('done')"], 30, tmp_path,
                         isolated_environ({}, "x", tmp_path / "work"), Path("/dev/full"))  # a full disk
    assert result.exit_code == 0 and result.output == "hello\ndone\n"
    assert result.log_error == "cannot write the log /dev/full: No space left on device"
    assert judge(result, None, 30)[1] == result.log_error  # its outcome: infra-error, once that exists


# --- credential variables only for the needs a demo declares -----------------------------------------------

@pytest.mark.parametrize("variable", sorted({v for need in NEEDS.values() for v in need.enable + need.secret}))
def test_no_need_variable_reaches_a_process_unless_passed(variable, tmp_path, monkeypatch):
    monkeypatch.setenv(variable, "value-of-" + variable)
    assert variable not in isolated_environ({}, "prefect", tmp_path)
    passed = isolated_environ({}, "prefect", tmp_path, {variable: "value-of-" + variable})  # a declared need's
    assert passed[variable] == "value-of-" + variable


# --- a working folder of the cell's own --------------------------------------------------------------------

WRITES = """
import os, sys
from pathlib import Path
import _helper  # next to the script
assert _helper.VALUE == 7
assert not os.path.exists("side-effect.txt"), "a file from an earlier cell"
Path("side-effect.txt").write_text("written relative to the working folder")
# as from the project: the script's path relative to the working folder is demos/family/writes.py
print(Path(__file__).absolute().relative_to(Path.cwd()))
print((Path(__file__).resolve().parent / "data.txt").read_text())
"""


@pytest.mark.parametrize("how", ["process", "fork"])
def test_relative_writes_stay_in_the_cells_own_folder(how, tmp_path):
    root = tmp_path / "project"
    (root / "demos" / "family").mkdir(parents=True)
    (root / "demos" / "family" / "writes.py").write_text(WRITES)
    (root / "demos" / "family" / "_helper.py").write_text("VALUE = 7\n")
    (root / "demos" / "family" / "data.txt").write_text("shipped data")
    runner = None
    if how == "fork":
        runner = WarmRunner(Path(sys.executable), ("json",), "", isolated_environ({}, "x", tmp_path / "parent"),
                            tmp_path, tmp_path / "warm.log")
    try:
        for cell in ("first", "second"):
            work = tmp_path / cell
            work.mkdir()
            cwd, script = work_area(work, root, "demos/family/writes.py")
            env = isolated_environ({}, "x", work)
            if runner is not None:
                result = runner.run(script, cwd, env, tmp_path / f"{cell}.log", 30)
            else:
                result = run_process([sys.executable, str(script)], 30, cwd, env, tmp_path / f"{cell}.log")
            assert result is not None and result.exit_code == 0, result and result.output
            assert "demos/family/writes.py\nshipped data" in result.output
            assert (cwd / "side-effect.txt").is_file()
    finally:
        if runner is not None:
            runner.close()
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["_helper.py", "data.txt", "writes.py"]


# --- a demo printing 200 MB ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["process", "fork"])
def test_a_demo_printing_200_mb_keeps_the_harness_small_and_its_log_capped(how, tmp_path):
    (tmp_path / "loud.py").write_text(LOUD)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path), how], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    grown_mb = (measured["after_kb"] - measured["before_kb"]) / 1024
    print(f"{how}: peak RSS {measured['before_kb'] / 1024:.0f} MB before, {measured['after_kb'] / 1024:.0f} MB after")
    assert grown_mb < 60, f"the harness grew by {grown_mb:.0f} MB for a demo printing 200 MB"
    assert measured["exit"] == 1
    assert error_summary(measured["output"]) == "RuntimeError: the last line after 200 MB"
    log = tmp_path / "loud.log"
    assert LOG_HEAD + LOG_TAIL < log.stat().st_size < LOG_HEAD + LOG_TAIL + 1024
    with log.open("rb") as f:
        head = f.read(2048)
        f.seek(LOG_HEAD)
        middle = f.read(1024)
        f.seek(-200, os.SEEK_END)
        end = f.read()
    assert head.startswith(b"x" * 1023 + b"\n")
    dropped = 200 * 2**20 + len(b"RuntimeError: the last line after 200 MB\n") - LOG_HEAD - LOG_TAIL
    assert b"[harness: %d bytes of output dropped here]" % dropped in middle
    assert end.endswith(b"RuntimeError: the last line after 200 MB\n")


# --- through the harness, on a real env ----------------------------------------------------------------------

MATRIX = """
[harness]
timeout = 120
fallbacks = 0
jobs = 1

[[ranges]]
releases = "<2"
env = { PREFECT__HOME_DIR = "{home}/.prefect" }
[ranges.warm]
preload = ["json"]

[[demos]]
path = "demos/family/writes_a.py"
story = "writes-a"
releases = "==1.4.1"

[[demos]]
path = "demos/family/writes_b.py"
story = "writes-b"
releases = "==1.4.1"

[[demos]]
path = "demos/family/no_need.py"
story = "no-need"
releases = "==1.4.1"

[[demos]]
path = "demos/family/live_secret.py"
story = "live-secret"
releases = "==1.4.1"
needs = ["github"]
"""

NO_NEED = """
import os
leaked = sorted(v for v in ("GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "PREFECT1_API_KEY", "DOCKER_HOST") if v in os.environ)
assert not leaked, "a demo that declares no need sees %s" % leaked
print("sees no credentials")
"""


def _real_project(project, tmp_path):
    for name in ("writes_a", "writes_b"):
        project.demo(f"demos/family/{name}.py", WRITES)
    project.demo("demos/family/_helper.py", "VALUE = 7\n")
    (project.root / "demos" / "family" / "data.txt").write_text("shipped data")
    project.demo("demos/family/no_need.py", NO_NEED)
    project.demo("demos/family/live_secret.py", LIVE_SECRET)
    project.write_matrix(MATRIX)
    return {**os.environ, "GITHUB_TOKEN": SECRET, "SLACK_WEBHOOK_URL": "https://hooks.invalid/T000/B000/XXXX",
            "READY_FILE": str(tmp_path / "ready"), "GO_FILE": str(tmp_path / "go")}


def _outcomes(project) -> dict[str, str]:
    lines = (project.root / ".matrix" / "results.jsonl").read_text().splitlines()
    return {c["demo"].split("/")[-1]: c["outcome"] for c in map(json.loads, lines)}


def _harness(project, environ, *args):
    return subprocess.Popen([sys.executable, "-m", "harness", "--matrix", str(project.matrix), "run", "1.4.1",
                             "--no-report", *args], cwd=REPO, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_cells_see_only_their_needs_write_only_their_folder_and_log_no_secret(project, tmp_path):
    environ = _real_project(project, tmp_path)
    harness = _harness(project, environ)
    log = project.root / ".matrix" / "logs" / "release-1.4.1-py3.10" / "demos_family_live_secret.py.log"
    text = _read_live_log(lambda: harness.wait(600), log, tmp_path, wait=600)
    output = harness.stdout.read()
    assert harness.returncode == 0, output
    assert "token=[redacted]\nprinted" in text and SECRET[: len(SECRET) // 2] not in text
    assert _outcomes(project) == {"writes_a.py": "pass", "writes_b.py": "pass", "no_need.py": "pass",
                                  "live_secret.py": "pass"}, output
    cells = [json.loads(line) for line in (project.root / ".matrix" / "results.jsonl").read_text().splitlines()]
    assert {c["runner"] for c in cells} == {"fork"}
    assert not list(project.root.rglob("side-effect.txt")), "a relative write reached the project"


@pytest.mark.slow
def test_an_env_whose_interpreter_or_marker_is_gone_is_rebuilt(project, tmp_path):
    environ = _real_project(project, tmp_path)
    (tmp_path / "go").touch()  # the live-secret demo does not wait here
    first = _harness(project, environ)
    assert first.wait(600) == 0, first.stdout.read()
    [env_dir] = (project.root / ".matrix" / "envs").iterdir()
    (env_dir / "bin" / "python").unlink()
    for args, broken in ((["--no-warm"], "interpreter"), ([], "marker")):
        (project.root / ".matrix" / "results.jsonl").unlink()
        again = _harness(project, environ, "--force", *args)
        output = again.stdout.read()
        assert again.wait(600) == 0, output
        assert f"{env_dir.name}: its {broken}" in output and "rebuilding it" in output, output
        assert set(_outcomes(project).values()) == {"pass"}, output
        (env_dir / "ready.json").write_text('{"freeze": ["prefect==1.4')  # cut by a full disk
