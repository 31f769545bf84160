"""`pick`: which variant of each story to show a customer on a release, from the best evidence there is.

Evidence, best first: a cell measured on that exact release; one on another release of its minor
line (the nearest); measured passes on both sides of it with no recorded cell between; the declared
range only. A fail wins: on the exact release, or the nearest measured release of its minor line on
either side. A variant only skipped here (a missing service) is offered last, and says so. Each
answer is given twice: as released (dependencies of the release's day) and as installed today
(`latest`, with the pins the matrix needs for it). The HTML page's customer box follows the same
rules in its script (tests/test_html_report.py checks that both agree).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from harness.config.model import Demo, EnvSettings, Matrix
from harness.plan.interpreters import Interpreter, choose_interpreters, era_python
from harness.plan.releases import Release, UnknownRelease, nearest, usable
from harness.report.order import demos_in_report_order, reaches_newest
from harness.results.outcomes import WORKING, Outcome
from harness.results.records import CellResult, ResultSet

# what tells a customer the demo will not work there: it failed, or its env could not be built or served
# (an env-error is an answer for them, above all "installed today"; range inference does not count it)
MEASURED_FAILS = frozenset({Outcome.FAIL, Outcome.TIMEOUT, Outcome.XFAIL, Outcome.ENV_ERROR})


class Kind(StrEnum):
    EXACT = "exact"  # measured on this release
    MINOR = "minor-line"  # measured on another release of the same minor line
    BETWEEN = "between"  # between measured passes, nothing recorded between
    DECLARED = "declared"  # the declared range only
    SKIPPED = "skipped"  # tried here; a need is missing


RANK = {Kind.EXACT: 0, Kind.MINOR: 1, Kind.BETWEEN: 2, Kind.DECLARED: 3, Kind.SKIPPED: 4}


@dataclass(frozen=True)
class Answer:
    kind: str
    works: bool | None  # None: not measured (declared, skipped)
    release: str  # the release whose cell says so ("2.13.4..2.16.9" for between; "" when declared)
    text: str


@dataclass
class PickRow:
    story: str
    variant: str
    demo: str
    verdict: str  # as released: "pass on 2.14.6, same minor line", or "none (...)"
    command: str
    kind: str = ""
    release: str = ""
    today: str = ""  # installed today (latest resolution), with the pins it needs
    today_kind: str = ""
    pins: list[str] = field(default_factory=list)


def measured_cells(results: ResultSet, demo: Demo, resolution: str) -> dict[str, CellResult]:
    return {c.release: c for c in results.cells.values() if c.demo == demo.path and c.resolution == resolution}


def _said(cell: CellResult) -> bool | None:
    """True: it worked; False: it failed; None: the cell measured nothing about the demo."""
    if cell.outcome in WORKING:
        return True
    return False if cell.outcome in MEASURED_FAILS else None


def answer(demo: Demo, release: Release, order: dict[str, int], known: list[Release],
           cells: dict[str, CellResult]) -> Answer | None:
    """One variant's best evidence on `release` (`order`: version → index in `known`, the usable releases)."""
    exact = cells.get(release.version)
    if exact is not None and _said(exact) is not None:
        return Answer(Kind.EXACT, _said(exact), release.version, f"{_word(exact)} on this release")
    here = order[release.version]
    measured = sorted((order[v], c) for v, c in cells.items() if v in order and _said(c) is not None)
    below = next((p for p in reversed(measured) if p[0] < here), None)
    above = next((p for p in measured if p[0] > here), None)
    line = [p for p in (below, above) if p is not None and known[p[0]].minor == release.minor]
    if line:
        failing = [p for p in line if not _said(p[1])]
        index, cell = min(failing or line, key=lambda p: (abs(p[0] - here), p[0]))
        return Answer(Kind.MINOR, _said(cell), cell.release, f"{_word(cell)} on {cell.release}, same minor line")
    if below is not None and above is not None and _said(below[1]) and _said(above[1]):
        b, a = below[1].release, above[1].release
        return Answer(Kind.BETWEEN, True, f"{b}..{a}", f"between measured {b} (pass) and {a} (pass), "
                                                           "no recorded fail between")
    if exact is not None and exact.outcome == Outcome.SKIPPED:
        return Answer(Kind.SKIPPED, None, release.version, f"skipped here: {exact.reason}")
    if demo.claims(release.parsed):
        return Answer(Kind.DECLARED, None, "", "declared only, not measured")
    return None


