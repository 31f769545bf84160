"""The harness's own processes keep their bytecode under the state folder, never beside its sources."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
IMPORT = "from harness import keep_own_bytecode; keep_own_bytecode(); import harness.cli"


def _copy_of_harness(tmp_path: Path) -> Path:
    shutil.copytree(HARNESS, tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run(root: Path, **variables: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    subprocess.run([sys.executable, "-c", IMPORT], cwd=root, env={**env, **variables}, check=True)


def _pyc_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.pyc")) if folder.is_dir() else []


def test_with_bytecode_forbidden_it_is_kept_under_the_state_folder_and_not_beside_the_sources(tmp_path):
    root = _copy_of_harness(tmp_path)
    _run(root, PYTHONDONTWRITEBYTECODE="1")
    kept = _pyc_under(root / ".matrix" / "pycache")
    assert any(name.startswith("cli.") for name in kept), kept
    assert not list((root / "harness").rglob("__pycache__"))


@pytest.mark.parametrize("variables", [
    {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "chosen"},  # the user's own prefix wins
    {},  # bytecode allowed: Python's usual __pycache__ folders
])
def test_a_chosen_prefix_or_allowed_bytecode_is_left_as_it_is(tmp_path, variables):
    root = _copy_of_harness(tmp_path)
    if "PYTHONPYCACHEPREFIX" in variables:
        variables = {**variables, "PYTHONPYCACHEPREFIX": str(tmp_path / variables["PYTHONPYCACHEPREFIX"])}
    _run(root, **variables)
    assert not (root / ".matrix").exists()
