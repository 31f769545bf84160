"""Running one script: isolation, time limits that kill the whole group, classification."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from harness.run.process import ProcessResult, classify, error_summary, isolated_environ, run_process


def test_classify_each_outcome():
    assert classify(ProcessResult(0, "", 1.0), None) == "pass"
    assert classify(ProcessResult(1, "", 1.0), None) == "fail"
    assert classify(ProcessResult(None, "", 1.0, timed_out=True), None) == "timeout"
    assert classify(ProcessResult(1, "", 1.0), "known") == "xfail"
    assert classify(ProcessResult(None, "", 1.0, timed_out=True), "known") == "xfail"
    assert classify(ProcessResult(0, "", 1.0), "known") == "xpass"


def test_error_summary_is_the_last_exception_line():
    output = (
        "starting\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    boom()\n"
        "ValueError: first\n\nDuring handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n  File \"x.py\", line 3\nAssertionError: loaded 3 rows, expected 4\n"
        "some logging after\n"
    )
    assert error_summary(output) == "AssertionError: loaded 3 rows, expected 4"
    assert error_summary("no traceback\nexpected 4 rows, got 3\n") == "expected 4 rows, got 3"
    # a traceback the demo expected (a flow that fails on purpose), then its own verdict on exit
    expected_failure = ("Traceback (most recent call last):\n  File \"x.py\"\nValueError: the table is missing\n"
                        "08:28:13 | INFO | Flow run finished in state Failed\n"
                        "client_demo: task runs by state: {'COMPLETED': 10}, expected {'COMPLETED': 10, 'FAILED': 1}\n")
    assert error_summary(expected_failure).startswith("client_demo: task runs by state")
    assert error_summary("") == ""


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_a_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "hang.py"
    script.write_text(
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    result = run_process([sys.executable, str(script)], timeout=2, cwd=tmp_path,
                         env=isolated_environ({}, "prefect", tmp_path / "w"))
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 15
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower()


def test_isolated_environ_gives_a_fresh_home_and_drops_leaks(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://user-server")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = isolated_environ({"PREFECT_HOME": "{home}/.prefect", "SCRATCH": "{tmp}/x"}, "prefect", tmp_path)
    assert env["HOME"] == str(tmp_path / "home") and (tmp_path / "home").is_dir()
    assert env["PREFECT_HOME"] == str(tmp_path / "home" / ".prefect")
    assert env["SCRATCH"] == str(tmp_path / "tmp" / "x")
    assert "PREFECT_API_URL" not in env and "PYTHONPATH" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and "PYTHONPYCACHEPREFIX" not in env


def test_an_envs_interpreters_share_one_bytecode_folder_outside_the_sources(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "somemod.py").write_text("VALUE = 1\n")
    pycache = tmp_path / "env" / "pycache"
    env = isolated_environ({"RESULTS": "{storage}"}, "x", tmp_path / "w", {"PYTHONPATH": str(lib)}, pycache=pycache)
    assert env["RESULTS"] == str(tmp_path / "w" / "storage") and (tmp_path / "w" / "storage").is_dir()
    assert "PYTHONDONTWRITEBYTECODE" not in env
    run = run_process([sys.executable, "-c", "import somemod"], timeout=30, cwd=tmp_path, env=env)
    assert run.exit_code == 0, run.output
    assert list(pycache.rglob("somemod*.pyc")), "the compiled module is kept in the env's folder"
    assert not (lib / "__pycache__").exists(), "and not next to the source"


def test_output_is_captured_to_the_log_and_secrets_redacted(tmp_path):
    log = tmp_path / "out.log"
    result = run_process([sys.executable, "-c", "import sys; print('token=s3cr3t-value'); sys.exit(3)"],
                         timeout=30, cwd=tmp_path, env=isolated_environ({}, "x", tmp_path), log_path=log,
                         secrets=["s3cr3t-value"])
    assert result.exit_code == 3
    assert "s3cr3t-value" not in result.output and "token=[redacted]" in result.output
    assert "s3cr3t-value" not in log.read_text()


def test_a_fresh_interpreter_s_cpu_time_counts_the_children_it_waited_for(tmp_path):
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    script = tmp_path / "burns.py"
    script.write_text(f"import subprocess, sys\nexec({burn!r})\nsubprocess.run([sys.executable, '-c', {burn!r}])\n")
    burns = run_process([sys.executable, str(script)], timeout=60, cwd=tmp_path)
    sleeps = run_process([sys.executable, "-c", "import time; time.sleep(0.8)"], timeout=60, cwd=tmp_path)
    assert burns.exit_code == 0 and burns.cpu >= 0.75, burns
    assert sleeps.exit_code == 0 and sleeps.cpu < 0.3 and sleeps.duration >= 0.8
    stuck = run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5, cwd=tmp_path)
    assert stuck.timed_out and stuck.cpu is None
