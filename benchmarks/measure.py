"""Timing a command: wall seconds, the peak memory of its process tree, and its CPU seconds."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from pathlib import Path


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class TreeMemory:
    """Peak total resident memory of a process and all its descendants, sampled twice a second."""

    def __init__(self, pid: int):
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except OSError:
                    pass
            self.peak_mb = max(self.peak_mb, total / 1024)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


class CoreSpeed:
    """While a command runs: every `every` seconds, the CPU time a fixed loop of `turns` turns takes this thread.

    A thread's CPU time does not count the time it waits for a core, so a busy run does not inflate it: what
    moves it is the core's own speed (a lower clock, a busy sibling hyperthread, caches shared with other
    guests), which the hypervisor's steal does not show. About a millisecond of work five times a second."""

    def __init__(self, every: float = 0.2, turns: int = 20_000):
        self.every, self.turns, self.samples = every, turns, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CoreSpeed:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            started = time.thread_time()
            total = 0
            for i in range(self.turns):
                total = (total + i) & 0xFFFF
            self.samples.append((round(time.time(), 3), round(time.thread_time() - started, 6)))


def machine_ticks() -> list[int]:
    """This machine's CPU time so far, by kind (/proc/stat's `cpu` line: user, nice, system, idle, iowait, irq,
    softirq, steal, …), in clock ticks."""
    return [int(word) for word in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def stolen_share(before: list[int], after: list[int]) -> float:
    """Of the CPU time that passed between two `machine_ticks()`, the share the hypervisor gave to others
    (steal): a virtual machine's cores were not all ours for that share of the time."""
    passed = [later - earlier for earlier, later in zip(before, after, strict=True)]
    return passed[7] / sum(passed) if sum(passed) > 0 and len(passed) > 7 else 0.0


def timed(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, log_file: Path | None = None):
    """Run a command; return (seconds, peak tree memory MB, exit code, output, CPU seconds).

    CPU is user + system time of the whole process tree (every descendant that was waited for):
    on N cores no schedule can finish in less than CPU / N.
    """
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = log_file.open("w") if log_file else subprocess.PIPE
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(proc.pid)
    output, _ = proc.communicate()
    seconds = time.monotonic() - started
    peak = memory.stop()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if log_file:
        out.close()
        output = log_file.read_text()
    return seconds, peak, proc.returncode, output, cpu
