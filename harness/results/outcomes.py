"""The outcomes a cell can have, and everything the code knows about each: one table.

Every list of outcomes elsewhere (what fails a session, what the cache may
reuse, what the report's legend shows, the colours of the page and the
picture) is derived from `Outcome`, so adding or changing an outcome is one
edit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class _Traits:
    symbol: str  # the Markdown report's (emoji)
    plain: str  # the HTML page's and the picture's (a glyph every font has)
    colour: str
    meaning: str
    gates: bool  # a release session with such a cell exits non-zero (CI fails on it)
    reusable: bool  # an unchanged cell with this outcome is not run again
    broken: bool  # the demo did not work here: a change to or from it is a regression or a fix
    working: bool  # the demo worked here (its own checks held)
    recorded: bool = True  # a run can record it (not-run is only drawn)
    measured: bool = True  # it says how the demo did; a record that does not never hides one that does
    checked: bool = True  # the demo's own code decided it (not a time limit, the env or the harness)


class Outcome(StrEnum):
    """A cell's outcome; compares equal to its name in records (`Outcome.PASS == "pass"`)."""

    PASS = "pass"
    FLAKY = "flaky"
    FAIL = "fail"
    TIMEOUT = "timeout"
    ENV_ERROR = "env-error"
    SKIPPED = "skipped"
    XFAIL = "xfail"
    XPASS = "xpass"
    INTERRUPTED = "interrupted"
    INFRA_ERROR = "infra-error"
    NOT_RUN = "not-run"

    @property
    def traits(self) -> _Traits:
        return _TRAITS[self]

    @property
    def symbol(self) -> str:
        return self.traits.symbol

    @property
    def plain(self) -> str:
        return self.traits.plain

    @property
    def colour(self) -> str:
        return self.traits.colour

    @property
    def meaning(self) -> str:
        return self.traits.meaning


_TRAITS = {
    Outcome.PASS: _Traits("✅", "✓", "#2e9d4f", "the demo ran and its own checks held",
                          gates=False, reusable=True, broken=False, working=True),
    Outcome.FLAKY: _Traits("🔁", "≈", "#9ccc65", "failed, then passed on an immediate retry (does not gate CI)",
                           gates=False, reusable=False, broken=False, working=True),
    Outcome.FAIL: _Traits("❌", "✗", "#d7322f", "the demo raised, exited non-zero, or its checks failed",
                          gates=True, reusable=True, broken=True, working=False),
    Outcome.TIMEOUT: _Traits("⏱️", "T", "#f08c00", "killed at its time limit (whole process group)",
                             gates=True, reusable=False, broken=True, working=False, checked=False),
    Outcome.ENV_ERROR: _Traits("⚠️", "E", "#8e44ad",
                               "the environment could not be built (resolution, install, interpreter, canary)",
                               gates=True, reusable=False, broken=True, working=False, checked=False),
    Outcome.SKIPPED: _Traits("⏭️", "–", "#9aa5b1", "a declared need is not available here (reason in results.json)",
                             gates=False, reusable=True, broken=False, working=False, checked=False),
    Outcome.XFAIL: _Traits("✖️", "x", "#5b6b7a", "declared known-broken in matrix.toml, and still broken",
                           gates=False, reusable=True, broken=False, working=False),
    Outcome.XPASS: _Traits("❗", "!", "#1f78c8", "declared known-broken, but now passes: the xfail entry can go",
                           gates=True, reusable=True, broken=False, working=True),
    # not the demo's doing: neither is ever reused, and neither hides the cell's earlier measured record
    Outcome.INTERRUPTED: _Traits("⏹️", "■", "#b8c0cc", "the run was stopped (Ctrl-C, SIGTERM) before the cell "
                                 "finished: nothing measured, it runs again next time",
                                 gates=False, reusable=False, broken=False, working=False, measured=False,
                                 checked=False),
    # gating (the session exits non-zero: CI notices), but never a regression of the demo
    Outcome.INFRA_ERROR: _Traits("🔧", "H", "#795548", "the harness failed, not the demo (a service it started "
                                 "died, the cell's log could not be written): it runs again next time",
                                 gates=True, reusable=False, broken=False, working=False, measured=False,
                                 checked=False),
    Outcome.NOT_RUN: _Traits("·", "·", "#eef0f2", "release outside the demo's declared range",
                             gates=False, reusable=False, broken=False, working=False, recorded=False, checked=False),
}

ALL = tuple(Outcome)
RECORDED = tuple(o for o in Outcome if o.traits.recorded)
GATING = frozenset(o for o in Outcome if o.traits.gates)
REUSABLE = frozenset(o for o in Outcome if o.traits.reusable)
BROKEN = frozenset(o for o in Outcome if o.traits.broken)
WORKING = frozenset(o for o in Outcome if o.traits.working)
UNMEASURED = frozenset(o for o in Outcome if o.traits.recorded and not o.traits.measured)
