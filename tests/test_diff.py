"""Every diff class from hand-made records: no env, no run (the slow story in test_ci.py does it for real)."""

from __future__ import annotations

import pytest

from harness.config.parse import load_matrix
from harness.results.diff import CLASSES, GATING_CLASSES, diff_runs, summary_markdown
from harness.results.outcomes import RECORDED
from harness.results.records import CellResult, ResultSet

MATRIX = """
[harness]
package = "prefect"

[[demos]]
path = "demos/d.py"
story = "d"
releases = ">=1.2,<2"
"""

# baseline outcome (None: no cell) → run outcome → class, for a release inside the demo's range
EXPECTED = {
    None:        {"pass": "new", "flaky": "flaky", "fail": "new", "timeout": "new", "env-error": "new",
                  "skipped": "new", "xfail": "new", "xpass": "range-could-widen", "interrupted": "not-measured",
                  "infra-error": "not-measured"},
    "pass":      {"pass": "unchanged", "flaky": "flaky", "fail": "regression", "timeout": "regression",
                  "env-error": "regression", "skipped": "coverage-lost", "xfail": "declared-broken",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "flaky":     {"pass": "unchanged", "flaky": "flaky", "fail": "regression", "timeout": "regression",
                  "env-error": "regression", "skipped": "coverage-lost", "xfail": "declared-broken",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "xpass":     {"pass": "unchanged", "flaky": "flaky", "fail": "regression", "timeout": "regression",
                  "env-error": "regression", "skipped": "coverage-lost", "xfail": "declared-broken",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "fail":      {"pass": "fixed", "flaky": "flaky", "fail": "unchanged", "timeout": "unchanged",
                  "env-error": "unchanged", "skipped": "coverage-lost", "xfail": "unchanged",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "timeout":   {"pass": "fixed", "flaky": "flaky", "fail": "unchanged", "timeout": "unchanged",
                  "env-error": "unchanged", "skipped": "coverage-lost", "xfail": "unchanged",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "env-error": {"pass": "fixed", "flaky": "flaky", "fail": "unchanged", "timeout": "unchanged",
                  "env-error": "unchanged", "skipped": "coverage-lost", "xfail": "unchanged",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
    "skipped":   {"pass": "new", "flaky": "flaky", "fail": "new", "timeout": "new", "env-error": "new",
                  "skipped": "unchanged", "xfail": "new", "xpass": "range-could-widen", "interrupted": "not-measured",
                  "infra-error": "not-measured"},
    "xfail":     {"pass": "fixed", "flaky": "flaky", "fail": "unchanged", "timeout": "unchanged",
                  "env-error": "unchanged", "skipped": "coverage-lost", "xfail": "unchanged",
                  "xpass": "range-could-widen", "interrupted": "not-measured", "infra-error": "not-measured"},
}
# a baseline record that measured nothing counts as none
EXPECTED["interrupted"] = EXPECTED["infra-error"] = EXPECTED[None]


@pytest.fixture
def matrix(tmp_path):
    (tmp_path / "demos").mkdir()
    (tmp_path / "demos" / "d.py").write_text("print('hi')\n")
    (tmp_path / "matrix.toml").write_text(MATRIX)
    return load_matrix(tmp_path / "matrix.toml")


def cell(outcome: str, release: str = "1.3.0", resolution: str = "as-released", **fields) -> CellResult:
    return CellResult(demo="demos/d.py", story="d", variant="d", release=release, resolution=resolution,
                      outcome=outcome, started=fields.pop("started", "2026-01-01T00:00:00"), **fields)


def results(*cells: CellResult) -> ResultSet:
    found = ResultSet()
    for c in cells:
        found.add(c)
    return found


def test_the_expectations_cover_every_pair_of_outcomes():
    assert set(EXPECTED) == {None, *RECORDED}
    assert all(set(row) == set(RECORDED) for row in EXPECTED.values())


@pytest.mark.parametrize("before,after", [(b, a) for b in EXPECTED for a in EXPECTED[b]])
def test_each_pair_of_outcomes_has_its_class(matrix, before, after):
    baseline = results(cell(before)) if before else ResultSet()
    diff = diff_runs(matrix, baseline, results(cell(after, started="2026-02-01T00:00:00")))
    assert [c.kind for c in diff.changes] == [EXPECTED[before][after]]
    assert diff.gates == (EXPECTED[before][after] in GATING_CLASSES)


def test_a_skipped_cell_that_now_fails_and_a_pass_now_skipped_are_both_listed(matrix):
    baseline = results(cell("skipped", "1.3.0"), cell("pass", "1.4.0"))
    run = results(cell("fail", "1.3.0", error="RuntimeError: boom"), cell("skipped", "1.4.0", reason="needs docker"))
    diff = diff_runs(matrix, baseline, run)
    assert {c.cell.release: c.kind for c in diff.changes} == {"1.3.0": "new", "1.4.0": "coverage-lost"}
    text = summary_markdown(diff)
    assert "### new (1)" in text and "### coverage-lost (1)" in text and "needs docker" in text


def test_outside_the_range_a_failure_is_expected_and_a_pass_could_widen_it(matrix):
    baseline = results(cell("pass", "1.1.0"), cell("fail", "1.0.0"))
    run = results(cell("fail", "1.1.0", started="2026-02-01"), cell("pass", "1.0.0", started="2026-02-01"))
    kinds = {c.cell.release: c.kind for c in diff_runs(matrix, baseline, run).changes}
    assert kinds == {"1.1.0": "unchanged", "1.0.0": "range-could-widen"}


def test_a_new_release_that_breaks_where_the_previous_one_worked_is_a_regression(matrix):
    baseline = results(cell("pass", "1.3.0"))
    run = results(cell("fail", "1.4.0", error="ImportError: gone"))
    (change,) = diff_runs(matrix, baseline, run).changes
    assert change.kind == "regression" and change.before.release == "1.3.0"
    assert "a different prefect release: 1.3.0 → 1.4.0" in change.why


def test_a_new_release_whose_previous_release_failed_too_is_new(matrix):
    (change,) = diff_runs(matrix, results(cell("fail", "1.3.0")), results(cell("fail", "1.4.0"))).changes
    assert change.kind == "new"


def test_todays_dependencies_breaking_an_as_released_pass_is_drift_with_the_moved_pins(matrix):
    baseline = results(cell("pass", "1.3.0", freeze_hash="a"))
    baseline.freezes.update(a=["prefect==1.3.0", "pytz==2022.1"], b=["prefect==1.3.0", "pytz==2025.2"])
    run = results(cell("fail", "1.3.0", resolution="latest", freeze_hash="b", error="pytz broke"))
    (change,) = diff_runs(matrix, baseline, run).changes
    assert change.kind == "drift"
    assert any("pytz 2022.1 → 2025.2" in why for why in change.why)


def test_only_regressions_gate_and_every_class_is_counted(matrix):
    assert GATING_CLASSES == ("regression",)
    diff = diff_runs(matrix, results(cell("pass")), results(cell("flaky", error="once")))
    assert not diff.gates and set(diff.counts()) == set(CLASSES) and diff.counts()["flaky"] == 1
    assert "no regression inside declared ranges" in summary_markdown(diff)


def test_the_readme_documents_every_class_as_the_code_defines_it():
    from harness.results.diff import class_table_markdown
    from tests.conftest import REPO

    assert class_table_markdown() in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("order", [("pass", "interrupted"), ("interrupted", "pass"), ("fail", "infra-error")])
def test_a_record_that_measured_nothing_never_hides_one_that_did(order):
    first, second = (cell(o, started=f"2026-0{i}-01T00:00:00") for i, o in enumerate(order, 1))
    measured = first if first.outcome in ("pass", "fail") else second
    assert results(first, second).cells[measured.key] is measured
    later = cell("interrupted", started="2026-05-01T00:00:00")
    assert results(cell("infra-error"), later).cells[later.key] is later  # the newer of two that measured nothing