def _word(cell: CellResult) -> str:
    return "pass" if cell.outcome in WORKING else str(cell.outcome)


def preference(answer_: Answer, demo: Demo) -> tuple:
    """Working evidence first, by kind; fails last; then a range with no upper end (it keeps working as the
    customer upgrades); the caller's order (era order) breaks ties."""
    return (answer_.works is False, RANK[Kind(answer_.kind)], not reaches_newest(demo.releases))


def pick(matrix: Matrix, releases: list[Release], results: ResultSet, version: str,
         resolution: str | None = None, interpreters: list[Interpreter] | None = None) -> list[PickRow]:
    """Per story (in report order), the variant to show on `version` and why. `releases`: the snapshot's."""
    resolution = resolution or matrix.settings.resolution
    known = usable(releases, matrix.settings.prereleases)
    release = next((r for r in known if r.version == version), None)
    if release is None:
        raise UnknownRelease(f"{matrix.settings.package} {version} is not a usable release on the index; "
                             f"nearest: {', '.join(nearest(known, version))}")
    order = {r.version: i for i, r in enumerate(known)}
    stories: dict[str, list[Demo]] = {}
    for demo in demos_in_report_order(matrix):
        stories.setdefault(demo.story, []).append(demo)
    settings = matrix.env_settings(release.parsed, resolution)
    python = _python(matrix, release, resolution, settings, interpreters)
    today = "latest" if resolution != "latest" else resolution
    pins = list(matrix.pinned(release.parsed)) + list(matrix.pinned_requirements(release.parsed))
    needed_today = matrix.today_text(release.parsed)
    rows = []
    for story, variants in stories.items():
        found = [(a, d) for d in variants
                 if (a := answer(d, release, order, known, measured_cells(results, d, resolution))) is not None]
        if not found:
            rows.append(PickRow(story, "-", "-", "none (no variant claims this release)", ""))
            continue
        best, demo = min(found, key=lambda pair: preference(*pair))  # min keeps the first of equals
        if best.works is False:
            why = ", ".join(f"{Path(d.path).name}: {a.text}" for a, d in found)
            rows.append(PickRow(story, "-", "-", f"none ({why})", "", best.kind, best.release))
            continue
        later = answer(demo, release, order, known, measured_cells(results, demo, today))
        today_text = (later.text if later else "not measured") + needed_today
        rows.append(PickRow(story, demo.variant, demo.path, best.text,
                            rehearse_command(matrix, release, demo, resolution, python, settings),
                            best.kind, best.release, today_text, later.kind if later else "", pins))
    return rows


def _python(matrix: Matrix, release: Release, resolution: str, settings: EnvSettings,
            interpreters: list[Interpreter] | None) -> str:
    """The interpreter the harness itself would run the release on (else the era's, when none is known)."""
    if interpreters:
        chosen = choose_interpreters(release, interpreters, resolution, settings.python, matrix.settings.era_lag_days)
        if chosen:
            return chosen[0].minor
    return era_python(release, matrix.settings.era_lag_days) or ""


def rehearse_command(matrix: Matrix, release: Release, demo: Demo, resolution: str, python: str,
                     settings: EnvSettings) -> str:
    """A shell line that runs the demo by hand in a fresh env of that release (`settings`: the release's)."""
    env = f"/tmp/{matrix.settings.package}-{release.version}"
    words = ["uv", "venv", env] + (["--python", ".".join(python.split(".")[:2])] if python else [])
    install = ["uv", "pip", "install", "--python", env, f"{matrix.settings.package}=={release.version}"]
    install += list(settings.requirements) + list(demo.requirements)
    if settings.constraints:
        quoted = " ".join(shlex.quote(c) for c in settings.constraints)
        install += [f"--constraint=<(printf '%s\\n' {quoted})"]
    install += ["--exclude-newer", release.exclude_newer] if resolution == "as-released" else []
    run = [f"{env}/bin/python", demo.path]
    return " && ".join(" ".join(w if w.startswith("--constraint=") else shlex.quote(w) for w in part)
                       for part in (words, install, run))
