"""A process's output on its way to its log: redacted as it is written, bounded in memory and on disk.

The output reaches the harness through a pipe (a plain process's stdout and stderr, or the
FIFO a forked demo opens as its log) and a thread per running process copies it to the log
file. So a credential value never lands in a log, not even in one read while the demo runs or
left behind by a killed harness; the harness keeps only the last `MEMORY_TAIL` bytes (enough
for the error summary and the record's output tail); and the log keeps the first `LOG_HEAD`
and the last `LOG_TAIL` bytes, with a line saying how many were dropped between them.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections import deque
from pathlib import Path

from harness.run.stop import STOP

CHUNK = 64 * 1024
MEMORY_TAIL = 64 * 1024
LOG_HEAD = 10 * 2**20
LOG_TAIL = 10 * 2**20
DRAIN_SECONDS = 2.0  # after the process ended: how long what it left running may still write
STOP_DRAIN_SECONDS = 0.2  # the same once a stop was requested: nox --parallel SIGKILLs a worker 2 s after SIGTERM
REDACTED = b"[redacted]"


class Redactor:
    """Replaces secret values in a byte stream, also a value split across two reads.

    Of each read it holds back the end that could begin a secret (at most the longest
    secret's length - 1 bytes) until the next read shows whether it does.
    """

    def __init__(self, secrets: list[str] | None):
        values = {s.encode() for s in secrets or () if s}
        self.secrets = sorted(values, key=len, reverse=True)
        self.carry = b""

    def feed(self, chunk: bytes) -> bytes:
        """What of the stream so far can be written: redacted, minus the bytes held back."""
        if not self.secrets:
            return chunk
        data = self.carry + chunk
        for secret in self.secrets:
            data = data.replace(secret, REDACTED)
        cut = len(data) - self._could_begin_a_secret(data)
        self.carry = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        """The bytes held back, at the end of the stream: no secret can complete them any more."""
        data, self.carry = self.carry, b""
        return data

    def _could_begin_a_secret(self, data: bytes) -> int:
        """The length of the longest end of `data` that is the beginning of a secret."""
        longest = 0
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(data)), longest, -1):
                if data.endswith(secret[:size]):
                    longest = size
                    break
        return longest


class CappedLog:
    """The log file: its first `head` bytes as they come, then only the last `tail` bytes, written
    at close after a line that says how many bytes were dropped.

    A write that fails (a full disk) is remembered in `error` and the rest is discarded: the
    process keeps running and its pipe keeps being read.
    """

    def __init__(self, path: Path, head: int = LOG_HEAD, tail: int = LOG_TAIL):
        self.path, self.head, self.tail = path, head, tail
        self.written = 0
        self.dropped = 0
        self.capped = False
        self.error = ""
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            self._fd = None
            self.error = f"cannot write the log {path}: {exc.strerror or exc}"

    def write(self, data: bytes) -> None:
        room = self.head - self.written
        if room > 0:
            self._write_all(data[:room])
            self.written += min(room, len(data))
            data = data[room:]
        if data:
            if not self.capped:
                self.capped = True
                self._write_all(b"\n[harness: the log keeps the first %d MB of the output; its last %d MB follow "
                                b"once the process ends]\n" % (self.head // 2**20, self.tail // 2**20))
            self._keep_tail(data)

    def _keep_tail(self, data: bytes) -> None:
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= self.tail:
            self.dropped += len(self._tail[0])
            self._tail_size -= len(self._tail.popleft())
        if self._tail_size > self.tail:  # the oldest chunk only partly
            extra = self._tail_size - self.tail
            self._tail[0] = self._tail[0][extra:]
            self._tail_size -= extra
            self.dropped += extra

    def close(self) -> None:
        if self.dropped:
            self._write_all(b"[harness: %d bytes of output dropped here]\n" % self.dropped)
        while self._tail:
            self._write_all(self._tail.popleft())
        self._tail_size = 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write_all(self, data: bytes) -> None:
        """Every byte or a remembered error: os.write may write fewer bytes than it was given."""
        view = memoryview(data)
        while view and self._fd is not None:
            try:
                view = view[os.write(self._fd, view):]
            except OSError as exc:
                self.error = f"cannot write the log {self.path}: {exc.strerror or exc}"
                os.close(self._fd)
                self._fd = None


class OutputCapture:
    """Copies one process's output from a pipe to its log, on a thread of its own.

    The capture holds a write end of the pipe itself until finish(): the pipe reports its
    end only once the process and everything it started have closed it, and a FIFO reports
    an end before its writer opened it at all.
    """

    def __init__(self, log_path: Path, secrets: list[str] | None = None, fifo: Path | None = None):
        """Without `fifo`, an anonymous pipe: give `write_fd` to the process as its stdout."""
        if fifo is None:
            self.read_fd, self.write_fd = os.pipe()
        else:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo, 0o600)
            self.read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.write_fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(self.read_fd, False)
        self.fifo = fifo
        self.log = CappedLog(log_path)
        self.redactor = Redactor(secrets)
        self._tail = bytearray()
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._copy, name=f"output-{log_path.name}", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        poller = select.poll()  # not select(): a busy harness may hold descriptors above 1024
        poller.register(self.read_fd, select.POLLIN)
        while self._deadline is None or time.monotonic() < self._deadline:
            if not poller.poll(100):
                continue
            try:
                chunk = os.read(self.read_fd, CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                break
            self._take(self.redactor.feed(chunk))
        self._take(self.redactor.flush())

    def _take(self, data: bytes) -> None:
        if not data:
            return
        self.log.write(data)
        self._tail += data
        if len(self._tail) > MEMORY_TAIL:
            del self._tail[:-MEMORY_TAIL]

    def finish(self, drain: float = DRAIN_SECONDS) -> str:
        """Once the process ended: the rest of its output (for at most `drain` seconds), the log
        closed, and the output's last MEMORY_TAIL bytes as text."""
        os.close(self.write_fd)
        self._deadline = time.monotonic() + (min(drain, STOP_DRAIN_SECONDS) if STOP.requested else drain)
        self._thread.join()
        os.close(self.read_fd)
        self.log.close()
        if self.fifo is not None:
            self.fifo.unlink(missing_ok=True)
        return self._tail.decode("utf-8", errors="replace")

    @property
    def error(self) -> str:
        """Why the log could not be written, or ""."""
        return self.log.error
