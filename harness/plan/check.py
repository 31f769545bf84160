"""Checks that need more than the matrix file itself: the demos folder and the release list."""

from __future__ import annotations

import json
from pathlib import Path

from harness.config.collect import compile_problem
from harness.config.files import walk_files
from harness.config.model import Matrix, MatrixError
from harness.config.parse import load_matrix
from harness.plan.releases import Release, SnapshotError, demo_candidates, load_snapshot, usable


def not_demos(matrix: Matrix) -> tuple:
    """Folders the harness itself writes, which may lie inside the demos folder: never scanned or hashed."""
    return (matrix.resolve(matrix.settings.state_dir), matrix.resolve(matrix.settings.reports_dir))


def undeclared_demos(matrix: Matrix) -> list[str]:
    """Scripts under the demos folder that no entry declares (`_name.py` helpers, `exclude` are exempt)."""
    demos_dir = matrix.resolve(matrix.settings.demos_dir)
    if not demos_dir.is_dir():
        return []
    declared = {d.path for d in matrix.demos}
    found = []
    for path in walk_files(demos_dir, matrix.root, matrix.settings.exclude, not_demos(matrix)):
        if path.suffix != ".py" or path.name.startswith("_"):
            continue
        relative = path.relative_to(matrix.root).as_posix()
        if relative not in declared:
            found.append(relative)
    return found


def compile_problems(matrix: Matrix) -> list[str]:
    """Demos the host's Python cannot compile: a syntax error is the matrix's to fix, never a recorded cell.

    Every era's demos are written in syntax that today's Python still reads (Python 3 only; nothing
    removed since 3.7), so compiling here holds demos for old interpreters to the same rule."""
    return [f"demos[{i}] ({demo.path}).path: {problem}" for i, demo in enumerate(matrix.demos)
            if (problem := compile_problem(matrix.resolve(demo.path)))]


def merge_problems(matrix: Matrix, releases: list[Release]) -> list[str]:
    """Ranges that each parse but merge into an unusable env for some release (a worker without its command)."""
    found: dict[str, list[str]] = {}
    for release in releases:
        try:
            matrix.env_settings(release.parsed, matrix.settings.resolution)
        except MatrixError as exc:
            for problem in exc.problems:
                found.setdefault(problem.split(": ", 1)[1], []).append(release.version)
    return [f"ranges (releases {versions[0]}{f' to {versions[-1]}' if len(versions) > 1 else ''}): {problem}"
            for problem, versions in found.items()]


def check_matrix(path: Path) -> tuple[Matrix, list[Release]]:
    """Load and fully validate; raise MatrixError with every problem found."""
    matrix = load_matrix(path)
    problems: list[str] = []
    demos_dir = matrix.resolve(matrix.settings.demos_dir)
    if not demos_dir.is_dir():
        problems.append(f"harness.demos_dir: {matrix.settings.demos_dir!r} is not a folder next to the matrix file")
    problems += compile_problems(matrix)
    for relative in undeclared_demos(matrix):
        problems.append(
            f"demos: {relative} is under {matrix.settings.demos_dir}/ but no [[demos]] entry declares it "
            "(declare it, or prefix the name with '_' if it is a helper module)"
        )
    snapshot_path = matrix.resolve(matrix.settings.releases_file)
    try:
        snapshot = load_snapshot(snapshot_path)
    except SnapshotError as exc:
        raise MatrixError(matrix.path, problems + [f"harness.releases_file: {exc}"]) from None
    package = json.loads(snapshot_path.read_text()).get("package")
    if package and package != matrix.settings.package:
        problems.append(
            f"harness.releases_file: the snapshot lists releases of {package!r}, but harness.package is "
            f"{matrix.settings.package!r}; run `{matrix.command('refresh')}`"
        )
    releases = usable(snapshot, matrix.settings.prereleases)
    problems += merge_problems(matrix, releases)
    for i, demo in enumerate(matrix.demos):
        candidates = demo_candidates(demo, releases)
        if not candidates:
            problems.append(
                f"demos[{i}] ({demo.path}).releases: {str(demo.releases)!r} matches no usable release of "
                f"{matrix.settings.package} in {matrix.settings.releases_file}; expected a range containing at "
                f"least one release (refresh the snapshot with `{matrix.command('refresh')}` if it is new)"
            )
            continue
        for j, entry in enumerate(demo.xfail):
            if not any(entry.releases.contains(r.parsed, prereleases=True) for r in candidates):
                problems.append(
                    f"demos[{i}] ({demo.path}).xfail[{j}].releases: {str(entry.releases)!r} matches no release "
                    f"inside the demo's range {str(demo.releases)!r}"
                )
    if problems:
        raise MatrixError(matrix.path, problems)
    return matrix, releases
