"""The kept plan (harness/plan/memo.py): used while its files are unchanged, made again when any one changes."""

from __future__ import annotations

import json
import os

import pytest

from harness.config.model import MatrixError
from harness.plan import sessions
from harness.plan.memo import checked_matrix
from harness.plan.sessions import load_plan

MATRIX = """
[[demos]]
path = "demos/a.py"
story = "a"
releases = ">=1.4,<2"

[[demos]]
path = "demos/b.py"
story = "b"
releases = ">=2.19,<3"
"""


@pytest.fixture
def planned(project, monkeypatch):
    project.demo("demos/a.py", "print('a')\n")
    project.demo("demos/b.py", "print('b')\n")
    project.write_matrix(MATRIX)
    made = []
    afresh = sessions.plan_afresh

    def counting(*args):
        made.append(args)
        return afresh(*args)

    monkeypatch.setattr(sessions, "plan_afresh", counting)
    project.made = made
    load_plan(project.matrix)
    load_plan(project.matrix)  # the first may have written interpreters.json, a file the plan is made from
    return project


def _later(path):
    """Touch with a later mtime than the file had (a same-second edit on a coarse clock is still seen)."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))


def test_an_unchanged_plan_is_read_back_not_made_again(planned):
    before = len(planned.made)
    plan = load_plan(planned.matrix)
    assert len(planned.made) == before
    assert {s.release.version for s in plan.sessions} >= {"1.4.1", "2.20.27"}
    assert (planned.root / ".matrix" / "plans" / "plan.pickle").is_file()


def _edit_matrix(project):
    project.write_matrix(MATRIX.replace('">=2.19,<3"', '">=2.20,<3"'))


def _edit_demo(project):
    project.demo("demos/a.py", "print('a, edited')\n")


def _edit_snapshot(project):
    snapshot = project.root / "reports" / "releases.json"
    snapshot.write_text(snapshot.read_text() + "\n")


def _new_baseline(project):
    (project.root / "reports" / "results.json").write_text(json.dumps({"cells": [], "freezes": {}}))


def _lose_interpreters(project):
    (project.root / ".matrix" / "interpreters.json").unlink()


def _edit_a_preset_the_matrix_uses(project):
    project.write_matrix('[harness]\npreset = "prefect"\n' + MATRIX)  # its files are now among the plan's


@pytest.mark.parametrize("change", [_edit_matrix, _edit_demo, _edit_snapshot, _new_baseline, _lose_interpreters,
                                    _edit_a_preset_the_matrix_uses])
def test_each_file_the_plan_is_made_from_makes_it_again(planned, change):
    before = len(planned.made)
    change(planned)
    load_plan(planned.matrix)
    assert len(planned.made) == before + 1, change.__name__


def test_an_edit_the_plan_must_see_is_seen(planned):
    planned.write_matrix(MATRIX.replace('">=2.19,<3"', '">=2.20.27,<3"'))
    _later(planned.matrix)
    plan = load_plan(planned.matrix)
    demos_on = {s.release.version: [d.path for d in s.demos] for s in plan.sessions}
    assert demos_on.get("2.19.0", []) == [] and demos_on["2.20.27"] == ["demos/b.py"]


def test_a_new_script_nobody_declared_fails_the_check_though_a_plan_was_kept(planned):
    planned.demo("demos/c.py", "print('c')\n")
    with pytest.raises(MatrixError, match="demos/c.py is under demos/ but no"):
        load_plan(planned.matrix)
    with pytest.raises(MatrixError, match="demos/c.py"):
        checked_matrix(planned.matrix)


def test_other_arguments_get_a_plan_of_their_own(planned):
    latest = load_plan(planned.matrix, "latest")
    assert {s.resolution for s in latest.sessions} == {"latest"}
    assert {s.resolution for s in load_plan(planned.matrix).sessions} == {"as-released"}


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x04garbage"])
def test_a_cut_or_foreign_kept_plan_is_made_again_without_a_word(planned, content, capsys):
    kept = planned.root / ".matrix" / "plans" / "plan.pickle"
    kept.write_bytes(content)
    before = len(planned.made)
    assert load_plan(planned.matrix).sessions
    assert len(planned.made) == before + 1
    assert capsys.readouterr().err == ""


def test_a_report_that_writes_the_baseline_keeps_the_plan_the_next_run_asks_for(planned):
    from harness.report.build import build_reports

    assert build_reports(planned.matrix) == 0
    assert (planned.root / "reports" / "results.json").is_file()
    before = len(planned.made)
    load_plan(planned.matrix)
    assert len(planned.made) == before
