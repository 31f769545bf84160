"""The order every report lists demos in: a story's variants together, oldest era first.

Stories keep the order in which matrix.toml first names them; within a story,
variants follow the lowest release their range admits, so a classic (<2)
variant comes before a 2.x one and that before a 3.x one, whatever the
variants are called or where they are declared.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.config.model import Demo, Matrix

_LOWER_BOUNDS = {">=", "==", "~=", ">"}  # the operators that bound a range from below
_UPPER_BOUNDS = {"<", "<=", "==", "~=", "==="}  # and from above


def lowest_admitted(releases: SpecifierSet) -> tuple[Version, bool]:
    """The range's lower bound, and whether it is exclusive (`>2.0`): (0, False) when it has none."""
    bound, exclusive = Version("0"), False
    for spec in releases:
        if spec.operator not in _LOWER_BOUNDS:
            continue
        version = Version(spec.version.removesuffix(".*"))
        if (version, spec.operator == ">") > (bound, exclusive):
            bound, exclusive = version, spec.operator == ">"
    return bound, exclusive


def reaches_newest(releases: SpecifierSet) -> bool:
    """Whether the range has no upper end: releases yet to come still fall in it."""
    return not any(spec.operator in _UPPER_BOUNDS for spec in releases)


def demos_in_report_order(matrix: Matrix) -> list[Demo]:
    """Every demo, each story's variants adjacent in era order; stories by first appearance in the matrix."""
    first_seen: dict[str, int] = {}
    for demo in matrix.demos:
        first_seen.setdefault(demo.story, len(first_seen))
    return sorted(matrix.demos, key=lambda d: (first_seen[d.story], lowest_admitted(d.releases)))


def stories_in_report_order(matrix: Matrix) -> list[str]:
    """The stories, in the order the reports list them."""
    return list(dict.fromkeys(d.story for d in demos_in_report_order(matrix)))
