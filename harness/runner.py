"""Run one script in one env: isolated, time-limited, classified.

Each run gets a fresh HOME and package home (from the matrix's env templates),
its own process group (so a timeout kills every child), and its combined
output written to a log file of which the tail is kept.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.supervise import die_with_parent

TAIL_CHARS = 3000
KILL_GRACE = 5.0


@dataclass
class ProcessResult:
    exit_code: int | None
    output: str
    duration: float
    timed_out: bool = False


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
    """Run in a new process group; on timeout kill the whole group. Output goes to log_path."""
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
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(proc.pid, proc)  # also reaps children a finished script left behind
    return _finish(log_path, keep_log, secrets, proc.returncode, time.monotonic() - started, timed_out)


def kill_group(pgid: int, proc: subprocess.Popen | None = None) -> None:
    """Stop a process group: SIGTERM, a grace period, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
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


def _finish(log_path: Path, keep_log: bool, secrets: list[str] | None, exit_code, duration: float, timed_out: bool) -> ProcessResult:
    output = log_path.read_text(encoding="utf-8", errors="replace")
    if secrets:
        redacted = redact(output, secrets)
        if redacted != output:
            log_path.write_text(redacted, encoding="utf-8")
            output = redacted
    if not keep_log:
        log_path.unlink(missing_ok=True)
    return ProcessResult(None if timed_out else exit_code, output, duration, timed_out)


WARM_SCRIPT = Path(__file__).with_name("warm_runner.py")
WARM_EXEC = Path(__file__).with_name("warm_exec.py")
WARM_EXEC_VARIABLE = "HARNESS_WARM_EXEC"  # tells warm_exec.py where the warm runner listens


@dataclass(frozen=True)
class WarmConfig:
    """[ranges.warm]: modules to import once per env, code each forked child runs first, and
    the env's scripts (`commands`) whose calls fork from the warm runner too."""

    preload: tuple[str, ...]
    reset: str = ""
    commands: tuple[str, ...] = ()


def warm_exec_prefix(python: Path) -> list[str]:
    """The words that start `-m MODULE ...` or `SCRIPT ...` forked from the env's warm runner, with
    its socket in $HARNESS_WARM_EXEC; without it they start a plain interpreter of the env."""
    return [str(python), "-S", str(WARM_EXEC)]


