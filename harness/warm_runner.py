"""Runs in a release's env: import the slow package once, then fork one child per demo.

Started by harness.runner.WarmRunner as `python warm_runner.py MODULE...` (with
the reset code in $HARNESS_WARM_RESET). It imports the modules, then reads one
JSON request per line on stdin: {"script", "cwd", "env", "log"}. For each it
forks a child that takes the request's environment and cwd as its own, runs
the reset code (so settings read at import time are read again from the new
environment), and runs the script as `__main__`, exactly as `python script`
would, with its output in the log file. Each child is a copy of the warm
parent: whatever a demo changes (modules, environment, cwd) dies with it.

Requests carry an "id" and may overlap: the parent forks a child per request
as it arrives and does not wait for the previous one, so several demos run at
once. Replies, one JSON line each: {"ready": ..., "threads": n, "seconds": s}
once; per request {"id": i, "pid": n} when its child starts and {"id": i,
"exit": code} when it ends.
When the parent has more than one thread, forking is unsafe: it replies
{"ready": false, ...} and the harness runs demos as plain subprocesses.

Stdlib only, Python 3.7 syntax: it runs in every era's interpreter.
"""
import ctypes
import importlib
import json
import os
import runpy
import select
import sys
import threading
import time
import traceback

PR_SET_PDEATHSIG = 1
SIGTERM = 15


def reply(message):
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGTERM)
    except (OSError, AttributeError):
        pass


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
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    script = request["script"]
    sys.argv = [script]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
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
    raise SystemExit(code)  # a normal interpreter exit: the demo's atexit handlers run


def serve(reset_code):
    """Fork a child per request line; report each child's exit. Ends when stdin closes and all children ended."""
    children = {}  # pid -> request id
    buffer = b""
    stdin_open = True
    while stdin_open or children:
        if stdin_open:
            readable, _, _ = select.select([0], [], [], 0.05)
            if readable:
                chunk = os.read(0, 65536)
                if not chunk:
                    stdin_open = False
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    request = json.loads(line.decode("utf-8"))
                    pid = os.fork()
                    if pid == 0:
                        run_child(request, reset_code)  # never returns
                    children[pid] = request.get("id")
                    reply({"id": request.get("id"), "pid": pid})
        else:
            time.sleep(0.05)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid not in children:
                continue
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
            reply({"id": children.pop(pid), "exit": code})


def main(argv):
    started = time.time()
    die_with_parent()
    reset_code = os.environ.pop("HARNESS_WARM_RESET", "")
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
    threads = threading.active_count()
    reply({"ready": threads == 1, "threads": threads, "seconds": round(time.time() - started, 3)})
    if threads != 1:
        return 0
    serve(reset_code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
