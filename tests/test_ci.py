"""CI regression tracking, from real runs: a baseline, a later run, its diff, JUnit, shards that merge, flaky cells.

One module-scoped story on real Prefect 1.x envs (cheap to build from uv's cache):
the baseline runs 1.3.1 and 1.4.0; then demos and dependencies change and a
run covers 1.3.1, 1.4.0 and the "new" 1.4.1, once whole and once in three shards.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO, Project

pytestmark = pytest.mark.slow

HEAD = """
[harness]
preset = "prefect"
fallbacks = 0
retries = 1

[[ranges]]
releases = "<2"
python = "<3.11"
requirements = ["pytz"]
"""

DEMOS = """
[[demos]]
path = "demos/steady.py"
story = "steady"
releases = ">=1.3,<2"

[[demos]]
path = "demos/edited.py"
story = "edited"
releases = ">=1.3,<2"

[[demos]]
path = "demos/newfail.py"
story = "newfail"
releases = ">=1.3,<2"

[[demos]]
path = "demos/fixed.py"
story = "fixed"
releases = ">=1.3,<2"

[[demos]]
path = "demos/pinned.py"
story = "pinned"
releases = ">=1.3,<2"

[[demos]]
path = "demos/known.py"
story = "known"
releases = ">=1.3,<2"
xfail = [{ releases = "==1.4.0", reason = "said to be broken on 1.4.0" }]

[[demos]]
path = "demos/narrow.py"
story = "narrow"
releases = ">=1.4,<2"

[[demos]]
path = "demos/drift.py"
story = "drift"
releases = ">=1.3,<2"
"""

RUN_ONLY = """
[[demos]]
path = "demos/flaky.py"
story = "flaky"
releases = ">=1.3,<2"

