"""Which files of a demo folder are the matrix's business: a walk that never enters the state folder, a
virtualenv, version control or caches, and skips what `[harness] exclude` names. `check` finds undeclared
scripts with it and the cache hashes a demo's support files with it, so a folder of scripts with its own
`.venv/` (or the harness's `.matrix/` inside it) is neither scanned nor hashed."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".nox", ".tox", ".venv", "venv", "node_modules",
                          ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def excluded(relative: str, globs: tuple[str, ...]) -> bool:
    """`relative`: a posix path from the matrix's folder; a glob matches it or one of its parent folders."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(c, g.rstrip("/")) for g in globs for c in candidates)


def walk_files(folder: Path, root: Path, globs: tuple[str, ...], skip: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Every file under `folder`, sorted, leaving out SKIPPED_DIRS, virtualenvs, `skip` (the state folder…) and
    what the globs (relative to `root`) exclude."""
    skip = tuple(p.resolve() for p in skip)
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not is_venv(here / d)
                         and (here / d).resolve() not in skip
                         and not excluded((here / d).relative_to(root).as_posix(), globs))
        for name in sorted(files):
            path = here / name
            if not excluded(path.relative_to(root).as_posix(), globs):
                yield path
