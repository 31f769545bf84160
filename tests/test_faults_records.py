"""Faults against the records and what is made from them (issue 16: defects 4, 5, 6-files, 9-memory/logs).

Each test reproduces a defect with the real harness: a records file cut by a
killed writer, a full disk, corrupt committed files, an unreachable index, a
demo printing control characters or 200 MB. Runs use a demo whose need is not
available (recorded `skipped`), so a real `run` appends a record without
building an env; only the ready-marker test builds one (slow).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import pytest

from harness.config.needs import check_needs
from harness.config.parse import load_matrix
from harness.plan.interpreters import Interpreter
from harness.plan.releases import load_snapshot
from harness.plan.sessions import build_plan
from harness.results.records import CellResult
from harness.results.store import ResultStore, store_for
from harness.results.text import clean_text, markdown_text
from harness.run.cache import cache_inputs
from harness.run.cell import CellRunner
from harness.run.envs import BuiltEnv
from harness.run.journal import Journal
from harness.run.services import Services
from harness.run.session import env_spec, provided_needs
from tests.conftest import REPO

SKIPPED_MATRIX = """
[[demos]]
path = "demos/notify.py"
story = "notify"
releases = ">=1,<2"
needs = ["slack"]
"""

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def harness(project, *args: str, **environ: str) -> subprocess.CompletedProcess:
    """`python -m harness` on the project, without the credentials that would enable a need."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "MATRIX_FILE")}
    env.update(environ)
    return subprocess.run([sys.executable, "-m", "harness", "--matrix", str(project.matrix), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def skipped_project(project):
    project.write_matrix(SKIPPED_MATRIX)
    project.demo("demos/notify.py", "print('would post to slack')\n")
    return project


def record(demo: str, release: str, outcome: str = "pass", **fields) -> CellResult:
    return CellResult(demo=demo, story=Path(demo).stem, variant=Path(demo).stem, release=release,
                      resolution="as-released", outcome=outcome, started="2026-11-24T10:00:00", **fields)


def line_of(cell: CellResult) -> bytes:
    return (json.dumps(asdict(cell), sort_keys=True) + "\n").encode()


# --- records whole or absent ---------------------------------------------------------------------------


def test_a_cut_last_line_loses_only_itself_and_the_report_builds(project, capfd):
    """A killed writer left half a line: the next run's record used to be glued onto it, both skipped."""
    skipped_project(project)
    state = project.root / ".matrix"
    state.mkdir()
    earlier = line_of(record("demos/notify.py", "1.3.1", "skipped", reason="earlier run"))
    cut = line_of(record("demos/notify.py", "1.4.0", "skipped"))[:90]  # no newline: the writer died here
    (state / "results.jsonl").write_bytes(earlier + cut)
    ran = harness(project, "run", "1.4.1", "--no-report")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cells = ResultStore(state, project.root / "reports").load(committed=False).cells
    assert sorted(release for _, release, _ in cells) == ["1.3.1", "1.4.1"]
    assert f"{state / 'results.jsonl'}:2: unreadable record skipped" in capfd.readouterr().err
    report = harness(project, "report")
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stdout + report.stderr
    committed = json.loads((project.root / "reports" / "results.json").read_text())
    assert sorted(c["release"] for c in committed["cells"]) == ["1.3.1", "1.4.1"]


def test_a_record_that_cannot_be_written_on_a_full_disk_is_a_clear_error(project):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    skipped_project(project)
    state = project.root / ".matrix"
    state.mkdir()
    (state / "results.jsonl").symlink_to("/dev/full")
    ran = harness(project, "run", "1.4.1", "--no-report")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert f"{state / 'results.jsonl'}: cannot write the record of demos/notify.py on 1.4.1" in ran.stderr
    assert f"no space left on the device holding {state}; free some space and rerun" in ran.stderr


# --- corrupt committed state: named, with what to do ------------------------------------------------------

COMMANDS = [("check",), ("run", "1.4.1", "--no-report"), ("report",), ("pick", "1.4.1")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("content, detail", [
    ('{"cells": [{"demo": "demos/notify.py", "rel', "Unterminated string"),
    ('{"cells": [{"demo": "demos/notify.py", "release": "1.4.1"}]}', "cells[0]: missing story, variant"),
], ids=["truncated", "hand-edited"])
def test_a_corrupt_results_json_is_named_with_what_to_do(project, command, content, detail):
    skipped_project(project)
    results = project.root / "reports" / "results.json"
    results.write_text(content)
    ran = harness(project, *command)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert f"{results}: not a results file ({detail}" in ran.stderr
    assert f"restore it from git (git checkout HEAD -- {results})" in ran.stderr
    assert not (project.root / ".matrix" / "results.jsonl").exists()  # nothing ran


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("key, value, expected", [
    ("version", "one.two", "'one.two' is not a version (PEP 440)"),
    ("uploaded", "yesterday", "'yesterday' is not an ISO date-time"),
])
def test_a_corrupt_release_snapshot_is_named_with_what_to_do(project, command, key, value, expected):
    skipped_project(project)
    snapshot = project.root / "reports" / "releases.json"
    data = json.loads(snapshot.read_text())
    last = len(data["releases"]) - 1
    data["releases"][last][key] = value
    snapshot.write_text(json.dumps(data))
    ran = harness(project, *command)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert f"{snapshot}: not a release snapshot (releases[{last}].{key}: {expected}" in ran.stderr
    assert "rebuild it with `nox -s refresh`" in ran.stderr
    assert not (project.root / ".matrix" / "results.jsonl").exists()


def test_refresh_from_an_unreachable_index_names_the_url_without_its_credentials(project):
    skipped_project(project)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ran = harness(project, "refresh", UV_DEFAULT_INDEX=f"http://someone:t0ken@127.0.0.1:{port}/simple")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert f"http://127.0.0.1:{port}/simple/prefect/: cannot read the release list" in ran.stderr
    assert "t0ken" not in ran.stderr and "someone" not in ran.stderr
    assert json.loads((project.root / "reports" / "releases.json").read_text())["releases"]  # the snapshot stays


@pytest.mark.slow
def test_an_env_with_a_truncated_ready_marker_is_rebuilt(project):
    project.write_matrix("""
        [harness]
        fallbacks = 0

        [[demos]]
        path = "demos/version.py"
        story = "version"
        releases = "==1.4.1"
        warm = false
    """)
    project.demo("demos/version.py", "import prefect\nprint(prefect.__version__)\n")
    first = harness(project, "run", "1.4.1", "--no-report")
    assert first.returncode == 0, first.stdout + first.stderr
    markers = list((project.root / ".matrix").rglob("ready.json"))
    assert len(markers) == 1
    markers[0].write_text('{"freeze": ["prefect==1.4')
    again = harness(project, "run", "1.4.1", "--no-report", "--force")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is unreadable" in again.stdout and "rebuilding it" in again.stdout
    assert json.loads(markers[0].read_text())["freeze"]
    cells = ResultStore(project.root / ".matrix", project.root / "reports").load(committed=False).cells
    assert [c.outcome for c in cells.values()] == ["pass"]


# --- output made safe --------------------------------------------------------------------------------------

HOSTILE_DEMO = r"""
import sys
sys.stdout.write("\x1b[31mred\x1b[0m progress\r50%\r100%\n")
sys.stdout.write("bell\x07 nul\x00 </script><script>alert(1)</script> <!-- swallows the rest\n")
sys.stdout.flush()
raise SystemExit("boom \x1b[1m</script>\x00\x07 <!-- end")
"""

HOSTILE_MATRIX = """
[harness]
retries = 0

[[demos]]
path = "demos/hostile.py"
story = "hostile"
releases = "==1.4.1"

[[demos]]
path = "demos/old.py"
story = "old"
releases = "==1.4.1"
"""


def _run_hostile_cell(project, tmp_path) -> CellResult:
    """The demo's cell as a session runs it, on this interpreter standing in for the release's env."""
    matrix = load_matrix(project.matrix)
    interpreters = [Interpreter("3.10.13", "/py/3.10.13/bin/python3", "pyenv")]
    plan = build_plan(matrix, load_snapshot(project.root / "reports" / "releases.json"), interpreters,
                      only=["1.4.1"])
    session = plan.session_for("1.4.1")
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    needs = {d.path: check_needs(d.needs, provided_needs(settings), {}) for d in session.demos}
    journal = Journal(store_for(matrix), matrix, session,
                      cache_inputs(matrix, session, env_spec(matrix, session, settings), needs))
    env = BuiltEnv(tmp_path / "env", Path(sys.executable), "3.11.7", [])
    runner = CellRunner(matrix, session, settings, env, Services("prefect", env.path, tmp_path / "run"), journal,
                        tmp_path / "run", lambda line: None)
    return runner.run(next(d for d in session.demos if d.story == "hostile"), {})


def test_control_characters_and_html_from_a_demo_cannot_break_any_report(project, tmp_path):
    project.write_matrix(HOSTILE_MATRIX)
    project.demo("demos/hostile.py", HOSTILE_DEMO)
    project.demo("demos/old.py", "print('ok')\n")
    cell = _run_hostile_cell(project, tmp_path)
    assert cell.outcome == "fail" and not CONTROL.search(cell.error + cell.output_tail)
    # a record written before the fix: raw control characters in every text field
    old = record("demos/old.py", "1.4.1", "fail", error="\x00\x1b[2Jold </script> | pipe\x07",
                 output_tail="tail\x00\x1b]0;title\x07 <!-- x")
    raw = json.dumps({**asdict(old), "error": "\x00\x1b[2Jold </script> | pipe\x07", "reason": "r\x00",
                      "output_tail": "tail\x00\x1b]0;title\x07 <!-- x"}, sort_keys=True)
    with (project.root / ".matrix" / "results.jsonl").open("a") as records:
        records.write(raw + "\n")
    report = harness(project, "report")
    assert report.returncode in (0, 1) and "Traceback" not in report.stderr, report.stdout + report.stderr
    reports = project.root / "reports"
    suites = ET.parse(reports / "junit.xml").getroot()  # parses: no control character reached the XML
    failures = {case.get("name"): case.find("failure").get("message") for case in suites.iter("testcase")}
    assert failures == {"demos/hostile.py": "boom </script> <!-- end", "demos/old.py": "old </script> | pipe"}
    for name in ("compatibility.md", "diff.md"):
        text = (reports / name).read_text()
        assert not CONTROL.search(text) and "</script>" not in text and "<!--" not in text, name
    assert "boom &lt;/script> &lt;!-- end" in (reports / "compatibility.md").read_text()
    page = (reports / "index.html").read_text()
    inline = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    data = json.loads(inline)  # the page's JSON ends where it should: no `</script>` inside it
    errors = {key.split("|")[0]: value["error"] for key, value in data["cells"].items()}
    assert errors == {"demos/hostile.py": "boom </script> <!-- end", "demos/old.py": "old </script> | pipe"}
    assert page.count("<script") == page.count("</script>")


@pytest.mark.parametrize("raw, clean, markdown", [
    ("plain text", "plain text", "plain text"),
    ("\x1b[31mred\x1b[0m and \x1b]0;title\x07done", "red and done", "red and done"),
    ("nul\x00 bell\x07 del\x7f c1\x9b half\ud800", "nul bell del c1 half", "nul bell del c1 half"),
    ("50%\r100%\r\nnext\ttab", "50%\n100%\nnext\ttab", "50% 100% next tab"),
    ("a </script> <!-- b <b>x</b> a<3 | c", "a </script> <!-- b <b>x</b> a<3 | c",
     "a &lt;/script> &lt;!-- b &lt;b>x&lt;/b> a<3 \\| c"),
])
def test_demo_text_made_safe(raw, clean, markdown):
    assert (clean_text(raw), markdown_text(raw)) == (clean, markdown)
    old = {**asdict(record("demos/x.py", "1.4.1")), "error": raw, "output_tail": raw, "reason": raw}
    read_back = CellResult.from_dict(old)  # a record written before text was cleaned
    assert (read_back.error, read_back.output_tail, read_back.reason) == (clean, clean, clean)
