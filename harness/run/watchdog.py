"""`python watchdog.py HARNESS_PID TMPDIR...`: kills what a harness run started once the harness is gone.

Standard library only; it runs by path. The harness (guard.py) starts it in a
session of its own with a pipe on its stdin, and tags every process a session
starts with a token in its environment ($HARNESS_RUN_TOKEN), which children
inherit whatever session or parent they end up with (a setsid daemon, a
worker's flow runs, uv). Lines on the pipe: `tag TOKEN` when a session
begins, `done TOKEN` when it ended and swept its own. When the pipe closes
(the harness ended or died, SIGKILL included), every process still carrying
a token that is not done gets SIGTERM, a short grace, then SIGKILL, and the
harness's temp folders (named `harness-KIND-PID-…`) are removed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time

TOKEN_VARIABLE = "HARNESS_RUN_TOKEN"  # every process a session starts
CELL_VARIABLE = "HARNESS_CELL_TOKEN"  # every process one cell's demo starts
GRACE = 2.0
TEMP_NAME = re.compile(r"^harness-(?:cell|warm|canary|postgres)-(\d+)-")


def tagged(variable: str, value: str, exclude: frozenset[int] = frozenset()) -> list[int]:
    """The processes whose environment has variable=value (zombies have none and are left to their parent)."""
    needle = b"\0" + f"{variable}={value}".encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if needle in b"\0" + environ:
            found.append(int(name))
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def sweep(variable: str, value: str, grace: float = GRACE, exclude: frozenset[int] = frozenset()) -> list[int]:
    """SIGTERM every process tagged variable=value, SIGKILL what is left after `grace`; the pids found.

    Scanned again after each signal: a process may fork while it is being stopped.
    """
    found: set[int] = set()
    exclude = exclude | {os.getpid()}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0), (signal.SIGKILL, 1.0)):
        pids = tagged(variable, value, exclude)
        if not pids:
            break
        found.update(pids)
        _signal_all(pids, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and tagged(variable, value, exclude):
            time.sleep(0.05)
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_temp(folders: list[str], owner: int | None = None) -> None:
    """The harness's temp folders: those of `owner`, else those whose owner is gone."""
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            match = TEMP_NAME.match(name)
            if match is None:
                continue
            pid = int(match.group(1))
            if pid == owner or (owner is None and not alive(pid)):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):  # a Ctrl-C is the harness's to handle; this outlives it
        signal.signal(sig, signal.SIG_IGN)
    owner, temp_folders = int(argv[0]), argv[1:]
    live: set[str] = set()
    for line in sys.stdin.buffer:
        kind, _, token = line.decode("ascii", "replace").strip().partition(" ")
        if kind == "tag":
            live.add(token)
        elif kind == "done":
            live.discard(token)
    # the pipe closed: the harness ended, however it ended
    for token in sorted(live):
        sweep(TOKEN_VARIABLE, token)
    remove_temp(temp_folders, owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
