"""`pick`: which variant of each story to show on a release, and the command that rehearses it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from harness.config.model import Demo, EnvSettings, Matrix
from harness.plan.interpreters import era_python
from harness.plan.releases import Release, UnknownRelease, nearest
from harness.report.order import demos_in_report_order, reaches_newest
from harness.results.outcomes import Outcome
from harness.results.records import ResultSet


@dataclass
class PickRow:
    story: str
    variant: str
    demo: str
    verdict: str  # "measured pass", "declared, not measured", "none: ..."
    command: str


def pick(matrix: Matrix, releases: list[Release], results: ResultSet, version: str,
         resolution: str | None = None) -> list[PickRow]:
    """Per story, the variant to show on `version`: measured passes first, then declared ranges.

    Stories come in report order. Where several variants qualify, one whose
    range has no upper end comes first (it keeps working as the customer
    upgrades), then the oldest era's.
    """
    resolution = resolution or matrix.settings.resolution
    release = next((r for r in releases if r.version == version), None)
    if release is None:
        near = ", ".join(nearest(releases, version))
        raise UnknownRelease(f"{matrix.settings.package} {version} is not a usable release on the index; "
                             f"nearest: {near}")
    stories: dict[str, list[Demo]] = {}
    for demo in demos_in_report_order(matrix):
        stories.setdefault(demo.story, []).append(demo)
    rows = []
    era = era_python(release, matrix.settings.era_lag_days) or ""  # the same for every story: found once
    settings = matrix.env_settings(release.parsed, resolution)
    for story, variants in stories.items():
        variants.sort(key=lambda d: not reaches_newest(d.releases))  # stable: otherwise era order
        cells = {d.path: results.cells.get((d.path, version, resolution)) for d in variants}
        passed = [d for d in variants if cells[d.path] is not None and cells[d.path].outcome == Outcome.PASS]
        declared = [d for d in variants if d.claims(release.parsed) and cells[d.path] is None]
        skipped = [d for d in variants if cells[d.path] is not None and cells[d.path].outcome == Outcome.SKIPPED]
        if passed:
            demo, verdict = passed[0], "measured pass"
        elif declared:
            demo, verdict = declared[0], "declared, not measured"
        elif skipped:
            demo = skipped[0]
            verdict = f"declared, skipped here: {cells[demo.path].reason}"
        else:
            measured = [c for c in cells.values() if c is not None]
            why = ", ".join(f"{Path(c.demo).name} {c.outcome}" for c in measured) or "no variant claims this release"
            rows.append(PickRow(story, "-", "-", f"none ({why})", ""))
            continue
        cell = cells[demo.path]
        python = cell.python if cell is not None else era
        rows.append(PickRow(story, demo.variant, demo.path, verdict,
                            rehearse_command(matrix, release, demo, resolution, python, settings)))
    return rows


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


