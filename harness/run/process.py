"""Run one script in one env: isolated, time-limited, classified.

Each run gets a fresh HOME and package home (from the matrix's env templates),
its own process group (so a timeout kills every child), and its combined
output written to a log file of which the tail is kept.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.run.stop import GRACE, STOP
from harness.run.supervise import die_with_parent

TAIL_CHARS = 3000
KILL_GRACE = 5.0


@dataclass
class ProcessResult:
    exit_code: int | None
    output: str
    duration: float
    timed_out: bool = False
    interrupted: bool = False  # a stop request ended it (or kept it from starting): its exit says nothing


def isolated_environ(
    template: dict[str, str],
    package: str,
    workdir: Path,
    extra: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    pycache: Path | None = None,
) -> dict[str, str]:
    """The caller's environment minus anything that would leak into the run, plus a fresh home.

    `template` values may use {home} (the fresh HOME), {tmp} (the run's temp dir), {storage}
    (an empty folder for the run's results) and `values`. With `pycache` (the env's bytecode
    folder) compiled modules are kept there, outside the sources, and reused by every later
    interpreter of the env: importing from source alone costs about twice as much.
    """
    prefix = package.upper().replace("-", "_") + "_"
    environ = {
        k: v for k, v in os.environ.items()
        if not k.startswith(prefix) and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    home = workdir / "home"
    tmp = workdir / "tmp"
    storage = workdir / "storage"
    for folder in (home, tmp, storage):
        folder.mkdir(parents=True, exist_ok=True)
    environ.update(HOME=str(home), TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    if pycache is None:
        environ["PYTHONDONTWRITEBYTECODE"] = "1"
        environ.pop("PYTHONPYCACHEPREFIX", None)
    else:
        environ.pop("PYTHONDONTWRITEBYTECODE", None)
        environ["PYTHONPYCACHEPREFIX"] = str(pycache)
    for key, value in template.items():
        environ[key] = value.format(home=home, tmp=tmp, storage=storage, **(values or {}))
    environ.update(extra or {})
    return environ


def run_process(
    args: list[str],
    timeout: float,
    cwd: Path,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    secrets: list[str] | None = None,
) -> ProcessResult:
    """Run in a new process group; on timeout or a stop request kill the whole group. Output goes to log_path."""
    if STOP.requested:
        return ProcessResult(None, "", 0.0, interrupted=True)
    if env is None:
        scratch = tempfile.TemporaryDirectory(prefix="harness-run-")
        env = isolated_environ({}, "", Path(scratch.name))
    if log_path is None:
        log_fd, name = tempfile.mkstemp(prefix="harness-", suffix=".log")
        os.close(log_fd)
        log_path = Path(name)
        keep_log = False
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        keep_log = True
    started = time.monotonic()
    timed_out = False
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
        )
        with STOP.watching(proc.pid) as running:
            try:
                proc.wait(timeout=timeout)
                running.done = True
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                kill_group(proc.pid, proc)  # also reaps children a finished script left behind
    result = _finish(log_path, keep_log, secrets, proc.returncode, time.monotonic() - started, timed_out)
    result.interrupted = running.stopped
    return result


def kill_group(pgid: int, proc: subprocess.Popen | None = None) -> None:
    """Stop a process group: SIGTERM, a grace period (short once a stop is requested), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, GRACE if STOP.requested else KILL_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if (proc is None or proc.poll() is not None) and not _group_alive(pgid):
                return
            time.sleep(0.05)
    if proc is not None:
        proc.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _finish(log_path: Path, keep_log: bool, secrets: list[str] | None, exit_code, duration: float,
            timed_out: bool) -> ProcessResult:
    output = log_path.read_text(encoding="utf-8", errors="replace")
    if secrets:
        redacted = redact(output, secrets)
        if redacted != output:
            log_path.write_text(redacted, encoding="utf-8")
            output = redacted
    if not keep_log:
        log_path.unlink(missing_ok=True)
    return ProcessResult(None if timed_out else exit_code, output, duration, timed_out)


def classify(result: ProcessResult, xfail_reason: str | None) -> str:
    """Map a finished run to an outcome of DESIGN.md."""
    if result.timed_out:
        outcome = "timeout"
    elif result.exit_code == 0:
        outcome = "pass"
    else:
        outcome = "fail"
    if xfail_reason is not None:
        return "xpass" if outcome == "pass" else "xfail"
    return outcome


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Warning)"
                             r"|[A-Za-z_][\w.]*)(: .*)?$")


def error_summary(output: str, limit: int = 300) -> str:
    """The last exception line of a traceback, else the last non-blank line."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    seen_traceback = False
    candidate = ""
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            seen_traceback = True
            continue
        if seen_traceback and not line.startswith((" ", "\t")) and _EXCEPTION_LINE.match(line):
            candidate = line
            seen_traceback = False
    if not candidate and lines:
        candidate = lines[-1].strip()
    return candidate[:limit]


def tail(output: str, chars: int = TAIL_CHARS) -> str:
    return output if len(output) <= chars else "…" + output[-chars:]


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
