"""Helper for the task-runner snippets: measure how many task runs overlap.

Not a demo on its own. A ``Probe`` is entered by every task run (a ``with``
block around the task's work); it records how many runs were inside at the
same time, so a demo can check what its task runner really did.
"""
import threading
import time


class Probe:
    def __init__(self):
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.threads = set()

    def reset(self):
        with self._lock:
            self.active = self.peak = 0
            self.threads = set()

    def __enter__(self):
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.get_ident())
        return self

    def __exit__(self, *exc):
        with self._lock:
            self.active -= 1
        return False


def timed(fn, *args, **kwargs):
    """(fn's return value, seconds it took)."""
    start = time.monotonic()
    value = fn(*args, **kwargs)
    return value, time.monotonic() - start
