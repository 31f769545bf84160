"""Lint (ruff, configured in pyproject.toml) and the project's metadata agreeing with what installs it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

from harness import __version__
from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_ruff_passes_on_the_harness_its_tests_and_the_noxfile():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "harness", "tests", "noxfile.py",
                           "benchmarks"], cwd=REPO, capture_output=True, text=True, timeout=300)
    if "No module named ruff" in done.stderr:
        raise AssertionError("ruff is not installed: python3 -m pip install -r requirements.txt")
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyproject_declares_what_requirements_txt_installs():
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    required = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    assert PYPROJECT["project"]["dependencies"] == required
    assert PYPROJECT["project"]["version"] == __version__


def test_pytest_refuses_an_unregistered_marker(tmp_path):
    (tmp_path / "test_typo.py").write_text("import pytest\n\n@pytest.mark.slwo\ndef test_x():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pyproject.toml"),
                           "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))  # plugins: start-up time only
    assert done.returncode != 0 and "'slwo' not found in `markers` configuration option" in done.stdout + done.stderr
