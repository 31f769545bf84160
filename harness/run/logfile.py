"""A finished process's log on disk: redacted, capped, and read back as a bounded tail.

A demo may print without limit. The harness never holds its whole output: it reads
the log in chunks to redact it, keeps the first and last LOG_CAP/2 bytes on disk
(with a line saying how much was dropped between), and keeps only the last
OUTPUT_KEEP bytes in memory, which is what the error summary and the record's
output tail are made from.
"""

from __future__ import annotations

import os
from pathlib import Path

LOG_CAP = 20 * 1024 * 1024
OUTPUT_KEEP = 64 * 1024
CHUNK = 1024 * 1024
_LINE_SEARCH = 4096  # a cut moves to a line break when there is one this close


def redact_file(path: Path, secrets: list[str], chunk: int = CHUNK) -> bool:
    """Replace every secret in the file, chunk by chunk; a secret cut between two chunks is found too.

    True when something was replaced (only then is the file rewritten, through a copy).
    """
    needles = sorted({s.encode("utf-8") for s in secrets if s}, key=len, reverse=True)
    if not needles:
        return False
    with path.open("rb") as source:
        if not _copy_redacted(source, None, needles, chunk):
            return False
    copy = path.with_name(path.name + ".redacting")
    try:
        with path.open("rb") as source, copy.open("wb") as target:
            found = _copy_redacted(source, target, needles, chunk)
        if found:
            copy.replace(path)
        return found
    finally:
        copy.unlink(missing_ok=True)


def _copy_redacted(source, target, needles: list[bytes], chunk: int) -> bool:
    """Copy with every secret replaced; whether one was found. Without a target: only look (stop at the first)."""
    overlap = max(map(len, needles)) - 1
    found, carry = False, b""
    while True:
        data = source.read(chunk)
        buffer = carry + data
        for needle in needles:
            if needle in buffer:
                if target is None:
                    return True
                found, buffer = True, buffer.replace(needle, b"[redacted]")
        cut = len(buffer) if not data else max(len(buffer) - overlap, 0)  # the rest may start a secret
        if target is not None:
            target.write(buffer[:cut])
        if not data:
            return found
        carry = buffer[cut:]


def cap_log(path: Path, limit: int = LOG_CAP) -> int:
    """Keep the log's head and tail (about limit/2 each, cut at line breaks) with a note of what was dropped
    between them; return how many bytes were dropped. Works in place, a chunk at a time."""
    size = path.stat().st_size
    if size <= limit:
        return 0
    keep = max(limit // 2 - _LINE_SEARCH, 1)
    with path.open("r+b") as log:
        head_end = _line_break_before(log, keep)
        tail_start = _line_break_after(log, size - keep)
        dropped = tail_start - head_end
        log.seek(head_end - 1)
        newline = b"" if log.read(1) == b"\n" else b"\n"
        half = f"{limit >> 21} MB" if limit >= 1 << 21 else f"{limit >> 11} KB"
        note = newline + (f"[harness: {dropped} bytes of output dropped here; the log keeps about "
                          f"{half} of its start and of its end]\n").encode()
        if dropped <= len(note):
            return 0  # barely over the limit: not worth a note
        _move(log, tail_start, head_end + len(note), size - tail_start)
        log.seek(head_end)
        log.write(note)
        log.truncate(head_end + len(note) + size - tail_start)
    return dropped


def read_tail(path: Path, size: int = OUTPUT_KEEP) -> str:
    """The file's last `size` bytes as text (starting at a whole character)."""
    with path.open("rb") as log:
        end = log.seek(0, os.SEEK_END)
        log.seek(max(end - size, 0))
        data = log.read(size)
    start = 0
    while start < min(3, len(data)) and data[start] & 0xC0 == 0x80 and end > size:
        start += 1  # a UTF-8 character cut at the start: skip its continuation bytes
    return data[start:].decode("utf-8", errors="replace")


def _line_break_before(log, offset: int) -> int:
    """Just after the last line break in the few KB before `offset`, else `offset`."""
    start = max(offset - _LINE_SEARCH, 0)
    log.seek(start)
    found = log.read(offset - start).rfind(b"\n")
    return start + found + 1 if found >= 0 else offset


def _line_break_after(log, offset: int) -> int:
    """Just after the first line break in the few KB from `offset`, else `offset`."""
    log.seek(offset)
    found = log.read(_LINE_SEARCH).find(b"\n")
    return offset + found + 1 if found >= 0 else offset


def _move(log, source: int, target: int, length: int) -> None:
    """Copy `length` bytes from `source` to the earlier offset `target`, front to back (safe: target < source)."""
    done = 0
    while done < length:
        log.seek(source + done)
        data = log.read(min(CHUNK, length - done))
        if not data:
            return
        log.seek(target + done)
        log.write(data)
        done += len(data)
