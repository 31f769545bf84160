"""A failure's signature: its error summary with what differs between runs of the same failure taken out.

Bisect calls a candidate "bad" only when it fails the way the bad end fails; a
different error is another change, reported and skipped (unless --any-failure).
"""

from __future__ import annotations

import re

from harness.results.outcomes import Outcome
from harness.results.records import CellResult

_RULES = [
    (re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*/)+[\w.-]+"), "<path>"),  # file paths, absolute or relative
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),  # UUIDs
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),  # object addresses
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hash>"),
    (re.compile(r"\d+(?:\.\d+)*"), "<n>"),  # counts, ports, times, versions
    (re.compile(r"\s+"), " "),
]


def normalise(error: str) -> str:
    """'FileNotFoundError: /tmp/x1/a.txt (3 tries)' → 'FileNotFoundError: <path> (<n> tries)'."""
    text = error.strip()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


def failure_signature(cell: CellResult) -> str:
    """What identifies how a cell failed: a time limit is one signature, any other failure its normalised error."""
    if cell.outcome == Outcome.TIMEOUT:
        return "timeout"
    return normalise(cell.error) or f"exit code {cell.exit_code}"


def same_failure(a: str, b: str) -> bool:
    """Two signatures name the same failure: equal, or one is the other cut short (error summaries are capped)."""
    return a == b or (min(len(a), len(b)) >= 40 and (a.startswith(b) or b.startswith(a)))
