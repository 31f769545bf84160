"""Records → results.json, compatibility.md and pick; built from real record files in tmp_path."""

from __future__ import annotations

import json

import pytest

from harness.plan.check import check_matrix
from harness.plan.releases import UnknownRelease
from harness.report.markdown import render_markdown
from harness.report.pick import pick
from harness.results.outcomes import Outcome
from harness.results.records import CellResult
from harness.results.store import ResultStore

MATRIX = """
[[demos]]
path = "demos/etl_classic.py"
story = "etl"
variant = "classic"
releases = ">=0.14,<2"

[[demos]]
path = "demos/etl_modern.py"
story = "etl"
variant = "modern"
releases = ">=2"

[[demos]]
path = "demos/deploy_modern.py"
story = "deploy"
variant = "modern"
releases = ">=2.10"
"""


@pytest.fixture
def recorded(project):
    for name in ("etl_classic", "etl_modern", "deploy_modern"):
        project.demo(f"demos/{name}.py", "print('x')\n")
    project.write_matrix(MATRIX)
    matrix, releases = check_matrix(project.matrix)
    store = ResultStore(project.root / ".matrix", project.root / "reports")

    def cell(demo, release, outcome, started="2026-11-24T10:00:00", **kw):
        store.append(CellResult(demo=f"demos/{demo}.py", story=demo.split("_")[0], variant=demo.split("_")[1],
                                release=release, resolution="as-released", outcome=outcome, started=started, **kw))

    cell("etl_classic", "1.4.1", "pass", python="3.10.13")
    cell("etl_classic", "0.15.13", "fail", error="AssertionError: 3 != 4")
    cell("etl_modern", "2.20.27", "pass")
    cell("etl_modern", "3.9.1", "fail", started="2026-11-24T09:00:00")
    cell("etl_modern", "3.9.1", "pass", started="2026-11-24T11:00:00")  # newer record wins
    cell("deploy_modern", "3.9.1", "skipped", reason="needs a Docker engine")
    cell("deploy_modern", "2.20.27", "timeout", error="killed after 5s")
    return matrix, releases, store


def test_the_newest_record_of_each_cell_wins_and_cut_lines_are_skipped(recorded):
    matrix, releases, store = recorded
    with store.records.open("a") as handle:
        handle.write('{"demo": "demos/etl_mod')  # an interrupted write
    results = store.load()
    assert len(results.cells) == 6
    assert results.cells[("demos/etl_modern.py", "3.9.1", "as-released")].outcome == "pass"


def test_results_json_round_trips_and_keeps_earlier_cells(recorded):
    matrix, releases, store = recorded
    store.write_results_json(store.load())
    store.records.unlink()  # a fresh clone: only the committed file remains
    store.append(CellResult(demo="demos/etl_classic.py", story="etl", variant="classic", release="1.4.1",
                            resolution="as-released", outcome="fail", started="2026-11-25T00:00:00"))
    results = store.load()
    assert len(results.cells) == 6  # nothing earlier was lost
    assert results.cells[("demos/etl_classic.py", "1.4.1", "as-released")].outcome == "fail"
    data = json.loads(store.baseline.read_text())
    assert {c["release"] for c in data["cells"]} == {"0.15.13", "1.4.1", "2.20.27", "3.9.1"}


def test_markdown_groups_releases_by_line_with_symbols_and_counts(recorded):
    matrix, releases, store = recorded
    text = render_markdown(matrix, store.load())
    sections = {part.split("\n", 1)[0]: part for part in text.split("### ")[1:]}
    assert set(sections) >= {"0.x", "1.x", "2.x", "3.x", "Not passing", "Skipped and known-broken"}
    classic_row = next(l for l in sections["0.x"].splitlines() if "etl_classic.py" in l)
    assert Outcome.FAIL.symbol in classic_row and "0/1" in classic_row
    three = sections["3.x"].splitlines()
    assert "3.9.1" in three[2]  # the header row names the release
    modern = next(l for l in three if "etl_modern.py" in l)
    assert Outcome.PASS.symbol in modern and "1/1" in modern
    deploy = next(l for l in three if "deploy_modern.py" in l)
    assert Outcome.SKIPPED.symbol in deploy
    totals = next(l for l in three if "**passed**" in l)
    assert "1/1" in totals  # the skipped cell did not run: it is not in the count
    assert "etl_classic.py" not in sections["3.x"]  # a line wholly outside a demo's range has no row
    assert "AssertionError: 3 != 4" in sections["Not passing"]
    assert "needs a Docker engine" in sections["Skipped and known-broken"]
    assert "## Legend" in text


