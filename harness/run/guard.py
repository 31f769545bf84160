"""Nothing a run starts outlives it, even when the harness is SIGKILLed.

Process groups alone do not hold a run's processes: a demo's own children
may start sessions of their own (a double-forked `setsid` daemon), and a
service's real process can be a fork of the warm runner. So each session
tags what it starts: a token in the environment every child inherits
($HARNESS_RUN_TOKEN, and a cell's own $HARNESS_CELL_TOKEN in its demo's).
A cell's tagged leftovers are killed when the cell ends, a session's when it
ends, and a watchdog (watchdog.py, one per harness process, in a session of
its own) kills the tokens of sessions that never ended once the harness is
gone, however it died, and removes its temp folders (named with its pid,
`temp_prefix`); the next run removes those of a harness that is gone.

Not used: a cgroup (v2 is not mounted writable everywhere the harness runs;
here it is not) and PR_SET_CHILD_SUBREAPER (orphans would become the
harness's children, and reaping them without stealing the exit statuses
subprocess waits for is not possible from Python). A process that clears
its environment and leaves its session is not found: the one gap.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from harness.run.stop import GRACE, STOP
from harness.run.watchdog import CELL_VARIABLE, TOKEN_VARIABLE, remove_temp, sweep

WATCHDOG = Path(__file__).with_name("watchdog.py")  # stdlib only: runs by path
_lock = threading.Lock()
_watchdog: subprocess.Popen | None = None


def temp_prefix(kind: str) -> str:
    """A temp folder's prefix that names this harness process, so the watchdog and the next run find it."""
    return f"harness-{kind}-{os.getpid()}-"


def temp_folders() -> list[str]:
    return sorted({tempfile.gettempdir(), "/tmp"})


def _started_watchdog() -> subprocess.Popen:
    """This process's watchdog, started on first use (and again if it died)."""
    global _watchdog
    with _lock:
        if _watchdog is None or _watchdog.poll() is not None:
            remove_temp(temp_folders())  # left by harness processes that are gone
            environ = {k: v for k, v in os.environ.items() if k not in (TOKEN_VARIABLE, CELL_VARIABLE)}
            _watchdog = subprocess.Popen(
                [sys.executable, "-S", str(WATCHDOG), str(os.getpid()), *temp_folders()], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, env=environ, start_new_session=True,
            )
        return _watchdog


def _tell(watchdog: subprocess.Popen, line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        watchdog.stdin.write(line.encode() + b"\n")
        watchdog.stdin.flush()


def _exclude(watchdog: subprocess.Popen) -> frozenset[int]:
    return frozenset({os.getpid(), watchdog.pid})


@contextlib.contextmanager
def tagged_session() -> Iterator[str]:
    """Every process started inside carries this session's token; what is left of them dies at the end."""
    watchdog = _started_watchdog()
    token = uuid.uuid4().hex
    _tell(watchdog, f"tag {token}")
    previous = os.environ.get(TOKEN_VARIABLE)
    os.environ[TOKEN_VARIABLE] = token
    try:
        yield token
    finally:
        if previous is None:
            os.environ.pop(TOKEN_VARIABLE, None)
        else:
            os.environ[TOKEN_VARIABLE] = previous
        sweep(TOKEN_VARIABLE, token, GRACE, _exclude(watchdog))
        _tell(watchdog, f"done {token}")


def cell_token() -> str:
    """A token for one cell's processes (in its demo's environment as $HARNESS_CELL_TOKEN)."""
    return uuid.uuid4().hex


def sweep_cell(token: str) -> list[int]:
    """Kill what the cell's demo left running outside its process group (a setsid daemon, say).

    During a stop there is no grace: the cell's record has to be written before nox --parallel's SIGKILL."""
    return sweep(CELL_VARIABLE, token, 0.0 if STOP.requested else GRACE, frozenset({os.getpid()}))
