"""Every report lists a story's variants together, oldest era first, whatever order matrix.toml declares them in."""

from __future__ import annotations

import re

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.plan.check import check_matrix
from harness.report.heatmap import draw_heatmap
from harness.report.html import report_data
from harness.report.markdown import render_markdown, write_report
from harness.report.order import demos_in_report_order, lowest_admitted, reaches_newest, stories_in_report_order
from harness.report.pick import pick
from harness.results.records import CellResult
from harness.results.store import ResultStore

# each story's variants are declared apart, and so that neither their names' alphabetical order
# (3x, classic, modern; 2x, classic, modern) nor their declaration order is the era order
MATRIX = """
[[demos]]
path = "demos/core/etl_3x.py"
story = "etl"
variant = "3x"
releases = ">=3.0"

[[demos]]
path = "demos/core/deploy_modern.py"
story = "deploy"
variant = "modern"
releases = ">=2.10"

[[demos]]
path = "demos/core/etl_modern.py"
story = "etl"
variant = "modern"
releases = ">=2.0"

[[demos]]
path = "demos/core/deploy_classic.py"
story = "deploy"
variant = "classic"
releases = ">=0.14,<2"

[[demos]]
path = "demos/core/etl_classic.py"
story = "etl"
variant = "classic"
releases = ">=0.14,<2"

[[demos]]
path = "demos/core/deploy_2x.py"
story = "deploy"
variant = "2x"
releases = ">=2.8,<3"
"""
ERA_ORDER = ["etl_classic", "etl_modern", "etl_3x", "deploy_classic", "deploy_2x", "deploy_modern"]
CELLS = [  # (demo, release, outcome)
    ("etl_3x", "3.9.1", "fail"), ("etl_modern", "3.9.1", "fail"), ("deploy_modern", "3.9.1", "timeout"),
    ("etl_classic", "1.4.1", "fail"), ("deploy_classic", "1.4.1", "pass"), ("etl_modern", "2.20.27", "skipped"),
    ("etl_3x", "3.0.0", "pass"), ("etl_modern", "3.0.0", "pass"), ("deploy_2x", "2.14.3", "xfail"),
    ("deploy_2x", "2.20.27", "pass"), ("deploy_modern", "2.20.27", "pass"),
    ("etl_classic", "0.15.13", "skipped"), ("deploy_classic", "0.15.13", "fail"),
]


@pytest.fixture
def recorded(project):
    for name in ERA_ORDER:
        project.demo(f"demos/core/{name}.py", "print('x')\n")
    (project.root / "demos" / "core" / "README.md").write_text(
        "# Core\n\n<!-- verdict:start -->\n<!-- verdict:end -->\n")
    project.write_matrix(MATRIX)
    matrix, releases = check_matrix(project.matrix)
    store = ResultStore(project.root / ".matrix", project.root / "reports")
    for demo, release, outcome in CELLS:
        store.append(CellResult(demo=f"demos/core/{demo}.py", story=demo.split("_")[0], variant=demo.split("_")[1],
                                release=release, resolution="as-released", outcome=outcome,
                                started="2026-11-24T10:00:00", reason="why" if outcome in ("skipped", "xfail") else ""))
    return matrix, releases, store.load()


def listed(text: str, names: list[str]) -> list[str]:
    """The names that occur in the text (as demo files), in the order they first occur."""
    found = {name: text.find(f"/{name}.py") if f"/{name}.py" in text else text.find(f"`{name}.py`") for name in names}
    return sorted((n for n in names if found[n] >= 0), key=found.get)


def in_era_order(names: list[str]) -> bool:
    return names == [n for n in ERA_ORDER if n in names]


@pytest.mark.parametrize("specifier, lowest", [
    (">=0.14,<2", (Version("0.14"), False)),
    ("<3,>=2.8.3", (Version("2.8.3"), False)),
    (">2.0", (Version("2.0"), True)),
    ("==2.*", (Version("2"), False)),
    ("~=2.10", (Version("2.10"), False)),
    ("<2", (Version("0"), False)),
    (">=2,>=2.5,!=2.6", (Version("2.5"), False)),
])
def test_a_range_is_placed_by_the_lowest_release_it_admits(specifier, lowest):
    assert lowest_admitted(SpecifierSet(specifier)) == lowest


@pytest.mark.parametrize("specifier, open_ended", [
    (">=2.0", True), (">=2,!=2.5", True), ("", True), (">=2.8,<3", False), ("<=1.4", False), ("~=2.10", False),
    ("==2.14.3", False),
])
def test_a_range_without_an_upper_end_reaches_the_newest_releases(specifier, open_ended):
    assert reaches_newest(SpecifierSet(specifier)) is open_ended


def test_the_order_groups_stories_by_first_appearance_and_variants_by_era(recorded):
    matrix, _, _ = recorded
    assert [d.path.split("/")[-1][:-3] for d in demos_in_report_order(matrix)] == ERA_ORDER
    assert stories_in_report_order(matrix) == ["etl", "deploy"]


def test_compatibility_md_lists_variants_together_in_era_order(recorded):
    matrix, _, results = recorded
    text = render_markdown(matrix, results)
    sections = {part.split("\n", 1)[0]: part for part in text.split("### ")[1:]}
    assert listed(sections["3.x"], ERA_ORDER) == ["etl_modern", "etl_3x", "deploy_modern"]
    assert listed(sections["2.x"], ERA_ORDER) == ["etl_modern", "deploy_2x", "deploy_modern"]
    assert listed(sections["1.x"], ERA_ORDER) == ["etl_classic", "deploy_classic"]
    problems = listed(sections["Not passing"], ERA_ORDER)
    assert len(problems) == 5 and in_era_order(problems)
    excused = listed(sections["Skipped and known-broken"], ERA_ORDER)
    assert excused == ["etl_classic", "etl_modern", "deploy_2x"]


def test_the_family_readme_lists_variants_in_era_order(recorded):
    matrix, _, results = recorded
    write_report(matrix, results)
    block = (matrix.root / "demos" / "core" / "README.md").read_text()
    assert listed(block, ERA_ORDER) == ERA_ORDER


def test_the_page_and_the_picture_list_rows_in_era_order(recorded, tmp_path):
    matrix, releases, results = recorded
    data = report_data(matrix, releases, results, None)
    assert [row["demo"].split("/")[-1][:-3] for row in data["rows"]] == ERA_ORDER
    assert data["stories"] == ["etl", "deploy"]  # the story filter and the customer box follow it
    _, svg = draw_heatmap(matrix, releases, results, tmp_path / "images")
    labels = re.findall(r"<!-- (\w+ · \w+) -->", svg.read_text())
    assert labels == ["etl · classic", "etl · modern", "etl · 3x", "deploy · classic", "deploy · 2x", "deploy · modern"]


def test_pick_lists_stories_in_report_order_and_prefers_open_ranges_then_the_oldest_era(recorded):
    matrix, releases, results = recorded
    rows = pick(matrix, releases, results, "3.0.0")
    assert [r.story for r in rows] == ["etl", "deploy"]
    assert (rows[0].variant, rows[0].verdict) == ("modern", "pass on this release")  # 3x passes too: a later era
    rows = pick(matrix, releases, results, "2.20.27")
    assert (rows[1].variant, rows[1].verdict) == ("modern", "pass on this release")  # 2x passes too, ends before 3
    assert pick(matrix, releases, results, "2.16.0")[1].variant == "modern"  # both declared, neither measured
