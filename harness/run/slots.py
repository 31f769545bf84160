"""The run's core slots: a demo of an env with no API server holds one while it runs, across every session.

Such a demo does all its work in its own process (no server answers for it, so it
rarely waits), and more of them at once than there are cores only divides the
cores: each takes longer by as many as run beside it. How many do changes from
run to run (two such sessions run together, or one after the other), and so
did their durations: on `majors`, a classic cell of 0.15.13 took about twice
its median in the cold run where the two classic sessions overlapped, eight
demos on two cores (`benchmarks/RESULTS.md`, "Spread"). With a slot per core
the number at once is the same in every run.

A demo that waits more than it computes (retry delays, sleeps) holds no slot: on
a slot it kept a core idle, and the classic sessions' retry demos, a quarter of
their cell time, made the run's tail. Which demos those are comes from the
schedule's baseline, the CPU time each cell's record measured (`waiting_demos`).
Slots go in the order cells asked for them within a process, so the session's
longest-first order holds: a thread that just ended a cell no longer takes the
freed slot ahead of cells that were waiting.

A slot is an exclusive flock on `<state>/runs/<owner>.core-<i>`, so the worker
processes of `nox --parallel` (one owner) share them; the kernel drops a flock
when its holder ends, however it ends. The files go with the run's other files
in `runs/` (lock.py removes those of a run that is gone).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.results.records import CellResult
from harness.run.lock import RUNS
from harness.run.stop import STOP

POLL = 0.02  # seconds between looks for a slot another process freed: a cell's own start costs more
WAITING_SHARE = 0.5  # a cell whose CPU time was under this share of its duration mostly waited


def waiting_demos(baseline: dict[tuple[str, str, str], CellResult], demos: Iterable[str], release: str,
                  resolution: str) -> frozenset[str]:
    """The demos whose cell on this release last measured less CPU time than WAITING_SHARE of its duration;
    a demo with no such measure (never forked, never timed) is not one."""
    waiting = set()
    for demo in demos:
        cell = baseline.get((demo, release, resolution))
        if cell is not None and cell.cpu is not None and cell.cpu < WAITING_SHARE * cell.duration:
            waiting.add(demo)
    return frozenset(waiting)


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
        self._turns = threading.Condition()  # this process's waiting cells, first come first served
        self._queue: collections.deque[object] = collections.deque()

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

    def _wait_turn(self) -> int | None:
        """A slot once every cell of this process that asked before has one; None on a stop request."""
        turn = object()
        with self._turns:
            self._queue.append(turn)
            try:
                while not STOP.requested:
                    if self._queue[0] is turn:
                        fd = self._take()
                        if fd is not None:
                            return fd
                    self._turns.wait(POLL)  # a release here wakes it at once; another process's, within POLL
                return None
            finally:
                self._queue.remove(turn)
                self._turns.notify_all()

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Wait for a slot and hold it; yields False, holding none, when a stop request came while it waited."""
        fd = self._wait_turn()
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            os.close(fd)
            with self._turns:
                self._turns.notify_all()
