"""One run at a time on a state folder: a second run refuses, naming the folder and the first run's pid.

A run is all the processes of one command: `python -m harness run`, or every
session `nox --parallel` starts in worker processes, which share the state
folder legitimately. They are told apart by the run's owner, the process that
started the run (nox's parent process under --parallel, else the harness
itself). Each process holds a shared flock on `<state>/runs/<owner>.lock`
while it runs sessions and, before it starts, probes the other owners' files:
one still locked is a live run; the files of one that is not (its lock, its
PostgreSQL registry, its core slots) are removed. The kernel drops a flock when
its process ends, however it ends, so a killed run never leaves the folder
locked.

The probes are taken one at a time, under `<state>/runs/probing`: a probe
holds a stale file's lock exclusively while it removes the file, and two
worker processes of one run start at the same moment, so without the turn one
would take the other's probe for a live run and refuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

RUNS = "runs"  # in the state folder
PROBING = "probing"  # in RUNS; not a `*.lock`, so never taken for a run
_lock = threading.Lock()
_held: dict[Path, list[int]] = {}  # state folder → [fd, depth]


class StateBusy(Exception):
    """Another run holds the state folder."""

    def __init__(self, state: Path, owner: str):
        command = _command_line(owner)
        super().__init__(
            f"{state} is in use by another run (pid {owner}{': ' + command if command else ''}); wait for it to "
            "end, or give this run a state folder of its own ([harness] state_dir in the matrix file)"
        )


def _command_line(pid: str) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return " ".join(w.decode(errors="replace") for w in words if w)[:160]


def _lock_own(runs: Path, owner: int) -> int:
    """A shared lock on this run's file; retried when another run removed it as stale in between."""
    path = runs / f"{owner}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _probe_others(state: Path, runs: Path, owner: int) -> None:
    """Raise StateBusy for another owner's file that is still locked; remove those that are not."""
    turn = os.open(runs / PROBING, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)  # held for milliseconds: one probe at a time
        _probe_in_turn(state, runs, owner)
    finally:
        os.close(turn)


def _probe_in_turn(state: Path, runs: Path, owner: int) -> None:
    others = sorted({path.name.split(".")[0] for path in runs.iterdir()} - {str(owner), PROBING})
    for other in others:
        lock = runs / f"{other}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)  # a registry left without its lock: taken at once
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateBusy(state, other) from None
        else:  # its run is gone: its lock and whatever else it kept here (its PostgreSQL registry, core slots)
            for left in runs.glob(f"{other}.*"):
                left.unlink(missing_ok=True)
        finally:
            os.close(fd)


@contextlib.contextmanager
def state_lock(state: Path, owner: int | None = None) -> Iterator[None]:
    """Hold the state folder for this run (`owner`: the pid that started it; default this process)."""
    state = state.resolve()
    owner = owner or os.getpid()
    with _lock:
        if state in _held:
            _held[state][1] += 1
        else:
            runs = state / RUNS
            runs.mkdir(parents=True, exist_ok=True)
            fd = _lock_own(runs, owner)
            try:
                _probe_others(state, runs, owner)
            except StateBusy:
                os.close(fd)
                raise
            _held[state] = [fd, 1]
    try:
        yield
    finally:
        with _lock:
            _held[state][1] -= 1
            if _held[state][1] == 0:
                os.close(_held.pop(state)[0])
