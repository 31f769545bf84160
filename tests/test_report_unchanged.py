"""A report whose inputs and files are as this machine last wrote them writes nothing; any change rewrites all."""

from __future__ import annotations

import json

MATRIX = """
[harness]
preset = "prefect"

[[demos]]
path = "demos/a.py"
story = "a"
releases = "==1.4.1"
"""

RECORD = {"demo": "demos/a.py", "story": "a", "variant": "", "release": "1.4.1", "resolution": "as-released",
          "outcome": "pass", "duration": 1.5, "started": "2026-12-01T10:00:00", "harness_version": "0.7.0"}


def _report(project) -> str:
    done = project.harness("report")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a regression against the baseline
    return done.stdout


def test_an_unchanged_report_is_not_written_again_and_any_change_rewrites_it(project):
    project.demo("demos/a.py", "print('a')\n")
    project.write_matrix(MATRIX)
    state = project.root / ".matrix"
    state.mkdir()
    (state / "results.jsonl").write_text(json.dumps(RECORD) + "\n")
    assert "wrote" in _report(project)
    # outside git the baseline is results.json as the last report left it, so the second diff differs
    _report(project)
    page = project.root / "reports" / "index.html"
    written = page.stat().st_mtime_ns
    assert "nothing written" in _report(project)
    assert page.stat().st_mtime_ns == written
    (project.root / "reports" / "compatibility.md").write_text("edited by hand\n")  # a report file changed
    assert "wrote" in _report(project)
    assert "edited by hand" not in (project.root / "reports" / "compatibility.md").read_text()
    assert "nothing written" in _report(project)
    with (state / "results.jsonl").open("a") as records:  # a new record: the reports show something else
        records.write(json.dumps(dict(RECORD, outcome="fail", error="boom", started="2026-12-02T10:00:00")) + "\n")
    assert "wrote" in _report(project)
    _report(project)
    assert "boom" in (project.root / "reports" / "compatibility.md").read_text()
