"""Planning: which sessions each profile selects, with which interpreter and demos."""

from __future__ import annotations

import os
import subprocess
import sys

from harness.plan.check import check_matrix
from harness.plan.interpreters import Interpreter
from harness.plan.releases import load_snapshot
from harness.plan.sessions import build_plan
from tests.conftest import REPO

INSTALLED = [Interpreter(v, f"/py/{v}/bin/python3", "pyenv") for v in
             ("3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18")]

MATRIX = """
[[pins]]
releases = ">=2.0,<2.10"
constraints = ["pydantic<2"]
why = "import fails with pydantic 2"

[[demos]]
path = "demos/classic.py"
story = "etl"
variant = "classic"
releases = ">=0.14,<2"

[[demos]]
path = "demos/modern.py"
story = "etl"
variant = "modern"
releases = ">=2.0"

[[demos]]
path = "demos/deploy.py"
story = "deploy"
releases = ">=2.1,<3"
"""


def _plan(project, resolution=None, only=None):
    for name in ("classic", "modern", "deploy"):
        project.demo(f"demos/{name}.py", "print('x')\n")
    project.write_matrix(MATRIX)
    matrix, _ = check_matrix(project.matrix)
    snapshot = load_snapshot(project.root / "reports" / "releases.json")
    return build_plan(matrix, snapshot, INSTALLED, resolution, only=only)


def test_majors_selects_the_newest_of_each_line_within_each_demo_range(project):
    plan = _plan(project)
    majors = plan.by_profile("majors")
    assert [s.name for s in majors] == [
        "release-0.15.13-py3.10", "release-1.4.1-py3.10", "release-2.20.27-py3.13", "release-3.9.1-py3.13"]
    by_release = {s.release.version: [d.path for d in s.demos] for s in majors}
    # every demo that claims a selected release runs there
    assert by_release["2.20.27"] == ["demos/modern.py", "demos/deploy.py"]
    assert by_release["3.9.1"] == ["demos/modern.py"]


def test_edges_and_tags(project):
    plan = _plan(project)
    edges = {s.release.version for s in plan.by_profile("edges")}
    assert edges == {"0.14.0", "1.4.1", "2.0.0", "3.9.1", "2.1.0", "2.20.27"}
    session = plan.session_for("2.1.0")
    assert "edges" in session.tags and "line-2" in session.tags and "minor-2.1" in session.tags
    assert "majors" not in session.tags
    assert len(plan.by_profile("all")) == len(plan.sessions) > 300


def test_latest_mode_names_sessions_and_scopes_constraints(project):
    plan = _plan(project, resolution="latest")
    session = plan.session_for("2.0.4")
    assert session.name == "release-2.0.4-py3.13-latest"  # newest interpreter Requires-Python allows
    assert plan.matrix.env_settings(session.release.parsed, "latest").constraints == ("pydantic<2",)
    assert plan.matrix.env_settings(session.release.parsed, "as-released").constraints == ()
    assert _plan(project).session_for("2.0.4").name == "release-2.0.4-py3.10"


def test_explicit_releases_are_their_own_profile(project):
    plan = _plan(project, only=["2.14.3"])
    assert [s.release.version for s in plan.by_profile("explicit")] == ["2.14.3"]


def test_nox_check_fails_clearly_on_a_bad_matrix(project):
    project.demo("demos/x.py", "print('x')\n")
    project.write_matrix('[[demos]]\npath = "demos/x.py"\nstory = "x"\nreleases = "=>2"\n')
    env = dict(os.environ, MATRIX_FILE=str(project.matrix))
    done = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", "check"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert "matrix.toml" in done.stderr and "demos[0] (demos/x.py).releases" in done.stderr
    listing = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-l"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert "release-" not in listing.stdout  # nothing is planned from an invalid matrix


def test_new_profile_is_unseen_releases_after_the_baseline_plus_the_newest_of_each_line(project):
    for name in ("classic", "modern", "deploy"):
        project.demo(f"demos/{name}.py", "print('x')\n")
    project.write_matrix(MATRIX)
    matrix, _ = check_matrix(project.matrix)
    snapshot = load_snapshot(project.root / "reports" / "releases.json")
    recorded = {"0.15.13", "1.4.0", "2.20.20", "3.8.0", "2.5.0"}
    plan = build_plan(matrix, snapshot, INSTALLED, recorded=recorded)
    new = {s.release.version for s in plan.by_profile("new")}
    versions = {r.version for r in plan.releases}
    # after the newest recorded release of each line, nothing recorded: 1.4.1, 2.20.21+, 3.8.1+ …
    assert {"1.4.1", "2.20.27", "3.9.1"} <= new and "3.8.0" not in new and "2.20.20" not in new
    assert {v for v in versions if v.startswith("3.8.") and v != "3.8.0"} <= new
    # … but not the old releases nobody ran on purpose, and the newest of each line always
    assert "2.14.3" not in new and "0.14.0" not in new and "0.15.13" in new
    assert "new" in plan.session_for("2.20.27").tags


def test_shards_are_balanced_by_recorded_durations_and_deterministic(project):
    from harness.plan.shards import assign_shards, parse_shard

    plan = _plan(project)
    sessions = plan.by_profile("majors")
    seconds = {"release-0.15.13-py3.10": 60, "release-1.4.1-py3.10": 50,
               "release-2.20.27-py3.13": 250, "release-3.9.1-py3.13": 190}
    shards = assign_shards(sessions, seconds, 2)
    assert [[s.name for s in shard] for shard in shards] == [
        ["release-2.20.27-py3.13", "release-1.4.1-py3.10"],
        ["release-3.9.1-py3.13", "release-0.15.13-py3.10"],
    ]
    assert assign_shards(list(reversed(sessions)), seconds, 2) == shards  # the order given does not matter
    three = assign_shards(sessions, seconds, 3)
    assert sorted(s.name for shard in three for s in shard) == sorted(s.name for s in sessions)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        try:
            parse_shard(bad)
        except ValueError as exc:
            assert "--shard" in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")
