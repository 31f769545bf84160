"""Runs in a release's env: import the slow package once, then fork one child per demo.

Started by harness.run.warm.WarmRunner as `python warm_runner.py MODULE...` (with the reset code in
$HARNESS_WARM_RESET). It imports the modules, then reads one JSON request per line on stdin: {"script", "args",
"cwd", "env", "log"}. For each it forks a child that takes the request's environment and cwd as its own, runs the
reset code (so settings read at import time are read again from the new environment), and runs the script as
`__main__`, exactly as `python script` would, with its output written to the request's "log" (a FIFO the harness
copies, redacted, to the real log). Each child is a copy of the warm parent: whatever a demo changes (modules,
environment, cwd) dies with it.

Requests carry an "id" and may overlap: the parent forks a child per request as it arrives and does not wait for the
previous one, so several demos run at once. Replies, one JSON line each: {"ready": ..., "threads": n, "seconds": s}
once; per request {"id": i, "pid": n} when its child starts and {"id": i, "exit": code, "cpu": s} when it ends (s:
the CPU seconds the kernel counted for the child and the children it waited for, plus those of the commands below
that it or they started, which are this parent's children, not its own). When the
parent has more than one thread, forking is unsafe: it replies {"ready": false, ...} and the harness runs demos as
plain subprocesses.

With $HARNESS_WARM_EXEC_LISTEN (a socket path) it also serves commands that the package itself starts as fresh
interpreters (its CLI, the flow runs a worker launches): harness/inenv/warm_exec.py connects, hands over its stdin,
stdout and stderr, argv, environment and cwd, and waits; the parent forks a child that becomes that command. The
socket appears only once the parent is ready, so a command started earlier runs as a plain interpreter.

Stdlib only, Python 3.7 syntax: it runs in every era's interpreter.
"""
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

import warm_child  # beside this script, so first on its sys.path
from warm_child import become_command, close_all, die_with_parent, run_child

FD_COUNT = 3  # a command's stdin, stdout and stderr
WAIT = 1.0  # seconds the parent waits in select(); everything it waits for wakes it sooner


def reply(message):
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def hear_child_exits():
    """A pipe SIGCHLD writes to (the wakeup fd): select() sees a child's end at once, not when it times out."""
    fds = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wakeup fd is written
    signal.set_wakeup_fd(fds[1], warn_on_full_buffer=False)
    return fds


