"""The steps of a bisect, without running anything: the window, the next candidate, skips.

Releases run from the good end to the bad end (either may be the older), so the same
steps find where a demo starts working (a lower edge) and where it stops (an upper edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from harness.plan.releases import Release


class BisectError(Exception):
    """The bisect cannot start or go on (ends that do not behave as claimed, no recorded change); says what to do."""


class Verdict(StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"  # no verdict: no env, no needs, a different failure, or flaky


@dataclass
class Bisection:
    """`releases[0]` is good, `releases[-1]` is bad; between them the candidates, in release order."""

    releases: list[Release]
    good: int = 0
    bad: int = -1
    skipped: dict[str, str] = field(default_factory=dict)  # version → why it gave no verdict

    def __post_init__(self):
        if len(self.releases) < 2:
            raise ValueError("a bisect needs a good and a bad release")
        self.bad = len(self.releases) - 1 if self.bad < 0 else self.bad

    @property
    def window(self) -> tuple[Release, Release]:
        return self.releases[self.good], self.releases[self.bad]

    @property
    def inside(self) -> list[Release]:
        """The releases strictly between the current good and bad ends."""
        return self.releases[self.good + 1:self.bad]

    def untested(self) -> list[int]:
        return [i for i in range(self.good + 1, self.bad) if self.releases[i].version not in self.skipped]

    def next_index(self) -> int | None:
        """The midpoint, or the untested candidate nearest to it when it was skipped; None when done."""
        left = self.untested()
        if not left:
            return None
        middle = (self.good + self.bad) / 2
        return min(left, key=lambda i: (abs(i - middle), i))

    def next_candidate(self) -> Release | None:
        index = self.next_index()
        return None if index is None else self.releases[index]

    def record(self, release: Release, verdict: Verdict, why: str = "") -> None:
        index = self.releases.index(release)
        if not self.good < index < self.bad:
            raise ValueError(f"{release.version} is not inside the window")
        if verdict == Verdict.GOOD:
            self.good = index
        elif verdict == Verdict.BAD:
            self.bad = index
        else:
            self.skipped[release.version] = why

    def after(self, verdict: Verdict) -> Release | None:
        """The candidate that would come next if the current one got `verdict`: whose env to install ahead."""
        index = self.next_index()
        if index is None:
            return None
        trial = Bisection(self.releases, self.good, self.bad, dict(self.skipped))
        trial.record(self.releases[index], verdict, "ahead")
        return trial.next_candidate()

    @property
    def done(self) -> bool:
        return self.next_index() is None

    @property
    def isolated(self) -> bool:
        """The first bad release is known: nothing lies between the ends (skipped releases would)."""
        return self.bad == self.good + 1

    def steps_left(self) -> int:
        return math.ceil(math.log2(len(self.untested()) + 1))
