"""`python -m harness.supervise CMD...`: run a long-lived service so it cannot outlive the harness.

The service runs in its own process group. The supervisor watches its parent
(the harness): once the parent is gone, however it died, it stops the
service's whole group (term, a grace period, then kill), as it does on SIGTERM;
on SIGINT (the harness was asked to stop) the grace is short. It watches the parent's pid rather than using the kernel's
parent-death signal, which fires when the parent *thread* ends: services are
started from helper threads too.
"""

from __future__ import annotations

import ctypes
import os
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


def stop_group(pgid: int, grace: float = GRACE) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
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


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m harness.supervise CMD [ARG...]", file=sys.stderr)
        return 2
    parent = os.getppid()
    child = subprocess.Popen(argv, start_new_session=True)
    print(f"supervise: pid {child.pid} runs {os.path.basename(argv[0])} in its own process group", flush=True)

    def stop(signum, frame):
        stop_group(child.pid, HURRIED_GRACE if signum == signal.SIGINT else GRACE)
        sys.exit(128 + signum)

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        stop_group(child.pid)
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_parent, daemon=True).start()
    code = child.wait()
    stop_group(child.pid, grace=2.0)  # whatever the service left behind in its group
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