[[demos]]
path = "demos/fresh.py"
story = "fresh"
releases = ">=1.3,<2"
"""

PASSES = "import prefect\nprint('prefect', prefect.__version__)\n"


def _write_demos(project: Project) -> None:
    project.demo("demos/steady.py", PASSES)
    project.demo("demos/edited.py", PASSES)
    project.demo("demos/newfail.py", """
        import sys, prefect
        print("prefect", prefect.__version__)
        sys.exit("breaks on 1.4.1" if prefect.__version__ == "1.4.1" else 0)
    """)
    project.demo("demos/fixed.py", """
        import pathlib, sys
        mode = (pathlib.Path(__file__).parent / "fixed_mode.txt").read_text().strip()
        sys.exit("was broken" if mode == "fail" else 0)
    """)
    project.demo("demos/fixed_mode.txt", "fail\n")
    project.demo("demos/pinned.py", """
        import sys
        from importlib.metadata import version
        print("pytz", version("pytz"))
        sys.exit("pytz 2022.1 breaks me" if version("pytz") == "2022.1" else 0)
    """)
    project.demo("demos/known.py", PASSES)
    project.demo("demos/narrow.py", PASSES)
    project.demo("demos/drift.py", """
        import sys
        from importlib.metadata import version
        print("marshmallow", version("marshmallow"))
        sys.exit("marshmallow 4 removed what I use" if int(version("marshmallow").split(".")[0]) >= 4 else 0)
    """)


def _records(state: Path) -> dict[tuple[str, str, str], dict]:
    cells = {}
    for line in (state / "results.jsonl").read_text().splitlines():
        cell = json.loads(line)
        cells[(cell["demo"], cell["release"], cell["resolution"])] = cell
    return cells


def _copy(project: Project, target: Path) -> Project:
    shutil.copytree(project.root, target, ignore=shutil.ignore_patterns(".matrix"))
    return Project(target)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    root = tmp_path_factory.mktemp("ci")
    project = Project(root / "proj")
    _write_demos(project)
    project.write_matrix(HEAD + DEMOS)
    baseline_run = project.harness("run", "1.3.1", "1.4.0")
    assert "claim this release" in baseline_run.stdout, baseline_run.stdout + baseline_run.stderr
    baseline = root / "baseline.json"
    shutil.copy(project.root / "reports" / "results.json", baseline)

    # what changes before the next run: a demo edit, a fix, a dependency pin, new demos, a new release
    project.demo("demos/edited.py", "import sys, prefect\nsys.exit('edited: now broken')\n")
    project.demo("demos/fixed_mode.txt", "pass\n")
    project.demo("demos/flaky.py", """
        import pathlib, sys
        marker = pathlib.Path(__file__).resolve().parents[1] / "flaky-first-attempt"
        if not marker.exists():
            marker.write_text("seen")
            sys.exit("fails on its first attempt only")
        marker.unlink()
        print("second attempt passes")
    """)
    project.demo("demos/fresh.py", PASSES)
    head = HEAD.replace('requirements = ["pytz"]', 'requirements = ["pytz"]\nconstraints = ["pytz==2022.1"]')
    project.write_matrix(head + DEMOS + RUN_ONLY)
    shutil.rmtree(project.root / ".matrix")  # a fresh runner, as in CI

    shards = [_copy(project, root / f"shard{i}") for i in (1, 2, 3)]
    merged = _copy(project, root / "merged")
    whole = project.harness("run", "1.3.1", "1.4.0", "1.4.1", "--probe", "--no-report")
    assert "claim this release" in whole.stdout, whole.stdout + whole.stderr
    shard_runs = [
        shard.harness("run", "1.3.1", "1.4.0", "1.4.1", "--probe", "--no-report", "--shard", f"{i}/3")
        for i, shard in enumerate(shards, 1)
    ]
    report = project.harness("report", "--baseline", str(baseline))
    return dict(root=root, project=project, baseline=baseline, whole=whole, report=report,
                shards=shards, shard_runs=shard_runs, merged=merged)


def _diff_lines(report_text: str) -> dict[str, list[str]]:
    """Markdown diff → class → the `demo on release` lines listed under it."""
    found, current = {}, None
    for line in report_text.splitlines():
        if line.startswith("### "):
            current = line[4:].split(" (")[0]
            found[current] = []
        elif current and line.startswith("- `"):
            found[current].append(line)
    return found


def test_each_change_lands_in_its_class_with_its_reason(story):
    diff = (story["project"].root / "reports" / "diff.md").read_text()
    classes = _diff_lines(diff)

    def listed(kind, demo, release):
        return [l for l in classes.get(kind, []) if f"`demos/{demo}.py` on {release}" in l]

    # pass → fail inside the range: the edit is named as the cause
    assert listed("regression", "edited", "1.4.0")
    assert "the demo file changed" in diff.split("`demos/edited.py` on 1.4.0")[1].split("\n- `")[0]
    # a dependency pin broke a demo: the freeze diff names the package and both versions
    pinned = diff.split("`demos/pinned.py` on 1.4.0")[1].split("\n- `")[0]
    assert listed("regression", "pinned", "1.4.0")
    assert "pytz 2022.6 → 2022.1" in pinned or ("pytz" in pinned and "→ 2022.1" in pinned), pinned
    # a new release breaks a demo that passed on the release before it
    assert listed("regression", "newfail", "1.4.1")
    assert "a different prefect release: 1.4.0 → 1.4.1" in diff
    # the rest
    assert listed("fixed", "fixed", "1.3.1") and listed("fixed", "fixed", "1.4.0")
    assert listed("new", "fresh", "1.3.1") and listed("new", "steady", "1.4.1")
    assert listed("range-could-widen", "known", "1.4.0")     # xpass
    assert listed("range-could-widen", "narrow", "1.3.1")    # pass outside >=1.4, probed
    assert listed("flaky", "flaky", "1.4.0")
    assert not listed("regression", "steady", "1.4.0") and not listed("regression", "flaky", "1.4.0")


def test_a_regression_fails_the_report_and_the_summary_says_so(story):
    report = story["report"]
    assert report.returncode == 1, report.stdout + report.stderr
    assert "REGRESSION demos/edited.py on 1.4.0" in report.stdout
    # the same report draws the pictures and the page, and says where the page is
    root = story["project"].root
    # another repository's matrix: the picture goes under its reports/, never into its own images/
    for made in ("reports/images/compatibility.png", "reports/images/compatibility.svg", "reports/index.html"):
        assert (root / made).stat().st_size > 1000, made
    assert (root / "reports" / "images" / "compatibility.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"HTML report: {root / 'reports' / 'index.html'}" in report.stdout
    assert "0.x" not in report.stdout.split("diff against the baseline")[0] and "1.x (as-released)" in report.stdout
    assert "regression" in report.stdout and "fixed" in report.stdout  # the counts table
    # without regressions the same report passes: diff the run against its own results
    copy = story["root"] / "self-diff"
    shutil.copytree(story["project"].root, copy)
    again = Project(copy).harness("report", "--baseline", str(copy / "reports" / "results.json"))
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_summary_goes_to_the_github_job_summary(story, tmp_path):
    import os
    import subprocess
    import sys

    summary = tmp_path / "summary.md"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "--matrix", str(story["project"].matrix),
         "report", "--baseline", str(story["baseline"])],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert done.returncode == 1
    text = summary.read_text()
    assert "| regression |" in text and "`demos/edited.py` on 1.4.0" in text and "fails CI" in text


def test_a_flaky_cell_is_recorded_as_flaky_after_its_retry(story):
    cells = _records(story["project"].root / ".matrix")
    flaky = cells[("demos/flaky.py", "1.4.0", "as-released")]
    assert flaky["outcome"] == "flaky" and flaky["attempts"] == 2
    assert "fails on its first attempt only" in flaky["error"]
    broken = cells[("demos/edited.py", "1.4.0", "as-released")]
    assert broken["outcome"] == "fail" and broken["attempts"] == 2   # retried, failed again
    assert cells[("demos/steady.py", "1.4.0", "as-released")]["attempts"] == 1


def test_junit_has_one_case_per_cell_with_failures_and_skips(story):
    tree = ET.parse(story["project"].root / "reports" / "junit.xml")
    cases = {(case.get("name"), suite.get("name")): case for suite in tree.getroot() for case in suite}
    run_cells = _records(story["project"].root / ".matrix")
    assert len(cases) == len(run_cells)
    failed = cases[("demos/edited.py", "prefect 1.4.0 (as-released)")]
    failure = failed.find("failure")
    assert failure is not None and "edited: now broken" in failure.get("message")
    assert failed.find("system-out") is not None
    assert cases[("demos/steady.py", "prefect 1.4.0 (as-released)")].find("failure") is None
    assert cases[("demos/known.py", "prefect 1.4.0 (as-released)")].find("failure") is not None  # xpass: act on it
    totals = tree.getroot()
    assert int(totals.get("tests")) == len(run_cells)


def test_three_shards_merge_into_the_unsharded_run(story):
    outputs = [run.stdout + run.stderr for run in story["shard_runs"]]
    assert all(run.returncode in (0, 1) for run in story["shard_runs"]), outputs
    ran = [set(json.loads(l)["release"] for l in (s.root / ".matrix" / "results.jsonl").read_text().splitlines())
           for s in story["shards"]]
    assert sorted(r for releases in ran for r in releases) == ["1.3.1", "1.4.0", "1.4.1"]  # each release once
    merged = story["merged"]
    done = merged.harness("report", "--baseline", str(story["baseline"]),
                          "--merge", *[str(s.root / ".matrix") for s in story["shards"]])
    assert done.returncode == 1, done.stdout + done.stderr
    whole = {k: v["outcome"] for k, v in _records(story["project"].root / ".matrix").items()}
    merged_cells = json.loads((merged.root / "reports" / "results.json").read_text())["cells"]
    assert {(c["demo"], c["release"], c["resolution"]): c["outcome"] for c in merged_cells} == whole
    whole_diff = (story["project"].root / "reports" / "diff.md").read_text()
    assert (merged.root / "reports" / "diff.md").read_text() == whole_diff
    # merging in another order gives the same report
    again = merged.harness("report", "--baseline", str(story["baseline"]),
                           "--merge", *[str(s.root / ".matrix") for s in reversed(story["shards"])])
    assert again.returncode == 1
    assert json.loads((merged.root / "reports" / "results.json").read_text())["cells"] == merged_cells


def test_records_of_another_matrix_version_are_refused(story, tmp_path):
    other = _copy(story["merged"], tmp_path / "other")
    other.matrix.write_text(other.matrix.read_text() + "\n# an edit after the shards ran\n")
    done = other.harness("report", "--merge", *[str(s.root / ".matrix") for s in story["shards"]])
    assert done.returncode != 0
    assert "matrix version" in done.stderr and "results.jsonl" in done.stderr, done.stderr
    # nothing already recorded is lost: the refused merge wrote nothing
    merged_json = (story["merged"].root / "reports" / "results.json").read_bytes()
    assert (other.root / "reports" / "results.json").read_bytes() == merged_json


def test_latest_resolution_shows_the_dependency_that_drifted(story):
    project = story["project"]
    done = project.harness("run", "1.4.1", "--resolution", "latest", "--no-report")
    assert "claim this release" in done.stdout, done.stdout + done.stderr
    report = project.harness("report", "--baseline", str(story["baseline"]))
    diff = (project.root / "reports" / "diff.md").read_text()
    drift = _diff_lines(diff).get("drift", [])
    assert any("`demos/drift.py` on 1.4.1 (latest)" in line for line in drift), diff
    detail = diff.split("`demos/drift.py` on 1.4.1 (latest)")[1].split("\n- `")[0]
    assert "marshmallow 3." in detail and "→ 4." in detail, detail
    assert report.returncode == 1  # still: the as-released regressions
