"""The result cache: a cell whose inputs are unchanged is not run again; each input invalidates it."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

MATRIX = """
[harness]
preset = "prefect"
fallbacks = 0

[[demos]]
path = "demos/a.py"
story = "a"
releases = "==1.4.1"

[[demos]]
path = "demos/b.py"
story = "b"
releases = "==1.4.1"

[[demos]]
path = "demos/c.py"
story = "c"
releases = "==1.4.1"
"""


def _ran(project, *args) -> dict[str, bool]:
    """Run 1.4.1; return, per demo, whether it really ran (True) or was reused (False)."""
    records = project.root / ".matrix" / "results.jsonl"
    before = len(records.read_text().splitlines()) if records.exists() else 0
    done = project.harness("run", "1.4.1", "--no-report", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    new = [json.loads(l) for l in records.read_text().splitlines()[before:]]
    assert all(c["outcome"] == "pass" for c in new)
    return {c["demo"].split("/")[-1]: not c["reused"] for c in new}


@pytest.fixture
def cached_project(project):
    for name in "abc":
        project.demo(f"demos/{name}.py", f"import prefect\nprint('{name}', prefect.__version__)\n")
    project.write_matrix(MATRIX)
    return project


def test_unchanged_inputs_are_reused_and_each_input_invalidates(cached_project):
    project = cached_project
    assert _ran(project) == {"a.py": True, "b.py": True, "c.py": True}
    done = project.harness("run", "1.4.1", "--no-report")
    assert "reused: inputs unchanged" in done.stdout and "env" not in done.stdout.split("claim this release")[1]
    assert _ran(project) == {"a.py": False, "b.py": False, "c.py": False}
    # editing one demo re-runs only that demo's cell
    project.demo("demos/b.py", "import prefect\nprint('b edited', prefect.__version__)\n")
    assert _ran(project) == {"a.py": False, "b.py": True, "c.py": False}
    # so does what it reads next to it: a helper module or a data file (not a README)
    (project.root / "demos" / "README.md").write_text("prose\n")
    assert _ran(project) == {"a.py": False, "b.py": False, "c.py": False}
    (project.root / "demos" / "_shared.py").write_text("X = 1\n")
    assert _ran(project) == {"a.py": True, "b.py": True, "c.py": True}
    # a demo's own settings count too
    project.matrix.write_text(
        project.matrix.read_text().replace('path = "demos/c.py"', 'path = "demos/c.py"\ntimeout = 99'))
    assert _ran(project) == {"a.py": False, "b.py": False, "c.py": True}
    # the env's inputs count for every cell
    project.matrix.write_text(
        project.matrix.read_text() + '[[ranges]]\nreleases = "<2"\nconstraints = ["pytz>=2020"]\n')
    assert _ran(project) == {"a.py": True, "b.py": True, "c.py": True}
    # --force runs everything
    assert _ran(project, "--force") == {"a.py": True, "b.py": True, "c.py": True}
    # the committed baseline alone is a report, not a cache: a fresh clone runs everything
    project.harness("report")
    (project.root / ".matrix" / "results.jsonl").unlink()
    assert _ran(project) == {"a.py": True, "b.py": True, "c.py": True}
