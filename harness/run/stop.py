"""A stop request: the first SIGINT or SIGTERM asks the run to stop; a second one ends it at once.

Stopping means: no session, env build, service, cell or retry starts any more;
every process group the run registered (demos, uv, set-up commands) gets
SIGTERM and, a second later, SIGKILL; the cells whose demo was running are
recorded `interrupted` (never pass or fail: the stop, not the demo, ended
them); the caller prints `summary()` and exits 128 + the signal. A second
signal kills the registered groups and exits at once; the watchdog (guard.py)
kills whatever else the run started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

GRACE = 0.5  # SIGTERM → SIGKILL for a stopped group: nox --parallel SIGKILLs its workers 2 s after SIGTERM,
            # and the kill, the output's last drain and the cell's record must all fit in that
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A stop request ended work that is not a cell (an env build, a service start); the message says what."""


@dataclass
class Running:
    """A registered process group; `stopped`: the stop came while its leader still ran."""

    pgid: int
    done: bool = False
    stopped: bool = False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class StopRequest:
    """Process-wide: what a stop must end, and what it ended."""

    def __init__(self):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._groups: dict[int, Running] = {}
        self.signum = 0
        self.stopped: list[str] = []  # what the stop interrupted, for the summary

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def reset(self) -> None:
        """A new run in this process (tests, nox running sessions in-process)."""
        with self._lock:
            self._event.clear()
            self.signum = 0
            self.stopped = []

    def request(self, signum: int) -> None:
        """Stop: SIGTERM every registered group now, SIGKILL what is left after GRACE."""
        with self._lock:
            if self._event.is_set():
                return
            self.signum = signum
            self._event.set()
            running = list(self._groups.values())
            for entry in running:
                entry.stopped = entry.stopped or not entry.done
        for entry in running:
            _signal_group(entry.pgid, signal.SIGTERM)
        if running:
            timer = threading.Timer(GRACE, self.kill, [[entry.pgid for entry in running]])
            timer.daemon = True
            timer.start()

    def kill(self, pgids: list[int] | None = None) -> None:
        """SIGKILL the given groups (default: every registered one)."""
        if pgids is None:
            with self._lock:
                pgids = list(self._groups)
        for pgid in pgids:
            _signal_group(pgid, signal.SIGKILL)

    @contextlib.contextmanager
    def watching(self, pgid: int) -> Iterator[Running]:
        """Register a process group for as long as the caller waits on it; one started as the stop came is
        killed at once. Call `.done = True` on what it yields once the group's leader has ended by itself."""
        entry = Running(pgid)
        with self._lock:
            self._groups[pgid] = entry
            late = entry.stopped = self._event.is_set()
        if late:
            _signal_group(pgid, signal.SIGKILL)
        try:
            yield entry
        finally:
            with self._lock:
                self._groups.pop(pgid, None)

    def note(self, what: str) -> None:
        with self._lock:
            self.stopped.append(what)

    def check(self, what: str) -> None:
        """Raise Interrupted (noting `what`) once a stop was requested."""
        if self.requested:
            self.note(what)
            raise Interrupted(what)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Event.wait that returns early once a stop is requested."""
        deadline = time.monotonic() + timeout
        while not event.is_set() and not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            event.wait(min(left, 0.2))
        return event.is_set()

    def sleep(self, seconds: float) -> None:
        self._event.wait(seconds)

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def summary(self, recorded: int) -> str:
        """The one line a stopped run prints."""
        with self._lock:
            stopped = list(self.stopped)
        what = f"stopped {len(stopped)}: {', '.join(stopped)}" if stopped else "nothing was running"
        return f"interrupted by {self.signal_name}: {what}; {recorded} cell(s) recorded"


STOP = StopRequest()


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest = STOP) -> Iterator[StopRequest]:
    """The first SIGINT or SIGTERM requests a stop; a second kills the registered groups and exits at once.

    Only the main thread can take signals; elsewhere this only yields the stop request.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    stop.reset()

    def handler(signum, frame):
        if stop.requested:
            stop.kill()
            os.write(2, f"killed: a second {signal.Signals(signum).name}\n".encode())
            os._exit(128 + signum)
        stop.request(signum)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