class WarmRunner:
    """A parent process in the env that has imported the slow modules; each run forks a child.

    Thread-safe: runs from several threads overlap, each in its own child.
    run() returns None when forking is not possible here, and the caller runs
    the script as a plain subprocess instead.
    """

    def __init__(self, python: Path, preload: tuple[str, ...], reset: str, environ: dict[str, str],
                 cwd: Path, log_path: Path, startup_timeout: float = 180.0, exec_socket: Path | None = None,
                 python_shim: Path | None = None):
        """Start the warm parent; it imports in the background until wait_ready().

        With `exec_socket` it also serves commands started through warm_exec.py (see exec_prefix).
        With `python_shim` (a `python` of write_shims) its children see that as sys.executable,
        so the interpreters they start as `sys.executable -m ...` fork from here too.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.info: dict = {}
        self.handed_back: dict[str, str] = {}  # script → variables it changed at run time
        self._lock = threading.Lock()
        self._ready_event = threading.Event()
        self._replies: dict[int, queue.Queue] = {}
        self._next_id = 0
        self._broken = False
        with log_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [str(python), str(WARM_SCRIPT), *preload], cwd=cwd,
                env=dict(environ, HARNESS_WARM_RESET=reset, HARNESS_WARM_EXEC_LISTEN=str(exec_socket or ""),
                         HARNESS_WARM_PYTHON=str(python_shim or "")),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._reader = threading.Thread(target=self._read_replies, name="warm-runner-replies", daemon=True)
        self._reader.start()

    def _read_replies(self) -> None:
        """Route each reply line to the run waiting for it; the first line is the ready message."""
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not self._ready_event.is_set():
                self.info = message
                self._ready_event.set()
                continue
            with self._lock:
                waiting = self._replies.get(message.get("id"))
            if waiting is not None:
                waiting.put(message)
        self._broken = True  # the parent is gone: wake everyone waiting
        if not self._ready_event.is_set():
            self.info = {"ready": False, "error": "the warm runner exited before it was ready"}
            self._ready_event.set()
        with self._lock:
            for waiting in self._replies.values():
                waiting.put(None)

    @property
    def ready(self) -> bool:
        return self.wait_ready()

    def wait_ready(self) -> bool:
        if not self._ready_event.wait(self.startup_timeout):
            self.info = {"ready": False, "error": "no answer from the warm runner"}
            self._ready_event.set()
        return bool(self.info.get("ready")) and not self._broken and self.proc.poll() is None

    @property
    def exec_socket(self) -> str:
        """The socket commands fork from ("" when the runner serves none)."""
        return self.info.get("exec", "") if self.ready else ""

    def exec_prefix(self) -> list[str]:
        return warm_exec_prefix(self.python)

    def run(self, script: Path, cwd: Path, env: dict[str, str], log_path: Path, timeout: float,
            secrets: list[str] | None = None, watch: str = "", args: list[str] | None = None) -> ProcessResult | None:
        """Run a script in a forked child; None when it must run as a plain subprocess instead.

        `watch` is an environment prefix: a demo that changes such variables while it
        runs expected them to be read at import, so it is handed back for a plain run.
        """
        if not self.ready:
            return None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        marker = Path(str(log_path) + ".env-changed")
        marker.unlink(missing_ok=True)
        replies: queue.Queue = queue.Queue()
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._replies[request_id] = replies
        started = time.monotonic()
        request = {"id": request_id, "script": str(script), "cwd": str(cwd), "env": env, "log": str(log_path),
                   "watch": watch, "args": list(args or [])}
        try:
            try:
                with self._lock:
                    self.proc.stdin.write((json.dumps(request) + "\n").encode())
                    self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                self._broken = True
                return None
            started_child = _get(replies, 30)
            if not started_child or "pid" not in started_child:
                self._broken = True
                return None
            pid = started_child["pid"]
            answer = _get(replies, timeout)
            timed_out = answer is None and not self._broken
            kill_group(pid)  # on timeout the child; otherwise whatever it left running
            if timed_out:
                answer = _get(replies, 30)
                if answer is None:
                    self._broken = True
        finally:
            with self._lock:
                self._replies.pop(request_id, None)
        code = answer.get("exit") if answer else None
        if marker.exists():
            self.handed_back[str(script)] = marker.read_text()
            marker.unlink()
            return None
        return _finish(log_path, True, secrets, code, time.monotonic() - started, timed_out)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                with self._lock:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc.pid, self.proc)


INTERPRETER_NAMES = ("python", "python3")


def write_shims(folder: Path, env_bin: Path, prefix: list[str], names: tuple[str, ...]) -> list[str]:
    """Scripts named like the env's own that start them forked from the warm runner; put `folder` first on PATH.

    A `python` shim stands for the interpreter itself: `python -m MODULE` and
    `python SCRIPT` fork, anything else (-c, options, no arguments) execs the real one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = env_bin / name
        if not target.is_file():
            continue
        shim = folder / name
        words = " ".join(shlex.quote(w) for w in (prefix if name in INTERPRETER_NAMES else [*prefix, str(target)]))
        shim.write_text(f'#!/bin/sh\nexec {words} "$@"\n')
        shim.chmod(0o755)
        written.append(name)
    return written


def _get(replies: queue.Queue, timeout: float) -> dict | None:
    try:
        return replies.get(timeout=timeout)
    except queue.Empty:
        return None


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


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Warning)|[A-Za-z_][\w.]*)(: .*)?$")


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
