"""Runs in a child the warm runner (warm_runner.py) forked: become a demo's or a command's process, run it, exit.

Everything here happens after the fork, in the child, except die_with_parent, which the runner calls on itself too.
Stdlib only, Python 3.7 syntax, like the runner.
"""
import atexit
import contextlib
import ctypes
import gc
import io
import os
import runpy
import sys
import threading
import traceback

PR_SET_PDEATHSIG = 1
SIGTERM = 15

PYTHON_SHIM = ""  # $HARNESS_WARM_PYTHON: children see it as sys.executable
STARTUP_PYTHONPATH = os.environ.get("PYTHONPATH", "").split(os.pathsep)  # already on this sys.path


def close_all(fds):
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def die_with_parent():
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGTERM)


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
