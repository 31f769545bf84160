"""A plan (or a matrix check) made once per change of what it is made from, kept in the state folder.

Every nox process plans afresh: the parent that lists the sessions, each
`--parallel` worker, and the report. On a re-run with nothing changed, that
planning (reading the snapshot and the baseline, compiling every demo, asking
each demo about each release) was most of each process's time. A kept result
is used only while every file it was made from has the same size, mtime and
inode: the matrix and its preset, the snapshot, the baseline, the interpreter
list and the places interpreters are found in (pyenv's and uv's folders, each
python3.X on PATH), every script under the demos folder, and the harness's own
files (its code and its presets); `load_plan` adds git's id of the committed
results.json, whose durations order the sessions. A kept file that is unreadable, cut or
foreign is ignored, and the plan is made afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import harness
from harness import __version__
from harness.config.files import walk_files
from harness.config.model import Matrix
from harness.config.parse import load_matrix
from harness.plan.check import check_matrix, not_demos
from harness.plan.interpreters import discovery_sources
from harness.plan.releases import Release

PLANS = "plans"  # in the state folder
T = TypeVar("T")
_SOURCES = Path(harness.__file__).parent


def source_files(matrix: Matrix) -> list[Path]:
    """What a plan is read from: the matrix's own files, the scripts, and the harness that reads them."""
    demos_dir = matrix.resolve(matrix.settings.demos_dir)
    scripts = list(walk_files(demos_dir, matrix.root, matrix.settings.exclude, not_demos(matrix))) \
        if demos_dir.is_dir() else []
    declared = [matrix.resolve(d.path) for d in matrix.demos]
    state = matrix.resolve(matrix.settings.state_dir)
    reports = matrix.resolve(matrix.settings.reports_dir)
    harness_sources = sorted(p for p in _SOURCES.rglob("*") if "__pycache__" not in p.parts)  # code, presets
    return [matrix.path, *matrix.sources, matrix.resolve(matrix.settings.releases_file), reports / "results.json",
            state / "interpreters.json", *discovery_sources(), *scripts, *declared, *harness_sources]


def _stamp(files: list[Path], values: tuple) -> str:
    digest = hashlib.sha256(repr((__version__, sys.version, values)).encode())
    for path in files:
        try:
            info = path.stat()
            seen = (info.st_size, info.st_mtime_ns, info.st_ino)
        except OSError:
            seen = None
        digest.update(f"{path}\0{seen}\0".encode())
    return digest.hexdigest()


def memoized(matrix: Matrix, kind: str, values: tuple, compute: Callable[[], T]) -> T:
    """compute(), or what it returned last time from the same files and `values` (the arguments)."""
    stamp = _stamp(source_files(matrix), values)
    kept = matrix.resolve(matrix.settings.state_dir) / PLANS / f"{kind}.pickle"
    with contextlib.suppress(Exception):  # absent, cut, or written by another version: plan afresh
        with kept.open("rb") as handle:
            if pickle.load(handle) == stamp:
                return pickle.load(handle)
    result = compute()
    with contextlib.suppress(OSError):  # a read-only or full state folder plans every time, and says nothing
        kept.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=kept.parent, prefix=f".{kind}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(stamp, handle)
                pickle.dump(result, handle)
            os.replace(temporary, kept)  # whole or not at all: parallel workers write at once
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
    return result


def checked_matrix(path: Path) -> tuple[Matrix, list[Release]]:
    """check_matrix(path), kept like a plan: the report checks the matrix too."""
    return memoized(load_matrix(path), "check", ("check", str(path)), lambda: check_matrix(path))
