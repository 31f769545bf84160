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
the CPU seconds of the child and of the children it waited for, from wait4). When the
parent has more than one thread, forking is unsafe: it replies {"ready": false, ...} and the harness runs demos as
plain subprocesses.

With $HARNESS_WARM_EXEC_LISTEN (a socket path) it also serves commands that the package itself starts as fresh
interpreters (its CLI, the flow runs a worker launches): harness/inenv/warm_exec.py connects, hands over its stdin,
stdout and stderr, argv, environment and cwd, and waits; the parent forks a child that becomes that command. The
socket appears only once the parent is ready, so a command started earlier runs as a plain interpreter.

Stdlib only, Python 3.7 syntax: it runs in every era's interpreter.
"""
import atexit
import contextlib
import ctypes
import gc
import importlib
import io
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

PR_SET_PDEATHSIG = 1
SIGTERM = 15
FD_COUNT = 3  # a command's stdin, stdout and stderr
WAIT = 1.0  # seconds the parent waits in select(); everything it waits for wakes it sooner


def reply(message):
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def die_with_parent():
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGTERM)


def close_all(fds):
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


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


PYTHON_SHIM = ""  # $HARNESS_WARM_PYTHON: children see it as sys.executable
STARTUP_PYTHONPATH = os.environ.get("PYTHONPATH", "").split(os.pathsep)  # already on this sys.path


def become(request):
    """With fds 0-2 in place: fresh sys streams, the request's environment and cwd.

    With a python shim, sys.executable is the shim: what the child starts as `sys.executable -m MODULE` or `-c CODE`
    (a server's uvicorn, a served flow and its runs) forks from this parent as well; anything else (interpreter
    options, no command) runs the real interpreter.
    """
    if PYTHON_SHIM:
        sys.executable = PYTHON_SHIM
    # a plain interpreter puts $PYTHONPATH on sys.path at start-up: do the same for the
    # entries this parent was not started with (a demo's `PYTHONPATH=... prefect run -m ...`)
    added = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep)
             if p and p not in STARTUP_PYTHONPATH]
    sys.path[1:1] = [os.path.abspath(os.path.join(request["cwd"], p)) for p in added]
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])


def exit_code(code):
    """What the interpreter makes of SystemExit(code): None is 0, a non-int is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write("%s\n" % (code,))
    return 1


def leave(code):
    """Exit as a plain interpreter would, minus tearing down the parent's copied objects.

    A normal exit waits for non-daemon threads, runs atexit handlers, flushes files, then frees every module and
    object. In a forked child that last step writes to every page it inherited (reference counts), so the kernel
    copies them all: about 1 s of CPU per child with Prefect 2.x loaded (measured), for nothing. Files the child
    opened and left open are flushed, as their finalizers would have done; the parent's objects are frozen
    (gc.freeze), so only the child's own are looked at.
    """
    code = exit_code(code)
    with contextlib.suppress(Exception):
        threading._shutdown()  # joins non-daemon threads, as Py_Finalize does first
    atexit._run_exitfuncs()  # prints a failing handler's traceback and goes on, as at a normal exit
    files = [o for o in gc.get_objects() if isinstance(o, io.IOBase)]
    for f in sorted(files, key=lambda o: not isinstance(o, io.TextIOBase)):  # text buffers first
        try:
            if not f.closed:
                f.flush()
        except Exception:
            pass
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run_child(request, reset_code):
    """In the forked child: become the demo's process, run it, exit with its code."""
    os.setsid()  # its own process group, so a timeout kills all it started
    die_with_parent()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    become(request)
    script = request["script"]
    sys.argv = [script] + list(request.get("args") or [])
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # as `python script` does: links resolved
    watch = request.get("watch") or "\0"
    before = dict((k, v) for k, v in os.environ.items() if k.startswith(watch))
    code = 0
    try:
        if reset_code:
            exec(compile(reset_code, "<harness warm reset>", "exec"), {})
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    after = dict((k, v) for k, v in os.environ.items() if k.startswith(watch))
    if after != before:
        # the demo configures the package through its environment at run time; a plain
        # interpreter would have read that at import, this warm one read it before: tell the harness
        changed = sorted(set(before.items()) ^ set(after.items()))
        with open(request["log"] + ".env-changed", "w") as marker:
            marker.write(" ".join(sorted(set(k for k, _ in changed))))
    leave(code)


def become_command(request, fds, reset_code):
    """In the forked child: take over the caller's stdio, argv, environment and cwd; run; exit."""
    os.setsid()
    die_with_parent()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    close_all([fd for fd in fds if fd > 2])
    become(request)
    argv = request["argv"]
    code = 0
    try:
        if reset_code:
            exec(compile(reset_code, "<harness warm reset>", "exec"), {})
        if argv[0] == "-m":
            sys.argv = [argv[1]] + argv[2:]
            sys.path[0] = os.getcwd()  # as `python -m` does
            import warnings
            with warnings.catch_warnings():  # the module is already imported in this warm parent
                warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        elif argv[0] == "-c":  # as `python -c` does: argv[0] "-c", the working folder first on sys.path
            sys.argv, sys.path[0] = ["-c"] + argv[2:], ""
            sys.modules["__main__"] = main = type(sys)("__main__")
            exec(compile(argv[1], "<string>", "exec"), main.__dict__)
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    leave(code)


def accept_command(listener, reset_code, inherited, exits):
    """Read one command request and its descriptors; fork the child. Returns (conn, pid) or None."""
    conn, _ = listener.accept()
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
    return conn, pid


class Children(object):
    """What the warm parent keeps track of: its demo children, its command children and unread input."""

    def __init__(self, reset_code, listener, exits):
        self.reset_code, self.listener, self.exits = reset_code, listener, exits
        self.demos = {}  # pid -> request id
        self.commands = {}  # pid -> the connection of the command it serves
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
                self.commands[accepted[1]] = accepted[0]
        if 0 in readable:
            self.read_requests()
        return exits in readable

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
            if pid in self.commands:
                self.abandoned.discard(pid)
                conn = self.commands.pop(pid)
                with contextlib.suppress(OSError):
                    conn.sendall(("exit %d\n" % code).encode())
                conn.close()
            elif pid in self.demos:
                reply({"id": self.demos.pop(pid), "exit": code, "cpu": round(usage.ru_utime + usage.ru_stime, 3)})

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
    global PYTHON_SHIM
    PYTHON_SHIM = os.environ.pop("HARNESS_WARM_PYTHON", "")
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
    if hasattr(gc, "freeze"):  # 3.7+: the children's exit looks only at objects they made (see leave)
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
