"""The host side of an env's warm runner (harness/inenv/warm_runner.py): start it, fork demos from it, shims."""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
import time
from pathlib import Path

from harness.run.capture import OutputCapture
from harness.run.process import INENV, ProcessResult, kill_group
from harness.run.stop import STOP
from harness.run.supervise import die_with_parent

WARM_SCRIPT = INENV / "warm_runner.py"
WARM_EXEC = INENV / "warm_exec.py"
WARM_EXEC_VARIABLE = "HARNESS_WARM_EXEC"  # tells warm_exec.py where the warm runner listens


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
        if not STOP.wait(self._ready_event, self.startup_timeout) and not STOP.requested:
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

        The child writes its output to a FIFO next to the log, which the harness copies, redacted,
        to the log (harness.run.capture): the child never holds the log itself.
        `watch` is an environment prefix: a demo that changes such variables while it
        runs expected them to be read at import, so it is handed back for a plain run.
        """
        if not self.ready or STOP.requested:
            return None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fifo = Path(f"{log_path}.pipe")
        marker = Path(f"{fifo}.env-changed")  # the child writes it next to what it was given as its log
        marker.unlink(missing_ok=True)
        started = time.monotonic()
        capture = OutputCapture(log_path, secrets, fifo=fifo)
        try:
            forked = self._fork(script, cwd, env, fifo, timeout, watch, args)
        finally:
            output = capture.finish()
        if forked is None:
            return None
        code, cpu, timed_out, stopped = forked
        if marker.exists() and not stopped:
            self.handed_back[str(script)] = marker.read_text()
            marker.unlink()
            return None
        result = ProcessResult(code, output, time.monotonic() - started, timed_out, log_error=capture.error, cpu=cpu)
        result.interrupted = stopped
        return result

    def _fork(self, script: Path, cwd: Path, env: dict[str, str], output: Path, timeout: float, watch: str,
              args: list[str] | None) -> tuple[int | None, float | None, bool, bool] | None:
        """The child's exit code (None when it timed out or the runner died), its CPU seconds (None when not
        reported), whether it timed out and whether a stop request ended it; None when no child started."""
        replies: queue.Queue = queue.Queue()
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._replies[request_id] = replies
        request = {"id": request_id, "script": str(script), "cwd": str(cwd), "env": env, "log": str(output),
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
            with STOP.watching(started_child["pid"]) as running:
                answer, timed_out = self._await_child(running, replies, timeout)
        finally:
            with self._lock:
                self._replies.pop(request_id, None)
        ended = answer is not None and not timed_out
        return (answer.get("exit") if ended else None), (answer.get("cpu") if ended else None), timed_out, \
            running.stopped

    def _await_child(self, running, replies: queue.Queue, timeout: float) -> tuple[dict | None, bool]:
        """The child's exit reply, and whether it hit its time limit; its whole group is killed after."""
        answer = _get(replies, timeout)
        running.done = answer is not None
        timed_out = answer is None and not self._broken and not running.stopped
        kill_group(running.pgid)  # on timeout or a stop the child; otherwise whatever it left running
        if answer is None:  # a stopped child's exit says nothing: do not wait long for it
            answer = _get(replies, 1 if running.stopped else 30)
            if answer is None and not running.stopped:
                self._broken = True
        return answer, timed_out

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                with self._lock:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=1 if STOP.requested else 10)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc.pid, self.proc)


INTERPRETER_NAMES = ("python", "python3")


def write_shims(folder: Path, env_bin: Path, prefix: list[str], names: tuple[str, ...]) -> list[str]:
    """Scripts named like the env's own that start them forked from the warm runner; put `folder` first on PATH.

    A `python` shim stands for the interpreter itself: `python -m MODULE`, `python -c CODE` and
    `python SCRIPT` fork, anything else (interpreter options, no arguments) execs the real one.
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


