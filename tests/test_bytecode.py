"""Bytecode one env compiled is used by the next env that shares the source file, and never for another file.

Each test lays out env folders as uv leaves them (sources hard-linked from one
cache), lets a real interpreter import from them with PYTHONPYCACHEPREFIX, and
checks what that interpreter then reads or writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.run.bytecode import harvest, seed

TAG = sys.implementation.cache_tag


def import_in(env: Path, module: str) -> str:
    """Import `module` from the env's lib folder as the env's interpreters do; its answer."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environ.update(PYTHONPATH=str(env / "lib"), PYTHONPYCACHEPREFIX=str(env / "pycache"))
    code = f"import {module}; print({module}.answer(), {module}.answer.__code__.co_filename)"
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True).stdout


def pyc_of(env: Path, source: Path) -> Path:
    return env / "pycache" / os.path.relpath(source.parent, "/") / f"{source.stem}.{TAG}.pyc"


def make_env(root: Path, name: str) -> Path:
    env = root / name
    (env / "lib").mkdir(parents=True)
    return env


def compiled_env(root: Path, module: str, answer: str) -> Path:
    """An env whose interpreter imported `module` (so compiled it), its bytecode harvested into root/store."""
    env = make_env(root, "first")
    (env / "lib" / f"{module}.py").write_text(f"def answer():\n    return {answer!r}\n")
    import_in(env, module)
    harvest(env / "pycache", root / "store")
    return env


def test_a_new_env_uses_the_bytecode_of_a_source_it_shares(tmp_path):
    store = tmp_path / "store"
    first = make_env(tmp_path, "first")
    (first / "lib" / "shared.py").write_text("def answer():\n    return 'shared'\n")
    import_in(first, "shared")

    assert harvest(first / "pycache", store).files >= 1  # the standard library's modules it imported count too
    second = make_env(tmp_path, "second")
    os.link(first / "lib" / "shared.py", second / "lib" / "shared.py")  # as uv installs from its cache
    shutil.rmtree(first)  # env folders are deleted; the store is not

    assert seed(second, second / "pycache", store, {TAG}).files == 1
    seeded = pyc_of(second, second / "lib" / "shared.py")
    inode = seeded.stat().st_ino
    # the interpreter accepts it (it would replace an invalid one with a new file) and reports the new path
    assert import_in(second, "shared").split() == ["shared", str(second / "lib" / "shared.py")]
    assert seeded.stat().st_ino == inode


def test_a_different_file_with_the_same_name_and_size_gets_none(tmp_path):
    store = tmp_path / "store"
    first = compiled_env(tmp_path, "mod", "one")

    second = make_env(tmp_path, "second")
    (second / "lib" / "mod.py").write_text("def answer():\n    return 'two'\n")  # same size, another file
    os.utime(second / "lib" / "mod.py", ns=(0, (first / "lib" / "mod.py").stat().st_mtime_ns))  # even the same time

    assert seed(second, second / "pycache", store, {TAG}).files == 0
    assert import_in(second, "mod").split()[0] == "two"


def test_bytecode_of_a_source_changed_since_is_not_kept(tmp_path):
    store = tmp_path / "store"
    env = make_env(tmp_path, "env")
    source = env / "lib" / "edited.py"
    source.write_text("def answer():\n    return 'old'\n")
    import_in(env, "edited")
    source.write_text("def answer():\n    return 'newer'\n")  # its .pyc no longer matches

    harvest(env / "pycache", store)
    later = make_env(tmp_path, "later")
    os.link(source, later / "lib" / "edited.py")
    assert seed(later, later / "pycache", store, {TAG}).files == 0
    assert import_in(later, "edited").split()[0] == "newer"


def test_harvest_and_seed_keep_to_their_interpreters(tmp_path):
    store = tmp_path / "store"
    first = compiled_env(tmp_path, "shared", "shared")
    assert harvest(first / "pycache", store).files == 0  # already stored: nothing added twice

    second = make_env(tmp_path, "second")
    os.link(first / "lib" / "shared.py", second / "lib" / "shared.py")
    assert seed(second, second / "pycache", store, {"cpython-20"}).files == 0  # another Python's tag
    assert not (second / "pycache").exists()
    assert seed(second, second / "pycache", tmp_path / "no-store", {TAG}).files == 0
