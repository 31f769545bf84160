"""Shared helpers: build small real matrices and demo folders in tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "reports" / "releases.json"


class Project:
    """A throwaway demo repository: matrix.toml, demos/, reports/releases.json."""

    def __init__(self, root: Path):
        self.root = root
        (root / "demos").mkdir(parents=True, exist_ok=True)
        (root / "reports").mkdir(exist_ok=True)
        shutil.copy(SNAPSHOT, root / "reports" / "releases.json")

    @property
    def matrix(self) -> Path:
        return self.root / "matrix.toml"

    def demo(self, relative: str, code: str) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
        return relative

    def write_matrix(self, text: str) -> Path:
        self.matrix.write_text(textwrap.dedent(text))
        return self.matrix

    def harness(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "harness", "--matrix", str(self.matrix), *args],
            cwd=REPO, capture_output=True, text=True, timeout=timeout,
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")
