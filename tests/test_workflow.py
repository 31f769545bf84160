"""The GitHub Actions workflow: valid for actionlint, and wired to sessions that exist."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "matrix.yml"


def _actionlint(path):
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.fail("actionlint is not installed: python3 -m pip install -r requirements.txt")
    return subprocess.run([binary, "-no-color", str(path)], capture_output=True, text=True, cwd=path.parents[2])


def test_the_matrix_workflow_passes_actionlint():
    done = _actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "matrix.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("needs.plan.outputs.shards", "needs.plan.outputs.shard_list"))
    done = _actionlint(broken)
    assert done.returncode != 0 and "shard_list" in done.stdout


def test_the_workflow_runs_what_the_harness_offers():
    text = WORKFLOW.read_text()
    for trigger in ("schedule:", "workflow_dispatch:", "pull_request:", '"demos/**"', '"matrix.toml"', '"harness/**"'):
        assert trigger in text
    assert "actions/cache@" in text and "~/.cache/uv" in text
    assert "nox -s shards --" in text and '--shard "$SHARD"' in text and "nox -s report -- --merge shards/*" in text
    assert "name: compatibility-report" in text
    listed = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    assert "shards" in listed and "report" in listed and "refresh" in listed