def forget_child_exits(fds):
    """In a forked child: SIGCHLD as a plain interpreter has it, without the parent's pipe."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    close_all(fds)


def parent_of(pid):
    """The parent pid of a live process (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def peer_pid(conn):
    """The pid of the process at the other end of a unix socket (the warm_exec.py that connected)."""
    try:
        return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
    except (OSError, AttributeError, struct.error):
        return 0


def accept_command(listener, reset_code, inherited, exits):
    """Read one command request and its descriptors; fork the child. Returns (conn, pid, caller pid) or None."""
    conn, _ = listener.accept()
    caller = peer_pid(conn)
    conn.settimeout(10)
    data, fds = b"", []
    try:
        while not data.endswith(b"\n"):
            chunk, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(FD_COUNT * 4))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += list(struct.unpack("%di" % (len(payload) // 4), payload[: len(payload) // 4 * 4]))
            if not chunk:
                break
            data += chunk
        request = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        close_all(fds)
        conn.close()
        return None
    if len(fds) != FD_COUNT:
        close_all(fds)
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        for sock in inherited + [listener, conn]:
            sock.close()
        forget_child_exits(exits)
        become_command(request, fds, reset_code)  # never returns
    close_all(fds)
    sys.stderr.write("%s command %d: %s\n" % (time.strftime("%H:%M:%S"), pid, " ".join(request["argv"])))
    sys.stderr.flush()
    conn.settimeout(None)
    conn.sendall(("pid %d\n" % pid).encode())
    return conn, pid, caller


class Children(object):
    """What the warm parent keeps track of: its demo children, its command children and unread input."""

    def __init__(self, reset_code, listener, exits):
        self.reset_code, self.listener, self.exits = reset_code, listener, exits
        self.demos = {}  # pid -> request id
        self.commands = {}  # pid -> the connection of the command it serves
        self.started_by = {}  # command pid -> the pid of the demo child whose process tree called it
        self.spent = {}  # demo child pid -> CPU seconds of its commands that ended
        self.abandoned = set()  # commands whose caller died; already killed
        self.buffer = b""
        self.stdin_open = True

    def poll(self, timeout=WAIT):
        """Wait for a request, a command, a caller that hung up or a child's end; act on it. True: a child ended."""
        listener, exits = self.listener, self.exits[0]
        watched = [0, exits] + ([listener] if listener is not None else []) + [
            c for p, c in self.commands.items() if p not in self.abandoned]
        readable, _, _ = select.select(watched, [], [], timeout)
        if exits in readable:
            os.read(exits, 4096)  # the signals' bytes; more wake the next select() at once
        for conn in [r for r in readable if r not in (0, exits, listener)]:
            pid = next(p for p, c in self.commands.items() if c is conn)
            try:
                gone = not conn.recv(1, socket.MSG_PEEK)
            except OSError:
                gone = True
            if gone:  # the caller died: its command must not outlive it
                self.abandoned.add(pid)
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
        if listener is not None and listener in readable:
            accepted = accept_command(listener, self.reset_code, list(self.commands.values()), self.exits)
            if accepted is not None:
                conn, pid, caller = accepted
                self.commands[pid] = conn
                demo = self.demo_above(caller)
                if demo:
                    self.started_by[pid] = demo
        if 0 in readable:
            self.read_requests()
        return exits in readable

    def demo_above(self, pid, depth=64):
        """The demo child whose tree `pid` is in (directly, or through a command it called); 0 when none."""
        for _ in range(depth):
            if pid in self.demos:
                return pid
            if pid in self.started_by:
                return self.started_by[pid]
            if pid <= 1 or pid == os.getpid():
                return 0
            pid = parent_of(pid)
        return 0

    def read_requests(self):
        """Fork a child per complete request line on stdin; an empty read means stdin closed."""
        chunk = os.read(0, 65536)
        if not chunk:
            self.stdin_open = False
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if not line.strip():
                continue
            request = json.loads(line.decode("utf-8"))
            pid = os.fork()
            if pid == 0:
                for sock in list(self.commands.values()) + ([self.listener] if self.listener is not None else []):
                    sock.close()
                forget_child_exits(self.exits)
                run_child(request, self.reset_code)  # never returns
            self.demos[pid] = request.get("id")
            reply({"id": request.get("id"), "pid": pid})

    def reap(self):
        """Report each child that ended: a command's exit to its caller, a demo's on stdout."""
        while self.demos or self.commands:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
            cpu = usage.ru_utime + usage.ru_stime
            if pid in self.commands:
                demo = self.started_by.pop(pid, 0)
                if demo in self.demos:
                    self.spent[demo] = self.spent.get(demo, 0.0) + cpu
                self.abandoned.discard(pid)
                conn = self.commands.pop(pid)
                with contextlib.suppress(OSError):
                    conn.sendall(("exit %d\n" % code).encode())
                conn.close()
            elif pid in self.demos:
                reply({"id": self.demos.pop(pid), "exit": code, "cpu": round(cpu + self.spent.pop(pid, 0.0), 3)})

    def stop_commands(self):
        for pid, conn in self.commands.items():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            conn.close()


def serve(reset_code, listener=None):
    """Fork a child per request line or command connection; report each child's exit.

    Ends when stdin closes and all demo children ended; command children still running then are stopped.
    """
    children = Children(reset_code, listener, hear_child_exits())
    while children.stdin_open or children.demos:
        if children.stdin_open:
            children.poll()
        else:
            time.sleep(0.05)
        children.reap()
    children.stop_commands()


def listen(path):
    if not path:
        return None
    with contextlib.suppress(OSError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    return listener


def main(argv):
    started = time.time()
    die_with_parent()
    reset_code = os.environ.pop("HARNESS_WARM_RESET", "")
    socket_path = os.environ.pop("HARNESS_WARM_EXEC_LISTEN", "")
    warm_child.PYTHON_SHIM = os.environ.pop("HARNESS_WARM_PYTHON", "")
    try:
        for module in argv[1:]:
            importlib.import_module(module)
    except BaseException as exc:
        reply({"ready": False, "error": "%s: %s" % (type(exc).__name__, exc), "threads": 0, "seconds": 0})
        return 1
    try:  # the reset must work in this release before any child relies on it
        if reset_code:
            exec(compile(reset_code, "<harness warm reset>", "exec"), {})
    except BaseException as exc:
        reply({"ready": False, "error": "reset code failed: %s: %s" % (type(exc).__name__, exc),
               "threads": threading.active_count(), "seconds": 0})
        return 1
    if hasattr(gc, "freeze"):  # 3.7+: the children's exit looks only at objects they made (warm_child.leave)
        gc.freeze()
    threads = threading.active_count()
    listener = listen(socket_path) if threads == 1 else None
    reply({"ready": threads == 1, "threads": threads, "seconds": round(time.time() - started, 3),
           "exec": socket_path if listener is not None else ""})
    if threads != 1:
        return 0
    parent = os.getpid()
    try:
        serve(reset_code, listener)
    finally:
        if listener is not None and os.getpid() == parent:  # children leave through here too
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(socket_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
