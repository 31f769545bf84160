"""Ranges from evidence, from hand-made records (no env, no run): bisect steps, failure signatures, flaky and
skip verdicts, the evidence range and its edges, `--check` and `--write`. The real runs: test_bisect_real.py."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from harness.config.model import Demo
from harness.config.parse import load_matrix
from harness.evidence.bisector import Bisector, ordered_window
from harness.evidence.commands import ends_from_records
from harness.evidence.edges import EdgeKind, demo_evidence
from harness.evidence.rewrite import proposed_changes, rewritten
from harness.evidence.signature import failure_signature, normalise, same_failure
from harness.evidence.steps import Bisection, Verdict
from harness.evidence.survey import plan_round
from harness.evidence.verdicts import check_problems, edge_counts, edge_note
from harness.plan.releases import Release
from harness.results.records import CellResult, ResultSet

VERSIONS = ["0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "2.0.0", "2.1.0"]
RELEASES = [Release(v, "2020-01-01T00:00:00Z") for v in VERSIONS]
BY = {r.version: r for r in RELEASES}


def demo(releases: str, path: str = "demos/d.py") -> Demo:
    return Demo(path=path, story="d", variant="v", releases=SpecifierSet(releases))


def cells(d: Demo, outcomes: dict[str, str], error: str = "ImportError: no thing") -> ResultSet:
    results = ResultSet()
    for version, outcome in outcomes.items():
        results.add(CellResult(d.path, "d", "v", version, "as-released", outcome,
                               error=error if outcome in ("fail", "env-error") else "",
                               reason="needs docker" if outcome == "skipped" else "", started=f"t{version}"))
    return results


# --- bisect steps ----------------------------------------------------------------------------------------


def test_midpoint_halves_the_window_and_the_ends_close_in():
    bisection = Bisection(RELEASES[1:8])  # 1.0.0 good … 1.6.0 bad
    assert bisection.next_candidate().version == "1.3.0"
    bisection.record(BY["1.3.0"], Verdict.GOOD)
    assert bisection.window == (BY["1.3.0"], BY["1.6.0"])
    assert bisection.next_candidate().version == "1.4.0"
    bisection.record(BY["1.4.0"], Verdict.BAD)
    assert bisection.isolated and bisection.done
    assert bisection.window == (BY["1.3.0"], BY["1.4.0"])


def test_a_skipped_midpoint_gives_way_to_the_nearest_untested_candidate():
    bisection = Bisection(RELEASES[1:8])
    bisection.record(BY["1.3.0"], Verdict.SKIP, "no env")
    assert bisection.next_candidate().version in ("1.2.0", "1.4.0")
    bisection.record(BY["1.2.0"], Verdict.SKIP, "no env")
    bisection.record(BY["1.4.0"], Verdict.BAD)
    bisection.record(BY["1.1.0"], Verdict.GOOD)
    assert bisection.done and not bisection.isolated  # 1.2 and 1.3 measured nothing: the smallest window
    assert [r.version for r in bisection.inside] == ["1.2.0", "1.3.0"]


def test_the_next_candidates_for_either_verdict_are_known_before_the_current_one_ends():
    bisection = Bisection(RELEASES[1:8])
    assert bisection.after(Verdict.GOOD).version == "1.4.0"
    assert bisection.after(Verdict.BAD).version == "1.1.0"  # 1.2 and 1.1 are equally near; the older first
    assert bisection.next_candidate().version == "1.3.0"  # asking changed nothing


def test_a_window_runs_from_good_to_bad_whichever_is_older():
    assert [r.version for r in ordered_window(RELEASES, BY["1.2.0"], BY["1.0.0"])] == ["1.2.0", "1.1.0", "1.0.0"]
    assert [r.version for r in ordered_window(RELEASES, BY["1.0.0"], BY["1.2.0"])] == ["1.0.0", "1.1.0", "1.2.0"]


# --- failure signatures, flaky and skip verdicts ------------------------------------------------------------

@pytest.mark.parametrize("a, b, same", [
    ("ImportError: cannot import name 'x' from 'prefect' (/e/env-1/lib/prefect/__init__.py)",
     "ImportError: cannot import name 'x' from 'prefect' (/e/env-2/lib/prefect/__init__.py)", True),
    ("TimeoutError: run 3f2a9c1e-1b2c-4d5e-8f90-123456789abc late by 12.5 s",
     "TimeoutError: run 0a1b2c3d-0000-4d5e-8f90-abcdefabcdef late by 3 s", True),
    ("ImportError: cannot import name 'x'", "AttributeError: module has no attribute 'x'", False),
    ("KeyError: 'a'", "KeyError: 'b'", False),
])
def test_failure_signatures_ignore_paths_ids_and_numbers(a, b, same):
    assert same_failure(normalise(a), normalise(b)) is same


def verdict_of(outcomes: list[str], errors: list[str] | None = None, any_failure: bool = False):
    bisector = Bisector(runner=None, demo=demo(">=1"), recorded=ResultSet(), resolution="as-released",
                        any_failure=any_failure)
    errors = errors or ["ImportError: no thing"] * len(outcomes)
    ran = [CellResult("demos/d.py", "d", "v", "1.1.0", "as-released", o, error=e if o != "pass" else "")
           for o, e in zip(outcomes, errors, strict=True)]
    return bisector.verdict(BY["1.1.0"], ran, normalise("ImportError: no thing"))


@pytest.mark.parametrize("outcomes, errors, any_failure, expected, says", [
    (["pass", "pass"], None, False, Verdict.GOOD, ""),
    (["fail", "fail"], None, False, Verdict.BAD, ""),
    (["pass", "fail"], None, False, Verdict.SKIP, "flaky: passed 1 of 2"),
    (["fail"], ["KeyError: 'x'"], False, Verdict.SKIP, "fails differently: KeyError"),
    (["fail"], ["KeyError: 'x'"], True, Verdict.BAD, ""),
    (["env-error"], ["uv: no solution"], False, Verdict.SKIP, "measured nothing: env-error"),
    (["timeout"], [""], False, Verdict.SKIP, "fails differently"),
])
def test_a_candidate_is_bad_only_when_it_fails_like_the_bad_end(outcomes, errors, any_failure, expected, says):
    verdict, note = verdict_of(outcomes, errors, any_failure)
    assert verdict == expected
    assert says in note


def test_a_timeout_has_its_own_signature():
    cell = CellResult("demos/d.py", "d", "v", "1.1.0", "as-released", "timeout", error="killed after 300 s")
    assert failure_signature(cell) == "timeout"


# --- the evidence range and its edges ------------------------------------------------------------------------

def test_an_edge_is_proven_by_a_pass_on_it_and_a_fail_just_outside():
    d = demo(">=1.2,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"1.1.0": "fail", "1.2.0": "pass", "1.6.0": "pass"}),
                             "as-released")
    assert evidence.lower.kind == EdgeKind.PROVEN and evidence.lower.outside.version == "1.1.0"
    assert evidence.upper.kind == EdgeKind.ERA  # 1.6.0 is the last 1.x: the next is another era
    assert edge_note(evidence.lower) == "1.1.0: ImportError: no thing"
    assert str(evidence.proposed(RELEASES)) == str(SpecifierSet(">=1.2,<2"))
    assert check_problems([evidence], RELEASES) == []


def test_a_pass_outside_widens_the_range_and_the_gap_to_the_fail_is_what_bisect_runs():
    d = demo(">=1.4,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"1.0.0": "fail", "1.3.0": "pass", "1.4.0": "pass",
                                                    "1.6.0": "pass"}), "as-released")
    assert evidence.lower.kind == EdgeKind.UNPROVEN
    assert evidence.lower.inside.version == "1.3.0"
    assert [r.version for r in evidence.lower.gap] == ["1.2.0", "1.1.0"]  # nearest first
    assert str(evidence.proposed(RELEASES)) == str(SpecifierSet(">=1.3,<2"))
    problems = check_problems([evidence], RELEASES)
    assert any("passes on 1.3.0, outside" in p for p in problems)
    assert any("lower edge is unproven" in p for p in problems)
    plan = plan_round([evidence])
    assert plan.bisects and plan.bisects[0][1] is evidence.lower and not plan.probes


def test_without_any_fail_beyond_the_edge_the_neighbour_is_probed_and_a_moved_edge_gallops():
    d = demo(">=1.3,<2")
    declared_holds = demo_evidence(d, RELEASES, cells(d, {"1.3.0": "pass", "1.6.0": "pass"}), "as-released")
    assert list(plan_round([declared_holds]).probes) == ["1.2.0"]
    moved = demo_evidence(d, RELEASES, cells(d, {"1.2.0": "pass", "1.3.0": "pass", "1.6.0": "pass"}), "as-released")
    assert sorted(plan_round([moved]).probes) == ["1.0.0", "1.1.0"]  # the neighbour and the era's (1.x) far end


def test_a_declared_edge_never_measured_is_measured_first():
    d = demo(">=1.3,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"1.4.0": "pass"}), "as-released")
    assert sorted(plan_round([evidence]).probes) == ["1.3.0", "1.6.0"]


def test_a_fail_the_range_claims_is_a_problem_and_an_xfail_is_not():
    d = demo(">=1.0,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"1.0.0": "pass", "1.1.0": "xfail", "1.2.0": "fail",
                                                    "1.3.0": "pass"}), "as-released")
    problems = check_problems([evidence], RELEASES)
    assert any("fails on 1.2.0" in p for p in problems)
    assert not any("1.1.0" in p for p in problems)
    assert evidence.lower.inside.version == "1.3.0"  # the newest pass's segment: 1.2.0 ends it


def test_an_edge_whose_neighbours_measured_nothing_is_listed_with_why_and_needs_no_more_probes():
    d = demo(">=1.2,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"0.9.0": "fail", "1.0.0": "env-error", "1.1.0": "env-error",
                                                    "1.2.0": "pass", "1.6.0": "pass"}), "as-released")
    assert evidence.lower.kind == EdgeKind.UNPROVABLE
    assert "1.1.0: env-error" in evidence.lower.why()
    assert plan_round([evidence]).empty()
    assert check_problems([evidence], RELEASES) == []
    assert edge_counts([evidence]) == {"proven": 0, "unprovable": 1, "unproven": 0}


def test_a_demo_that_never_ran_for_a_missing_need_is_listed_not_chased():
    d = demo(">=1.2,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"1.2.0": "skipped", "1.6.0": "skipped"}), "as-released")
    assert evidence.lower.kind == EdgeKind.UNPROVABLE and "needs docker" in evidence.lower.why()
    assert evidence.upper.kind == EdgeKind.ERA
    assert plan_round([evidence]).empty()


def test_an_open_range_stays_open_and_the_oldest_release_is_an_era_edge():
    d = demo(">=2.0")
    evidence = demo_evidence(d, RELEASES, cells(d, {"2.0.0": "pass"}), "as-released")
    assert (evidence.lower.kind, evidence.upper.kind) == (EdgeKind.ERA, EdgeKind.OPEN)
    assert str(evidence.proposed(RELEASES)) == ">=2.0"
    d = demo(">=0.9,<2")
    evidence = demo_evidence(d, RELEASES, cells(d, {"0.9.0": "pass", "1.6.0": "pass"}), "as-released")
    assert evidence.lower.kind == EdgeKind.ERA  # the first release there is


def test_ends_come_from_the_newest_change_in_the_records():
    d = demo(">=1.2,<2")
    results = cells(d, {"1.0.0": "fail", "1.2.0": "pass", "1.4.0": "pass", "1.5.0": "fail"})
    good, bad = ends_from_records(d, RELEASES, results, "as-released")
    assert (good.version, bad.version) == ("1.4.0", "1.5.0")


# --- --write ---------------------------------------------------------------------------------------------------

def test_write_changes_only_the_demos_whose_evidence_differs_and_keeps_comments(tmp_path):
    text = ('[harness]\npackage = "prefect"  # the package\n\n# the first demo\n[[demos]]\npath = "demos/d.py"\n'
            'story = "d"\nreleases = ">=1.3,<2"  # a hand-written guess\n\n[[demos]]\npath = "demos/e.py"\n'
            'story = "e"\nreleases = ">=1.2,<2"\n')
    (tmp_path / "demos").mkdir()
    for name in ("d", "e"):
        (tmp_path / "demos" / f"{name}.py").write_text("print(1)\n")
    (tmp_path / "matrix.toml").write_text(text)
    matrix = load_matrix(tmp_path / "matrix.toml")
    d, e = matrix.demos
    results = cells(d, {"1.1.0": "fail", "1.2.0": "pass", "1.3.0": "pass"})
    for cell in cells(e, {"1.1.0": "fail", "1.2.0": "pass", "1.6.0": "pass"}).cells.values():
        results.add(cell)
    evidence = [demo_evidence(x, RELEASES, results, "as-released") for x in (d, e)]
    changes = proposed_changes(evidence, RELEASES)
    assert changes == {"demos/d.py": (">=1.2,<2", "evidence: 1.1.0: ImportError: no thing")}
    after = rewritten(text, changes, tmp_path / "matrix.toml")
    assert 'releases = ">=1.2,<2"  # evidence: 1.1.0: ImportError: no thing' in after
    assert "# the first demo" in after and "# the package" in after
    assert after.replace('">=1.2,<2"  # evidence: 1.1.0: ImportError: no thing', '">=1.3,<2"  # a hand-written guess',
                         1) == text


# --- the probes' backend ---------------------------------------------------------------------------------


class _Probed(Exception):
    """Raised by the stand-in for the probes: the test only needs the matrix they were given."""


@pytest.mark.parametrize("command", [["bisect", "demos/a.py", "--good", "2.19.0", "--bad", "2.20.0"],
                                     ["ranges", "--bisect"]])
@pytest.mark.parametrize(("variables", "options", "expected"), [
    ({}, [], "postgres"),  # the matrix's default
    ({"MATRIX_BACKEND": "sqlite"}, [], "sqlite"),
    ({"MATRIX_BACKEND": "sqlite"}, ["--backend", "postgres"], "postgres"),  # the option wins
])
def test_bisect_and_ranges_probe_on_the_backend_the_run_would_use(project, monkeypatch, command, variables, options,
                                                                   expected):
    from harness import cli
    from harness.config.environ import read_environ
    from harness.evidence import commands

    project.demo("demos/a.py", "print('a')\n")
    project.write_matrix('[[demos]]\npath = "demos/a.py"\nstory = "a"\nreleases = ">=2.19,<3"\n')
    seen = []

    def probes(matrix, *args, **kwargs):
        seen.append(matrix.settings.backend)
        raise _Probed

    monkeypatch.setattr(commands, "ProbeRunner", probes)
    monkeypatch.setattr(commands, "survey", probes)
    with pytest.raises(_Probed):
        cli.main(["--matrix", str(project.matrix), *command, *options], read_environ(variables))
    assert seen == [expected]
