"""demo × release → sessions: which releases each profile selects, which interpreter each gets.

Pure and fast: it reads only the matrix, the release snapshot and the
interpreter list, so `nox -l` needs no network and no env.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config.model import PROFILES, RESOLUTIONS, Demo, Matrix, MatrixError
from harness.config.parse import load_matrix
from harness.plan.check import check_matrix
from harness.plan.interpreters import Interpreter, choose_interpreters, describe_missing, discover_interpreters
from harness.plan.memo import memoized
from harness.plan.releases import Release, demo_candidates, select_releases, usable
from harness.results.records import CellResult
from harness.results.store import committed_blob, schedule_baseline, store_for


@dataclass
class SessionPlan:
    """One nox session: one release on one interpreter, running every demo that claims the release."""

    release: Release
    resolution: str
    candidates: list[Interpreter]  # best first; empty: no interpreter fits
    demos: list[Demo]
    profiles: set[str] = field(default_factory=set)
    missing_interpreter: str = ""  # why no candidate fits, when none does
    label: str = ""  # ends the name of a session outside the profiles (a probe), so its logs stand apart

    @property
    def python(self) -> str:
        return self.candidates[0].minor if self.candidates else "none"

    @property
    def name(self) -> str:
        suffix = "" if self.resolution == "as-released" else f"-{self.resolution}"
        label = f"-{self.label}" if self.label else ""
        return f"release-{self.release.version}-py{self.python}{suffix}{label}"

    @property
    def tags(self) -> list[str]:
        """nox -t selects by these: a profile, a line, a minor line, a resolution, or the release itself."""
        release = self.release
        return sorted(self.profiles) + [f"line-{release.parsed.major}", f"minor-{release.minor}", self.resolution,
                                        release.version]


@dataclass
class Plan:
    matrix: Matrix
    releases: list[Release]  # usable releases of the snapshot
    sessions: list[SessionPlan]
    seconds: dict[str, float] = field(default_factory=dict)  # per session: its demos' time in the baseline

    def session_for(self, version: str) -> SessionPlan | None:
        return next((s for s in self.sessions if s.release.version == version), None)

    def by_profile(self, profile: str) -> list[SessionPlan]:
        return [s for s in self.sessions if profile in s.profiles]


def new_releases(candidates: list[Release], recorded: set[str]) -> list[Release]:
    """Releases the baseline has no cells for and that came after every recorded release of their line.

    Old releases nobody ran on purpose (the baseline covers a profile, not all) are not new.
    """
    newest_recorded: dict[int, Release] = {}
    for release in candidates:
        if release.version in recorded:
            newest_recorded[release.parsed.major] = release
    return [
        r for r in candidates
        if r.version not in recorded
        and (r.parsed.major not in newest_recorded or r.parsed > newest_recorded[r.parsed.major].parsed)
    ]


def build_plan(
    matrix: Matrix,
    releases: list[Release],
    interpreters: list[Interpreter],
    resolution: str | None = None,
    profiles: tuple[str, ...] = PROFILES,
    only: list[str] | None = None,
    recorded: set[str] | None = None,
    probe: bool = False,
) -> Plan:
    """Every session any profile selects, tagged with the profiles that select it.

    `only` adds an explicit list of releases (the explicit-list profile).
    `recorded` is the releases the baseline has cells for (for the `new` profile).
    `probe` runs every demo on the explicit releases, in its declared range or not
    (a pass outside the range is a range that could widen).
    """
    resolution = resolution or matrix.settings.resolution
    if resolution not in RESOLUTIONS:
        raise MatrixError(matrix.path, [f"resolution {resolution!r} (MATRIX_RESOLUTION?): "
                                        f"expected one of {', '.join(RESOLUTIONS)}"])
    releases = usable(releases, matrix.settings.prereleases)
    by_version = {r.version: r for r in releases}
    chosen: dict[str, set[str]] = {}
    for demo in matrix.demos:
        candidates = demo_candidates(demo, releases)
        for profile in profiles:
            if profile == "new":
                picked = new_releases(candidates, recorded or set()) + select_releases(candidates, "majors")
            else:
                picked = select_releases(candidates, profile)
            for release in picked:
                chosen.setdefault(release.version, set()).add(profile)
    for version in only or ():
        if version not in by_version:
            raise ValueError(f"{version} is not a usable release of {matrix.settings.package}")
        chosen.setdefault(version, set()).add("explicit")
    sessions = []
    for version in sorted(chosen, key=lambda v: by_version[v].parsed):
        release = by_version[version]
        demos = list(matrix.demos) if probe and version in (only or ()) else matrix.demos_for(release.parsed)
        sessions.append(session_plan(matrix, release, resolution, interpreters, demos, chosen[version]))
    return Plan(matrix=matrix, releases=releases, sessions=sessions)


def session_plan(matrix: Matrix, release: Release, resolution: str, interpreters: list[Interpreter],
                 demos: list[Demo], profiles: set[str], label: str = "") -> SessionPlan:
    """One release's session: its interpreters, best first, or why none fits."""
    settings = matrix.env_settings(release.parsed, resolution)
    candidates = choose_interpreters(release, interpreters, resolution, settings.python, matrix.settings.era_lag_days)
    missing = "" if candidates else describe_missing(release, interpreters, settings.python)
    return SessionPlan(release=release, resolution=resolution, candidates=candidates, demos=demos,
                       profiles=profiles, label=label, missing_interpreter=missing)


def state_interpreters(matrix: Matrix) -> list[Interpreter]:
    """The interpreters this machine has, cached in the state folder."""
    return discover_interpreters(cache=matrix.resolve(matrix.settings.state_dir) / "interpreters.json")


def load_plan(matrix_path: Path, resolution: str | None = None, only: list[str] | None = None,
              probe: bool = False) -> Plan:
    """Matrix + snapshot + interpreters + the baseline → the plan (what the noxfile and the CLI use); kept
    while none of those files changes (memo.py), since every nox process asks for it."""
    matrix = load_matrix(matrix_path)
    values = ("plan", str(matrix_path), resolution, only, probe, committed_blob(matrix))  # the schedule's durations
    return memoized(matrix, "plan", values, lambda: plan_afresh(matrix_path, resolution, only, probe))


def plan_afresh(matrix_path: Path, resolution: str | None = None, only: list[str] | None = None,
                probe: bool = False) -> Plan:
    matrix, releases = check_matrix(matrix_path)  # a run never starts on an invalid matrix; check read the snapshot
    interpreters = state_interpreters(matrix)
    resolution = resolution or matrix.settings.resolution
    recorded = {c.release for c in store_for(matrix).load_baseline().cells.values() if c.resolution == resolution}
    plan = build_plan(matrix, releases, interpreters, resolution, only=only, recorded=recorded, probe=probe)
    plan.seconds = session_seconds(plan, list(schedule_baseline(matrix).cells.values()))
    return plan


def session_seconds(plan: Plan, cells: list[CellResult]) -> dict[str, float]:
    """Each session's total demo time in the baseline: what it will likely cost again.

    Used to start the longest sessions first (nox --parallel keeps the order
    sessions are declared in) and, for sharding, to balance the shards.
    """
    per_release: dict[tuple[str, str], float] = {}
    for cell in cells:
        key = (cell.release, cell.resolution)
        per_release[key] = per_release.get(key, 0.0) + float(cell.duration or 0.0)
    return {s.name: per_release.get((s.release.version, s.resolution), 0.0) for s in plan.sessions}
