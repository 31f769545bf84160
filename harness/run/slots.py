"""The run's core slots: a demo of an env with no API server holds one while it runs, across every session.

Such a demo does all its work in its own process (no server answers for it, so it
rarely waits), and more of them at once than there are cores only divides the
cores: each takes longer by as many as run beside it. How many do changes from
run to run (two such sessions run together, or one after the other), and so
did their durations: on `majors`, a classic cell of 0.15.13 took about twice
its median in the cold run where the two classic sessions overlapped, eight
demos on two cores (`benchmarks/RESULTS.md`, "Spread"). With a slot per core
the number at once is the same in every run.

A slot is an exclusive flock on `<state>/runs/<owner>.core-<i>`, so the worker
processes of `nox --parallel` (one owner) share them; the kernel drops a flock
when its holder ends, however it ends. The files go with the run's other files
in `runs/` (lock.py removes those of a run that is gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from harness.run.lock import RUNS
from harness.run.stop import STOP

POLL = 0.02  # seconds between looks for a free slot: a cell's own start costs more


def machine_cores() -> int:
    """The cores this process may run on (its affinity, which a CI runner or taskset can narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CoreSlots:
    """`count` slots shared by every process of the run that `owner` started."""

    def __init__(self, state: Path, owner: int, count: int):
        self.paths = [state / RUNS / f"{owner}.core-{index}" for index in range(count)]
        (state / RUNS).mkdir(parents=True, exist_ok=True)  # once: a waiting cell looks every POLL seconds

    def _take(self) -> int | None:
        """A free slot's locked descriptor, or None when all are held."""
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Wait for a slot and hold it; yields False, holding none, when a stop request came while it waited."""
        fd = self._take()
        while fd is None:
            if STOP.requested:
                yield False
                return
            time.sleep(POLL)
            fd = self._take()
        try:
            yield True
        finally:
            os.close(fd)