def test_pick_prefers_measured_passes_then_declared_ranges(recorded):
    matrix, releases, store = recorded
    results = store.load()
    rows = {r.story: r for r in pick(matrix, releases, results, "3.9.1")}
    assert (rows["etl"].variant, rows["etl"].verdict, rows["etl"].kind) == ("modern", "pass on this release", "exact")
    assert rows["deploy"].variant == "modern"  # the only variant: offered, with why it did not run here
    assert (rows["deploy"].verdict, rows["deploy"].kind) == ("skipped here: needs a Docker engine", "skipped")
    rows = {r.story: r for r in pick(matrix, releases, results, "2.14.3")}
    assert (rows["etl"].verdict, rows["etl"].kind) == ("declared only, not measured", "declared")
    assert "prefect==2.14.3" in rows["etl"].command and "--exclude-newer 2023-11-03" in rows["etl"].command
    assert "--python 3.11" in rows["etl"].command  # the era's interpreter, as the harness would choose
    assert rows["etl"].today == "declared only, not measured"  # no latest cell, and this matrix needs no pins
    rows = {r.story: r for r in pick(matrix, releases, results, "1.4.1")}
    assert rows["etl"].variant == "classic" and "--python 3.10" in rows["etl"].command
    assert rows["deploy"].verdict == "none (no variant claims this release)"


@pytest.mark.parametrize("version, story, variant, verdict, kind", [
    ("2.20.5", "etl", "modern", "pass on 2.20.27, same minor line", "minor-line"),
    ("3.0.0", "etl", "modern", "between measured 2.20.27 (pass) and 3.9.1 (pass), no recorded fail between",
     "between"),
    # a fail on the nearest measured release of the minor line wins over the declared range
    ("2.20.5", "deploy", "-", "none (deploy_modern.py: timeout on 2.20.27, same minor line)", "minor-line"),
    ("0.15.5", "etl", "-", "none (etl_classic.py: fail on 0.15.13, same minor line)", "minor-line"),
])
def test_pick_answers_from_the_minor_line_and_from_passes_on_both_sides(recorded, version, story, variant,
                                                                         verdict, kind):
    matrix, releases, store = recorded
    row = next(r for r in pick(matrix, releases, store.load(), version) if r.story == story)
    assert (row.variant, row.verdict, row.kind) == (variant, verdict, kind)


def test_pick_rejects_a_release_that_does_not_exist(recorded):
    matrix, releases, store = recorded
    with pytest.raises(UnknownRelease, match=r"2\.14\.7 .*nearest: .*2\.14\.6.*2\.14\.8"):
        pick(matrix, releases, store.load(), "2.14.7")


def test_family_readme_verdict_block_is_regenerated_and_prose_kept(project):
    project.demo("demos/core/etl_modern.py", "print('x')\n")
    readme = project.root / "demos" / "core" / "README.md"
    readme.write_text("# Core\n\nHand-written progression.\n\n"
                      "<!-- verdict:start -->\nstale\n<!-- verdict:end -->\n\nMore prose.\n")
    project.write_matrix('[[demos]]\npath = "demos/core/etl_modern.py"\n'
                         'story = "etl"\nvariant = "modern"\nreleases = ">=2"\n')
    matrix, _ = check_matrix(project.matrix)
    store = ResultStore(project.root / ".matrix", project.root / "reports")
    for release, outcome in (("2.20.27", "pass"), ("3.9.1", "pass"), ("2.0.4", "fail")):
        store.append(CellResult(demo="demos/core/etl_modern.py", story="etl", variant="modern", release=release,
                                resolution="as-released", outcome=outcome, started="2026-11-24T10:00:00"))
    from harness.report.markdown import write_report

    write_report(matrix, store.load())
    text = readme.read_text()
    assert text.startswith("# Core\n\nHand-written progression.") and text.endswith("More prose.\n")
    assert "stale" not in text and "`>=2`" in text
    assert "✅ pass: 2.20.27, 3.9.1" in text and "❌ fail: 2.0.4" in text


def test_the_picture_is_redrawn_only_when_what_it_shows_changes(recorded, tmp_path):
    from harness.report.heatmap import draw_heatmap

    matrix, releases, store = recorded
    images = tmp_path / "images"
    png, svg = draw_heatmap(matrix, releases, store.load(), images)
    drawn = png.read_bytes()
    png.write_bytes(b"stale")  # a redraw would overwrite this
    store.append(CellResult(demo="demos/etl_modern.py", story="etl", variant="modern", release="2.20.27",
                            resolution="as-released", outcome="pass", started="2026-11-24T10:00:00",
                            duration=9.0, reused=True))  # same colour, other details
    draw_heatmap(matrix, releases, store.load(), images)
    assert png.read_bytes() == b"stale"
    store.append(CellResult(demo="demos/etl_modern.py", story="etl", variant="modern", release="2.20.27",
                            resolution="as-released", outcome="fail", started="2026-11-24T10:00:00"))
    draw_heatmap(matrix, releases, store.load(), images)
    assert png.read_bytes()[:8] == drawn[:8] == b"\x89PNG\r\n\x1a\n" and svg.is_file()


def test_a_matrix_without_cells_gets_a_picture_that_says_so_and_no_warning(recorded, tmp_path):
    import warnings

    from harness.report.heatmap import draw_heatmap
    from harness.results.records import ResultSet

    matrix, releases, _ = recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warned about an empty grid
        png, svg = draw_heatmap(matrix, releases, ResultSet(), tmp_path / "images")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no cell recorded yet" in svg.read_text()
