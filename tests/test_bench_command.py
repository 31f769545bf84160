"""The benchmark times the README's main command as written: its `--parallel` value comes from the README."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from nox._options import parse_parallel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402


def _readme(tmp_path: Path, command: str) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# x\n\n```bash\n{command}\n python3 -m nox -s tests\n```\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("command", "value"), [
    ("python3 -m pip install -r requirements.txt && python3 -m nox --parallel 3  # run it", "3"),
    ("python3 -m nox --parallel auto", "auto"),
    ("python3 -m nox -t majors --parallel 2 -- --force", "2"),
])
def test_the_parallel_value_is_the_readme_main_commands(tmp_path, command, value):
    assert bench.main_job_parallel(_readme(tmp_path, command)) == value


def test_a_main_command_without_parallel_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no --parallel"):
        bench.main_job_parallel(_readme(tmp_path, "python3 -m nox  # --parallel 4 only in the comment"))


def test_the_repository_readme_names_a_value_nox_accepts():
    assert parse_parallel(bench.main_job_parallel()) >= 1
