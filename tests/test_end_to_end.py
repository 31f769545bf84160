"""The real harness on a small real matrix: real envs of Prefect 1.4.1 and 3.9.1, real demos.

Slow (it installs Prefect twice; uv's cache makes reruns quick). Asserts on the
cells the harness recorded, as a user reading results.jsonl would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

def _repo_harness() -> str:
    """The repo's own [harness]: its preset (eras, canaries, servers, warm runners) and overrides."""
    text = (REPO / "matrix.toml").read_text()
    return text[: text.index("[[demos]]")].replace("[harness]\n", "[harness]\ntimeout = 240\nfallbacks = 0\n")


CLASSIC_OK = """
from prefect import Flow, task

@task
def double(x):
    return 2 * x

with Flow("double") as flow:
    result = double(21)

state = flow.run()
assert state.is_successful(), state
assert state.result[result].result == 42, state.result[result].result
print("ok")
"""

CLASSIC_WRONG = """
from prefect import Flow, task

@task
def count_rows():
    return 3

with Flow("count") as flow:
    rows = count_rows()

state = flow.run()
got = state.result[rows].result
assert got == 4, f"loaded {got} rows, expected 4"
"""

MODERN_OK = """
from prefect import flow, task

@task
def double(x):
    return 2 * x

@flow
def doubler(x: int) -> int:
    return double(x)

assert doubler(21) == 42
print("ok")
"""

MODERN_ENV_CHECK = """
import os, pathlib
home = pathlib.Path(os.environ["PREFECT_HOME"])
assert str(home).startswith(os.environ["HOME"]), (home, os.environ["HOME"])
assert os.environ["PREFECT_API_URL"].startswith("http://127.0.0.1:")  # the env's own server
pathlib.Path(os.environ["HOME"], "marker").write_text("left behind")
import prefect
print(prefect.__version__)
"""


@pytest.fixture
def real_project(project):
    project.demo("demos/classic_ok.py", CLASSIC_OK)
    project.demo("demos/classic_wrong.py", CLASSIC_WRONG)
    project.demo("demos/classic_known_broken.py", CLASSIC_WRONG)
    project.demo("demos/slow.py", "import time\ntime.sleep(120)\n")
    project.demo("demos/needs_docker.py", "raise SystemExit('must not run')\n")
    project.demo("demos/modern_ok.py", MODERN_OK)
    project.demo("demos/modern_env.py", MODERN_ENV_CHECK)
    project.write_matrix(_repo_harness() + """
        [[demos]]
        path = "demos/classic_ok.py"
        story = "double"
        variant = "classic"
        releases = ">=1.0,<2"

        [[demos]]
        path = "demos/classic_wrong.py"
        story = "count"
        releases = ">=1.0,<2"

        [[demos]]
        path = "demos/classic_known_broken.py"
        story = "count"
        variant = "known-broken"
        releases = ">=1.0,<2"
        [[demos.xfail]]
        releases = "==1.4.1"
        reason = "counts wrong on purpose"

        [[demos]]
        path = "demos/slow.py"
        story = "slow"
        releases = ">=1.4,<2"
        timeout = 3

        [[demos]]
        path = "demos/needs_docker.py"
        story = "docker"
        releases = ">=1.0"
        needs = ["docker"]

        [[demos]]
        path = "demos/modern_ok.py"
        story = "double"
        variant = "modern"
        releases = ">=3.0"

        [[demos]]
        path = "demos/modern_env.py"
        story = "isolation"
        releases = ">=3.0"
    """.replace("\n        ", "\n"))
    return project


def _cells(project) -> dict[tuple[str, str], dict]:
    lines = (project.root / ".matrix" / "results.jsonl").read_text().splitlines()
    return {(c["demo"].split("/")[-1], c["release"]): c for c in map(json.loads, lines)}


