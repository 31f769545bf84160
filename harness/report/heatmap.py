"""Recorded cells → images/compatibility.png and .svg: the matrix at a glance, for the README."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from packaging.version import Version

from harness import __version__
from harness.config.model import PROFILES, Demo, Matrix
from harness.plan.releases import Release, select_releases
from harness.report.order import demos_in_report_order
from harness.results.outcomes import RECORDED
from harness.results.records import CellResult, ResultSet

OUTCOME_COLOURS = {o.value: o.colour for o in RECORDED}
IN_RANGE_NOT_RUN, OUT_OF_RANGE = "#e9edf1", "#ffffff"
PALETTE = [OUT_OF_RANGE, IN_RANGE_NOT_RUN] + list(OUTCOME_COLOURS.values())  # a grid value indexes it


def profiles_covered(matrix: Matrix, releases: list[Release], recorded: set[str]) -> list[str]:
    """The profiles whose every release (per demo range) has recorded cells: what the picture reflects."""
    covered = []
    ranges: dict[str, list[Release]] = {}  # demos share ranges: each range's releases, found once
    for demo in matrix.demos:
        if str(demo.releases) not in ranges:
            ranges[str(demo.releases)] = [r for r in releases if demo.claims(r.parsed)]
    for profile in PROFILES:
        if profile == "new":
            continue
        wanted = set()
        for claimed in ranges.values():
            wanted |= {r.version for r in select_releases(claimed, profile)}
        if wanted and wanted <= recorded:
            covered.append(profile)
    return covered


def draw_heatmap(matrix: Matrix, releases: list[Release], results: ResultSet, images: Path,
                 profiles: list[str] | None = None) -> list[Path]:
    """Draw the picture, unless the one on disk was drawn from the same grid, labels and title.

    Re-running with nothing changed re-records each cell (reused), which moves
    no colour: matplotlib then costs most of the report's time for identical
    images, so the inputs' digest is kept beside them and compared first.
    """
    resolution = matrix.settings.resolution
    cells = {(c.demo, c.release): c for c in results.cells.values() if c.resolution == resolution}
    columns = sorted({release for _, release in cells}, key=Version)
    demos = demos_in_report_order(matrix)
    grid = heatmap_grid(demos, columns, cells)
    if profiles is None:
        profiles = profiles_covered(matrix, releases, {release for _, release in cells})
    profiles = profiles or ["explicit releases"]
    newest = max((c.started for c in cells.values()), default="")[:10] or dt.date.today().isoformat()
    title = (f"{matrix.settings.package} demos × releases ({resolution}) — {len(cells)} cells, "
             f"profiles {', '.join(profiles)}, run up to {newest}")
    labels = [f"{d.story} · {d.variant}" for d in demos]
    paths = [images / f"compatibility.{suffix}" for suffix in ("png", "svg")]
    digest_file = images / ".compatibility.sha256"
    digest = hashlib.sha256(json.dumps([__version__, PALETTE, grid, columns, labels, title]).encode()).hexdigest()
    if all(p.is_file() for p in paths) and digest_file.is_file() and digest_file.read_text().strip() == digest:
        return paths
    images.mkdir(parents=True, exist_ok=True)
    save_picture(grid, columns, labels, title, paths)
    digest_file.write_text(digest + "\n")
    return paths


def heatmap_grid(demos: list[Demo], columns: list[str], cells: dict[tuple[str, str], CellResult]) -> list[list[int]]:
    """Per demo and release, an index into PALETTE: the outcome's colour, else in or outside the range."""
    index = {outcome: i + 2 for i, outcome in enumerate(OUTCOME_COLOURS)}
    grid = []
    for demo in demos:
        row = []
        for version in columns:
            cell = cells.get((demo.path, version))
            if cell is not None and cell.outcome in index:
                row.append(index[cell.outcome])
            else:
                row.append(1 if demo.claims(Version(version)) else 0)
        grid.append(row)
    return grid


def save_picture(grid: list[list[int]], columns: list[str], labels: list[str], title: str, paths: list[Path]) -> None:
    """Draw the grid with matplotlib (imported here: only a changed picture pays for it) and save each path."""
    import logging

    # before the import: importing it and its font search log at DEBUG under nox
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if not columns:  # no cell recorded yet: an empty grid would be drawn as a warning, not a picture
        fig, ax = plt.subplots(figsize=(8.0, 2.0), dpi=110)
        ax.axis("off")
        ax.set_title(title, fontsize=9, loc="left")
        ax.text(0.5, 0.5, "no cell recorded yet: run a profile or a release, then the report", ha="center",
                va="center", fontsize=9)
        _save(fig, paths)
        return
    width = max(8.0, 2.5 + 0.28 * len(columns))
    height = max(4.0, 1.6 + 0.2 * len(labels))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.imshow(grid, cmap=ListedColormap(PALETTE), vmin=0, vmax=len(PALETTE) - 1, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xticks([x - 0.5 for x in range(1, len(columns))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(labels))], minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    previous = None
    for x, version in enumerate(columns):  # a line between major lines
        major = Version(version).major
        if previous is not None and major != previous:
            ax.axvline(x - 0.5, color="#1d2733", linewidth=1.5)
        previous = major
    ax.set_title(title, fontsize=9, loc="left")
    handles = [Patch(color=colour, label=outcome) for outcome, colour in OUTCOME_COLOURS.items()]
    handles += [Patch(facecolor=IN_RANGE_NOT_RUN, label="in range, not run"),
                Patch(facecolor=OUT_OF_RANGE, edgecolor="#c9d1d9", label="outside the range")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    _save(fig, paths)


def _save(fig, paths: list[Path]) -> None:
    import matplotlib.pyplot as plt

    for path in paths:
        fig.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else {})  # no date: same grid, same file
    plt.close(fig)
