"""Find CPython interpreters (PATH, pyenv, uv-managed) and choose one per release.

As-released resolution wants an interpreter of the release's era: the newest
one that its Requires-Python allows and that had been out for a while when
the release was uploaded (old releases have no wheels, and their sdists do not
build, on Pythons newer than themselves).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.plan.releases import Release

# First release date of each CPython minor line (a fact about CPython).
PYTHON_RELEASED = {
    "3.6": dt.date(2016, 12, 23),
    "3.7": dt.date(2018, 6, 27),
    "3.8": dt.date(2019, 10, 14),
    "3.9": dt.date(2020, 10, 5),
    "3.10": dt.date(2021, 10, 4),
    "3.11": dt.date(2022, 10, 24),
    "3.12": dt.date(2023, 10, 2),
    "3.13": dt.date(2024, 10, 7),
    "3.14": dt.date(2025, 10, 7),
    "3.15": dt.date(2026, 10, 1),
}


@dataclass(frozen=True)
class Interpreter:
    version: str  # full version, e.g. "3.11.7"
    path: str
    source: str  # "pyenv", "uv", "PATH"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


class NoInterpreter(Exception):
    pass


_VERSION_DIR = re.compile(r"^(?:cpython-)?(3\.\d+\.\d+)(?:[-+].*)?$")


def discover_interpreters(cache: Path | None = None) -> list[Interpreter]:
    """Every usable CPython 3 interpreter, one per minor version (pyenv preferred)."""
    found: list[Interpreter] = []
    found += _versioned_dirs(_pyenv_root() / "versions", "pyenv")
    found += _versioned_dirs(_uv_python_dir(), "uv")
    found += _on_path(cache)
    by_minor: dict[str, Interpreter] = {}
    for interp in found:
        current = by_minor.get(interp.minor)
        if current is None or Version(interp.version) > Version(current.version):
            by_minor[interp.minor] = interp
    return sorted(by_minor.values(), key=lambda i: Version(i.version), reverse=True)


def _pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    return Path.home() / ".pyenv"


def _uv_python_dir() -> Path:
    if os.environ.get("UV_PYTHON_INSTALL_DIR"):
        return Path(os.environ["UV_PYTHON_INSTALL_DIR"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "uv" / "python"


def _versioned_dirs(root: Path, source: str) -> list[Interpreter]:
    """Interpreters in folders named by their version: no need to run them to list them."""
    found = []
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        match = _VERSION_DIR.match(entry.name)
        exe = entry / "bin" / "python3"
        if match and exe.exists() and "freethreaded" not in entry.name:
            found.append(Interpreter(match.group(1), str(exe), source))
    return found


def _path_executables() -> list[str]:
    """The python3.X executables on PATH, resolved; not pyenv's shims, which answer only for the selected one."""
    names = sorted({f"python3.{minor}" for minor in range(6, 20)} | {"python3"})
    found = (shutil.which(name) for name in names)
    return sorted({os.path.realpath(exe) for exe in found if exe and ".pyenv/shims" not in exe})


def discovery_sources() -> list[Path]:
    """What discovery reads: a plan made from the interpreters stays true while none of these changes."""
    return [_pyenv_root() / "versions", _uv_python_dir(), *map(Path, _path_executables())]


def _on_path(cache: Path | None) -> list[Interpreter]:
    """python3.X executables on PATH; their versions are asked once and cached by mtime."""
    candidates = {real: os.stat(real).st_mtime for real in _path_executables()}
    known = _read_cache(cache)
    before = dict(known)
    found = []
    for exe, mtime in candidates.items():
        entry = known.get(exe)
        if not entry or entry["mtime"] != mtime:
            version = _ask_version(exe)
            entry = known[exe] = {"mtime": mtime, "version": version}
        if entry["version"]:
            found.append(Interpreter(entry["version"], exe, "PATH"))
    if known != before:
        _write_cache(cache, known)
    return found


def _ask_version(exe: str) -> str | None:
    try:
        out = subprocess.run(
            [exe, "-c", "import platform,sys; print(platform.python_implementation(), platform.python_version())"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 2 or parts[0] != "CPython" or not parts[1].startswith("3."):
        return None
    return parts[1]


def _read_cache(cache: Path | None) -> dict:
    try:
        return json.loads(cache.read_text()) if cache else {}
    except (OSError, ValueError):
        return {}


def _write_cache(cache: Path | None, data: dict) -> None:
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(data))
    except OSError:
        pass


def choose_interpreters(
    release: Release,
    interpreters: list[Interpreter],
    resolution: str,
    python: SpecifierSet | None = None,
    era_lag_days: int = 90,
) -> list[Interpreter]:
    """Interpreters to try for a release, best first; empty when none fits.

    as-released: era interpreters newest first, then newer ones oldest first.
    latest: newest first.
    """
    fitting = [
        i for i in interpreters
        if release.python_ok(i.version) and (python is None or python.contains(i.version, prereleases=True))
    ]
    fitting.sort(key=lambda i: Version(i.version), reverse=True)
    if resolution == "latest":
        return fitting
    cutoff = release.date - dt.timedelta(days=era_lag_days)
    era = [i for i in fitting if PYTHON_RELEASED.get(i.minor, dt.date.max) <= cutoff]
    newer = [i for i in reversed(fitting) if i not in era]
    return era + newer


def era_python(release: Release, era_lag_days: int = 90) -> str | None:
    """The newest CPython minor of the release's era that its Requires-Python allows."""
    cutoff = release.date - dt.timedelta(days=era_lag_days)
    fitting = [m for m, day in PYTHON_RELEASED.items() if day <= cutoff and release.python_ok(f"{m}.0")]
    return max(fitting, key=Version, default=None)


def describe_missing(release: Release, interpreters: list[Interpreter], python: SpecifierSet | None) -> str:
    wanted = release.requires_python or "any"
    extra = f" and {python}" if python else ""
    have = ", ".join(i.version for i in interpreters) or "none"
    return (
        f"no installed interpreter fits {release.version} (Requires-Python {wanted}{extra}); "
        f"found: {have}. Install one (e.g. `pyenv install 3.9` or `uv python install 3.9`)."
    )