def test_a_real_run_on_a_1x_and_a_3x_release(real_project, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    done = real_project.harness("run", "1.4.1", "3.9.1")
    assert done.returncode == 1, done.stdout + done.stderr  # some cells fail on purpose
    cells = _cells(real_project)
    outcome = {key: cell["outcome"] for key, cell in cells.items()}
    assert outcome == {
        ("classic_ok.py", "1.4.1"): "pass",
        ("classic_wrong.py", "1.4.1"): "fail",
        ("classic_known_broken.py", "1.4.1"): "xfail",
        ("slow.py", "1.4.1"): "timeout",
        ("needs_docker.py", "1.4.1"): "skipped",
        ("needs_docker.py", "3.9.1"): "skipped",
        ("modern_ok.py", "3.9.1"): "pass",
        ("modern_env.py", "3.9.1"): "pass",
    }
    wrong = cells[("classic_wrong.py", "1.4.1")]
    assert wrong["error"] == "AssertionError: loaded 3 rows, expected 4" and wrong["exit_code"] == 1
    assert cells[("slow.py", "1.4.1")]["error"].startswith("killed after its time limit of 3s")
    assert 3 <= cells[("slow.py", "1.4.1")]["duration"] < 30
    assert "DOCKER_HOST" in cells[("needs_docker.py", "1.4.1")]["reason"]
    assert cells[("classic_known_broken.py", "1.4.1")]["reason"] == "counts wrong on purpose"
    modern = cells[("modern_env.py", "3.9.1")]
    assert modern["output_tail"].strip().endswith("3.9.1")
    # both eras ran as forks of their env's warm runner (1.x from 0.15 on, with its config reset)
    assert cells[("modern_ok.py", "3.9.1")]["runner"] == "fork"
    assert cells[("classic_ok.py", "1.4.1")]["runner"] == "fork"
    for cell in cells.values():
        assert cell["resolution"] == "as-released" and cell["harness_version"] and cell["demo_hash"]
        if cell["outcome"] != "skipped":
            assert cell["freeze_hash"] and cell["python"].startswith("3.")
    # the env of each release was resolved as of its upload day, on an interpreter of its era
    results = json.loads((real_project.root / "reports" / "results.json").read_text())
    freeze = results["freezes"][cells[("classic_ok.py", "1.4.1")]["freeze_hash"]]
    assert "prefect==1.4.1" in freeze
    assert cells[("classic_ok.py", "1.4.1")]["python"].startswith("3.10.")
    assert "prefect==3.9.1" in results["freezes"][modern["freeze_hash"]]
    # logs are kept in full, and the report names every cell
    log = real_project.root / cells[("classic_wrong.py", "1.4.1")]["log"]
    assert "Traceback" in log.read_text()
    report = (real_project.root / "reports" / "compatibility.md").read_text()
    assert "### 1.x" in report and "### 3.x" in report and "loaded 3 rows, expected 4" in report
    # a second run reuses both envs
    again = real_project.harness("run", "1.4.1", "--no-report")
    assert "reusing env" in again.stdout


def test_a_failing_canary_makes_every_cell_an_env_error(real_project):
    real_project.demo("broken.py", "raise SystemExit('canary says: flows do not run')\n")
    with real_project.matrix.open("a") as matrix:  # the matrix's own range overrides the preset's canary
        matrix.write('\n[[ranges]]\nreleases = "<2"\ncanary = "broken.py"\n')
    real_project.harness("run", "1.4.1", "--no-report")
    cells = _cells(real_project)
    assert {c["outcome"] for k, c in cells.items() if k[1] == "1.4.1" and k[0] != "needs_docker.py"} == {"env-error"}
    assert "canary failed 2 times: canary says: flows do not run" in cells[("classic_ok.py", "1.4.1")]["error"]
    assert cells[("classic_ok.py", "1.4.1")]["log"].endswith(".log")


def test_a_release_without_a_usable_interpreter_is_an_env_error_naming_it(real_project):
    with real_project.matrix.open("a") as matrix:
        matrix.write('\n[[ranges]]\nreleases = "<2"\npython = "<3.0"\n')
    real_project.harness("run", "1.4.1", "--no-report", timeout=120)
    cells = _cells(real_project)
    error = cells[("classic_ok.py", "1.4.1")]["error"]
    assert cells[("classic_ok.py", "1.4.1")]["outcome"] == "env-error"
    assert "no installed interpreter fits 1.4.1" in error and "<3.0" in error and "found: 3." in error
    assert cells[("needs_docker.py", "1.4.1")]["outcome"] == "skipped"  # needs are decided before the env


def test_nox_lists_one_session_per_release_and_python_with_profile_tags(real_project):
    env = dict(os.environ, MATRIX_FILE=str(real_project.matrix))

    def nox(*args):
        done = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    default = [s["session"] for s in json.loads(nox("-l", "--json"))]
    assert default == ["release-1.4.1-py3.10", "release-2.20.27-py3.13", "release-3.9.1-py3.13", "report"]
    edges = {s["session"]: s["tags"] for s in json.loads(nox("-l", "--json", "-t", "edges"))}
    assert "release-1.0.0-py3.10" in edges and "minor-1.0" in edges["release-1.0.0-py3.10"]
    listing = nox("-l")
    for name in ("release-1.0.0-py3.10", "release-1.3.1-py3.10", "check", "pick", "tests", "refresh"):
        assert name in listing
