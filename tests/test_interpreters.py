"""Interpreter discovery and the per-release choice."""

from __future__ import annotations

import os
import sys

from packaging.specifiers import SpecifierSet

from harness.plan.interpreters import Interpreter, choose_interpreters, describe_missing, discover_interpreters
from harness.plan.releases import Release

INSTALLED = [Interpreter(v, f"/py/{v}/bin/python3", "pyenv") for v in
             ("3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18", "3.7.16")]


def _minors(found):
    return [i.minor for i in found]


def test_as_released_prefers_the_newest_interpreter_of_the_release_era():
    # 3.0.11 came out two weeks after 3.13: its dependencies had no 3.13 wheels yet
    release = Release("3.0.11", "2024-10-25T00:00:00Z", ">=3.9")
    assert _minors(choose_interpreters(release, INSTALLED, "as-released")) == ["3.12", "3.11", "3.10", "3.9", "3.13"]
    old = Release("0.14.22", "2021-06-16T00:00:00Z", ">=3.6")
    assert _minors(choose_interpreters(old, INSTALLED, "as-released"))[:2] == ["3.9", "3.8"]
    newest = Release("3.9.1", "2026-10-30T00:00:00Z", ">=3.11,<3.16")
    assert _minors(choose_interpreters(newest, INSTALLED, "as-released")) == ["3.13", "3.12", "3.11"]


def test_latest_prefers_the_newest_allowed_interpreter():
    release = Release("3.0.11", "2024-10-25T00:00:00Z", ">=3.9")
    assert _minors(choose_interpreters(release, INSTALLED, "latest")) == ["3.13", "3.12", "3.11", "3.10", "3.9"]


def test_matrix_python_bounds_narrow_the_choice():
    release = Release("2.0.4", "2022-08-10T00:00:00Z", ">=3.7")
    found = choose_interpreters(release, INSTALLED, "as-released", SpecifierSet(">=3.8,<3.10"))
    assert _minors(found) == ["3.9", "3.8"]


def test_no_fitting_interpreter_is_explained():
    release = Release("9.0.0", "2030-01-01T00:00:00Z", ">=3.20")
    assert choose_interpreters(release, INSTALLED, "as-released") == []
    message = describe_missing(release, INSTALLED, None)
    assert "9.0.0" in message and ">=3.20" in message and "3.13.0" in message and "install" in message


def test_discovers_pyenv_style_version_folders(tmp_path, monkeypatch):
    root = tmp_path / "pyenv"
    for version in ("3.9.18", "3.9.2", "2.7.18"):
        (root / "versions" / version / "bin").mkdir(parents=True)
        os.symlink(sys.executable, root / "versions" / version / "bin" / "python3")
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "none"))
    found = discover_interpreters()
    nines = [i for i in found if i.minor == "3.9"]
    assert len(nines) == 1 and nines[0].version == "3.9.18" and nines[0].source == "pyenv"
    assert not any(i.version.startswith("2.") for i in found)


def test_discovers_interpreters_on_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    minor = f"3.{sys.version_info.minor}"
    os.symlink(sys.executable, bin_dir / f"python{minor}")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "none"))
    found = discover_interpreters(cache=tmp_path / "cache.json")
    assert [(i.minor, i.source) for i in found] == [(minor, "PATH")]
    assert (tmp_path / "cache.json").is_file()
    assert discover_interpreters(cache=tmp_path / "cache.json") == found  # served from the cache
