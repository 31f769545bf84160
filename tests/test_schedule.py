"""Runs are scheduled by the committed durations: every run of a commit orders its sessions and demos alike.

The report rewrites reports/results.json after each run; when the schedule read that copy, one run's
noise reordered the next run's cells (the cause of most of the benchmark's spread).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.config.parse import load_matrix
from harness.plan import sessions
from harness.plan.sessions import load_plan
from harness.results.records import CellResult
from harness.results.store import baseline_record, committed_blob, schedule_baseline

MATRIX = """
[[demos]]
path = "demos/a.py"
story = "a"
releases = "==1.4.1"

[[demos]]
path = "demos/b.py"
story = "b"
releases = "==2.20.27"
"""


def _results(seconds: dict[str, float]) -> str:
    """A results.json: demo a on 1.4.1, b on 2.20.27, each with the given duration."""
    releases = {"demos/a.py": "1.4.1", "demos/b.py": "2.20.27"}
    cells = [CellResult(demo=demo, story=demo[6], variant="", release=releases[demo], resolution="as-released",
                        outcome="pass", duration=duration, started="2026-12-01T00:00:00Z")
             for demo, duration in seconds.items()]
    return json.dumps({"cells": [baseline_record(c) for c in cells], "freezes": {}})


def _git(root, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


def _two_demos(project, git: bool):
    project.demo("demos/a.py", "print('a')\n")
    project.demo("demos/b.py", "print('b')\n")
    project.write_matrix(MATRIX)
    if git:
        _git(project.root, "init", "-q")
    return project


@pytest.fixture
def checkout(project):
    return _two_demos(project, git=True)


def _durations(matrix_path) -> dict[str, float]:
    return {c.demo: c.duration for c in schedule_baseline(load_matrix(matrix_path)).cells.values()}


def _outside_git(project):
    (project.root / "reports" / "results.json").write_text(_results({"demos/a.py": 1.0, "demos/b.py": 9.0}))


def _committed_then_rewritten(project):
    results = project.root / "reports" / "results.json"
    results.write_text(_results({"demos/a.py": 9.0, "demos/b.py": 1.0}))
    _git(project.root, "add", "-A")
    _git(project.root, "commit", "-q", "-m", "results")
    results.write_text(_results({"demos/a.py": 1.0, "demos/b.py": 9.0}))  # as the next report leaves it


def _never_committed(project):
    _git(project.root, "add", "matrix.toml")
    _git(project.root, "commit", "-q", "-m", "matrix only")
    (project.root / "reports" / "results.json").write_text(_results({"demos/a.py": 1.0, "demos/b.py": 9.0}))


def _committed_unreadable(project):
    results = project.root / "reports" / "results.json"
    results.write_text("{ not json")
    _git(project.root, "add", "-A")
    _git(project.root, "commit", "-q", "-m", "broken")
    results.write_text(_results({"demos/a.py": 1.0, "demos/b.py": 9.0}))


@pytest.mark.parametrize("state, durations", [
    (_outside_git, {"demos/a.py": 1.0, "demos/b.py": 9.0}),
    (_committed_then_rewritten, {"demos/a.py": 9.0, "demos/b.py": 1.0}),  # HEAD's, not the rewritten copy's
    (_never_committed, {"demos/a.py": 1.0, "demos/b.py": 9.0}),
    (_committed_unreadable, {"demos/a.py": 1.0, "demos/b.py": 9.0}),  # the report names that file; not the schedule
])
def test_the_schedule_reads_the_committed_durations_else_the_working_copy(project, state, durations):
    state(_two_demos(project, git=state is not _outside_git))
    assert _durations(project.matrix) == durations


def _order(matrix_path) -> list[str]:
    plan = load_plan(matrix_path)
    return [s.release.version for s in sorted(plan.sessions, key=lambda s: -plan.seconds[s.name])]


def test_runs_of_one_commit_start_their_sessions_in_one_order_and_a_commit_reorders_them(checkout, monkeypatch):
    _committed_then_rewritten(checkout)
    assert _order(checkout.matrix) == ["1.4.1", "2.20.27"]  # a took 9 s at HEAD
    made = []
    afresh = sessions.plan_afresh
    monkeypatch.setattr(sessions, "plan_afresh", lambda *args: made.append(args) or afresh(*args))
    (checkout.root / "reports" / "results.json").write_text(_results({"demos/a.py": 2.0, "demos/b.py": 8.0}))
    assert _order(checkout.matrix) == ["1.4.1", "2.20.27"]  # another run's report: the same order
    _git(checkout.root, "commit", "-q", "-am", "new results")  # committing them is what reorders
    assert committed_blob(load_matrix(checkout.matrix))
    assert _order(checkout.matrix) == ["2.20.27", "1.4.1"]
    assert made, "the kept plan was made again for the new commit"
