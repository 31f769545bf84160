"""Compiled bytecode kept between envs, so a new env does not compile again what an earlier one did.

uv installs a package by hard-linking the files of its cache into the env, so
every env built from the same wheel holds the very same source files (same
inode, same modification time). An env's interpreters write their bytecode
under the env's own PYTHONPYCACHEPREFIX folder; when a session ends,
`harvest` links each file it finds there into the store, named after its
source file's identity. `seed` links them back into a new env's folder for
the sources it shares. Python checks every .pyc against its source (time and
size) before using it, and a source that differs is another file with another
name, so a stale entry is never used: at worst the module compiles as before.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

SKIP_FOLDERS = {"__pycache__", "site-packages", "test", "tests"}  # under the interpreter's own library


@dataclass(frozen=True)
class BytecodeCount:
    files: int
    seconds: float


def _key(stat: os.stat_result) -> str:
    return f"{stat.st_dev:x}-{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}.pyc"


def _pyc_matches(pyc: Path, source: os.stat_result) -> bool:
    """The .pyc was compiled from this source as it is now (PEP 552 header)."""
    try:
        with pyc.open("rb") as handle:
            header = handle.read(16)
    except OSError:
        return False
    if len(header) < 16:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:  # hash-based: Python checks the source's hash itself
        return True
    mtime, size = int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")
    return mtime == (int(source.st_mtime) & 0xFFFFFFFF) and size == (source.st_size & 0xFFFFFFFF)


def _split(pyc_name: str) -> tuple[str, str]:
    """'flows.cpython-313.pyc' -> ('flows', 'cpython-313'); optimization tags stay in the tag."""
    module, _, rest = pyc_name.partition(".")
    return module, rest[: -len(".pyc")]


def harvest(pycache: Path, store: Path) -> BytecodeCount:
    """Link every valid .pyc under an env's bytecode folder into the store (those it lacks)."""
    started, added = time.monotonic(), 0
    known: dict[str, set[str]] = {}
    for folder, _, names in os.walk(pycache):
        source_dir = Path("/", os.path.relpath(folder, pycache))
        for name in names:
            if not name.endswith(".pyc"):
                continue
            module, tag = _split(name)
            if not tag:
                continue
            try:
                source = os.stat(source_dir / f"{module}.py")
            except OSError:
                continue
            if tag not in known:
                (store / tag).mkdir(parents=True, exist_ok=True)
                known[tag] = set(os.listdir(store / tag))
            key = _key(source)
            pyc = Path(folder) / name
            if key in known[tag] or not _pyc_matches(pyc, source):
                continue
            try:
                os.link(pyc, store / tag / key)
            except FileExistsError:  # another session stored it meanwhile
                pass
            except OSError:
                continue
            known[tag].add(key)
            added += 1
    return BytecodeCount(added, time.monotonic() - started)


def _library_folders(env_dir: Path) -> list[Path]:
    """The base interpreter's own library (pyvenv.cfg names its home): its modules compile into the env's folder too."""
    try:
        config = (env_dir / "pyvenv.cfg").read_text()
    except OSError:
        return []
    home = next((line.split("=", 1)[1].strip() for line in config.splitlines()
                 if line.split("=", 1)[0].strip() == "home"), "")
    return sorted(Path(home).parent.glob("lib/python3*")) if home else []


def _sources(env_dir: Path, pycache: Path):
    """(folder, .py names) of every module an env's interpreters may compile."""
    for root, skip in [(env_dir, {"__pycache__"})] + [(lib, SKIP_FOLDERS) for lib in _library_folders(env_dir)]:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [d for d in subfolders if d not in skip and Path(folder, d) != pycache]
            yield folder, [name for name in names if name.endswith(".py")]


def seed(env_dir: Path, pycache: Path, store: Path, tags: set[str]) -> BytecodeCount:
    """Link the store's bytecode for the sources a new env shares with earlier ones into its bytecode folder.

    `tags` are the cache tags of the interpreters that run in the env ('cpython-313'); optimization
    variants of them ('cpython-313.opt-1') come along.
    """
    started, linked = time.monotonic(), 0
    try:
        stored = {tag: set(os.listdir(store / tag)) for tag in os.listdir(store) if tag.split(".")[0] in tags}
    except OSError:
        return BytecodeCount(0, 0.0)
    stored = {tag: keys for tag, keys in stored.items() if keys}
    if not stored:
        return BytecodeCount(0, 0.0)
    env_dir, pycache = Path(os.path.abspath(env_dir)), Path(os.path.abspath(pycache))
    for folder, names in _sources(env_dir, pycache):
        target = pycache / os.path.relpath(folder, "/")
        made = False
        for name in names:
            try:
                key = _key(os.stat(Path(folder, name)))
            except OSError:
                continue
            for tag, keys in stored.items():
                if key not in keys:
                    continue
                if not made:
                    target.mkdir(parents=True, exist_ok=True)
                    made = True
                try:
                    os.link(store / tag / key, target / f"{name[:-3]}.{tag}.pyc")
                    linked += 1
                except OSError:
                    pass
    return BytecodeCount(linked, time.monotonic() - started)


def cache_tag(python_version: str) -> str:
    """The tag CPython gives its .pyc files: '3.13.0' -> 'cpython-313'."""
    major, minor = python_version.split(".")[:2]
    return f"cpython-{major}{minor}"
