"""Run one script in one env: isolated, time-limited, classified.

Each run gets a fresh HOME and package home (from the matrix's env templates),
its own process group (so a timeout kills every child), and its combined
output copied, redacted, to a log file of which the tail is kept (harness.run.capture).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.config.needs import NEEDS
from harness.run.capture import OutputCapture
from harness.run.stop import GRACE, STOP
from harness.run.supervise import die_with_parent

INENV = Path(__file__).resolve().parents[1] / "inenv"  # files the harness hands to processes inside an env

TAIL_CHARS = 3000
KILL_GRACE = 5.0
DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
NEED_VARIABLES = frozenset(var for need in NEEDS.values() for var in need.enable + need.secret)


@dataclass
class ProcessResult:
    exit_code: int | None
    output: str  # the output's last OUTPUT_KEEP bytes (the whole output is in the log, up to its cap)
    duration: float
    timed_out: bool = False
    log_error: str = ""  # why its log could not be written: the harness's failure, not the process's
    interrupted: bool = False  # a stop request ended it (or kept it from starting): its exit says nothing
    cpu: float | None = None  # CPU seconds of it and the children it waited for; None: not measured


def isolated_environ(
    template: dict[str, str],
    package: str,
    workdir: Path,
    extra: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    pycache: Path | None = None,
) -> dict[str, str]:
    """The caller's environment minus anything that would leak into the run, plus a fresh home.

    Leaks: the package's own settings, Python's path variables, and the variables of every
    need (config.needs: credentials, service addresses); a demo gets those of the needs it
    declares back through `extra`, services and canaries get none.

    `template` values may use {home} (the fresh HOME), {tmp} (the run's temp dir), {storage}
    (an empty folder for the run's results), {inenv} (harness/inenv/) and `values`. With `pycache` (the env's bytecode
    folder) compiled modules are kept there, outside the sources, and reused by every later
    interpreter of the env: importing from source alone costs about twice as much.
    """
    prefix = package.upper().replace("-", "_") + "_"
    environ = {
        k: v for k, v in os.environ.items()
        if not k.startswith(prefix) and k not in DROPPED and k not in NEED_VARIABLES
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
    fill = {"home": home, "tmp": tmp, "storage": storage, "inenv": INENV, **(values or {})}
    for key, value in template.items():
        environ[key] = value.format(**fill)
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
    """Run in a new process group; on timeout or a stop request kill the whole group. Output goes, redacted,
    to log_path (a temporary file, removed afterwards, without one)."""
    if STOP.requested:
        return ProcessResult(None, "", 0.0, interrupted=True)
    if env is None:
        scratch = tempfile.TemporaryDirectory(prefix="harness-run-")
        env = isolated_environ({}, "", Path(scratch.name))
    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-log-"))) / "output.log"
        started = time.monotonic()
        timed_out, cpu = False, None
        capture = OutputCapture(log_path, secrets)
        try:
            proc = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=capture.write_fd, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )
            with STOP.watching(proc.pid) as running:
                try:
                    cpu = wait_measured(proc, timeout)
                    running.done = True
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    kill_group(proc.pid, proc)  # also reaps children a finished script left behind
        finally:
            output = capture.finish()
        return ProcessResult(None if timed_out else proc.returncode, output, time.monotonic() - started, timed_out,
                             log_error=capture.error, interrupted=running.stopped, cpu=cpu)


def wait_measured(proc: subprocess.Popen, timeout: float) -> float | None:
    """Wait for the process to end (TimeoutExpired after `timeout`); its CPU seconds and those of the children it
    waited for, read while it is a zombie, before it is reaped (None where the platform cannot tell)."""
    try:
        handle = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        proc.wait(timeout=timeout)
        return None
    try:
        if not select.select([handle], [], [], timeout)[0]:  # readable once it has ended
            raise subprocess.TimeoutExpired(proc.args, timeout)
        cpu = zombie_cpu(proc.pid)
    finally:
        os.close(handle)
    proc.wait()
    return cpu


def zombie_cpu(pid: int) -> float | None:
    """utime + stime + cutime + cstime of /proc/<pid>/stat, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return round(sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK"), 3)
    except (OSError, ValueError, IndexError):
        return None


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


# how a script states its own verdict on exit: `sys.exit("name: what went wrong")`
VERDICT = re.compile(r"^[A-Za-z_][\w.-]*: \S")
# a log record (a timestamp or a level first): printed along the way, never a verdict
LOG_RECORD = re.compile(r"^\s*(\d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}|\[|(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b)")
# what a server or event loop prints while it shuts down after the demo failed: never the demo's own error
SHUTDOWN_NOISE = re.compile(r"^(asyncio\.(exceptions\.)?)?CancelledError\b|^(anyio\.)?[\w.]*ClosedResourceError\b"
                            r"|^KeyboardInterrupt\b|^SystemExit\b")


def error_summary(output: str, limit: int = 300) -> str:
    """The last exception line of a traceback that is not shutdown noise (a server's CancelledError after the
    demo's own error), else the last exception line, else the last non-blank line."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    seen_traceback = False
    found = []
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            seen_traceback = True
            continue
        if seen_traceback and not line.startswith((" ", "\t")) and _EXCEPTION_LINE.match(line):
            found.append(line)
            seen_traceback = False
    meaningful = [line for line in found if not SHUTDOWN_NOISE.match(line)]
    candidate = (meaningful or found or [lines[-1].strip() if lines else ""])[-1]
    last = lines[-1].strip() if lines else ""
    if found and last != candidate and VERDICT.match(last) and not LOG_RECORD.match(last) \
            and not SHUTDOWN_NOISE.match(last):
        # the demo's own verdict after a traceback it expected (sys.exit("demo: ...")): that is the failure
        candidate = last
    return candidate[:limit]


def tail(output: str, chars: int = TAIL_CHARS) -> str:
    return output if len(output) <= chars else "…" + output[-chars:]
