"""`python -m harness.supervise CMD...`: run a long-lived service so it cannot outlive the harness.

The service runs in its own process group. The supervisor watches its parent
(the harness): once the parent is gone, however it died, it stops the
service's whole group (term, a grace period, then kill), as it does on SIGTERM;
on SIGINT (the harness was asked to stop) the grace is short. It watches the
parent's pid rather than using the kernel's parent-death signal, which fires when
the parent *thread* ends: services are started from helper threads too.

Options before CMD: `--owner=PID` watches that process instead (a server shared by a
run's processes lives as long as the run); `--as-user=UID:GID` runs CMD as that user
(PostgreSQL refuses root); `--remove=DIR` removes DIR once the service has ended (its
throwaway data); `--stop-signal=INT` stops it with SIGINT instead of SIGTERM
(PostgreSQL's fast shutdown: on SIGTERM it waits for its clients to leave).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
GRACE = 8.0
HURRIED_GRACE = 1.0


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: deliver `sig` to this process when the thread that started it exits.

    Only for processes started from the main thread (demos, the warm runner).
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass


def stop_group(pgid: int, grace: float = GRACE, first: int = signal.SIGTERM) -> None:
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            try:
                os.waitpid(-pgid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    options = {}
    while argv and argv[0].startswith("--") and "=" in argv[0]:
        name, _, value = argv.pop(0)[2:].partition("=")
        options[name] = value
    return options, argv


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def main(argv: list[str]) -> int:
    options, argv = _options(list(argv))
    if not argv:
        print("usage: python supervise.py [--owner=PID] [--as-user=UID:GID] [--remove=DIR] CMD [ARG...]",
              file=sys.stderr)
        return 2
    parent = os.getppid()
    owner = int(options["owner"]) if "owner" in options else None
    ids = {}
    if "as-user" in options:
        uid, _, gid = options["as-user"].partition(":")
        ids = {"user": int(uid), "group": int(gid), "extra_groups": []}
    first = signal.Signals["SIG" + options.get("stop-signal", "TERM")]
    child = subprocess.Popen(argv, start_new_session=True, **ids)
    print(f"supervise: pid {child.pid} runs {os.path.basename(argv[0])} in its own process group", flush=True)

    def stop(signum, frame):
        stop_group(child.pid, HURRIED_GRACE if signum == signal.SIGINT else GRACE, first)
        _remove(options.get("remove"))
        sys.exit(128 + signum)

    def watch_parent():
        while (_alive(owner) if owner is not None else os.getppid() == parent):
            time.sleep(0.5)
        stop_group(child.pid, GRACE, first)
        _remove(options.get("remove"))
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_parent, daemon=True).start()
    code = child.wait()
    stop_group(child.pid, 2.0, first)  # whatever the service left behind in its group
    _remove(options.get("remove"))
    return code


def _remove(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
