"""A cell's cache inputs: everything that can change its result, hashed into its key.

A cell whose key matches a result recorded on this machine is not run again
(unless the run is forced): its record is repeated, marked `reused`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.config.files import walk_files
from harness.config.model import Demo, Matrix, server_backend
from harness.config.needs import NeedCheck
from harness.plan.check import not_demos
from harness.plan.interpreters import Interpreter
from harness.plan.sessions import SessionPlan
from harness.results.outcomes import REUSABLE
from harness.results.records import CellResult
from harness.run.envs import EnvSpec


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def support_hash(folder: Path, matrix: Matrix | None = None) -> str:
    """What a demo may read besides itself: helper modules (`_x.py`) and data files in its folder.

    Other scripts (declared demos) and READMEs (prose, and a block the report rewrites) do not count, nor
    what config.files leaves out (the state folder, virtualenvs, `exclude`).
    """
    digest = hashlib.sha256()
    root = matrix.root if matrix is not None else folder
    globs = matrix.settings.exclude if matrix is not None else ()
    for path in sorted(walk_files(folder, root, globs, not_demos(matrix) if matrix is not None else ())):
        if path.suffix == ".pyc" or path.name == "README.md":
            continue
        if path.suffix == ".py" and not path.name.startswith("_"):
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def env_inputs(spec: EnvSpec, candidates: list[Interpreter]) -> list[str]:
    """What every cell of a session shares: the harness, the release, and how its env is built and run."""
    settings = spec.settings
    canary = spec.canary.read_bytes() if spec.canary else b""
    return [
        __version__, spec.package, spec.release.version, spec.resolution,
        " ".join(i.version for i in candidates), repr(settings.constraints),
        repr(settings.requirements), repr(sorted(settings.env.items())), repr(settings.server), repr(settings.worker),
        hashlib.sha256(canary).hexdigest(),
    ]


def demo_inputs(demo: Demo, release, default_timeout: float, needs: NeedCheck, demo_hash: str,
                support: str) -> list[str]:
    """What is the demo's own: its file, its folder's support files, its declarations, the services it gets."""
    xfail = demo.xfail_entry(release)
    return [
        demo_hash, support, repr(demo.timeout or default_timeout), repr(demo.python),
        repr(xfail.reason if xfail is not None else None), repr(demo.needs),
        repr(sorted(needs.env or {})),  # which services are enabled, never their secrets
        str(needs.available),
    ] + ([f"requirements={sorted(demo.requirements)!r}"] if demo.requirements else []) + (  # its own overlay
        ["xfail=intermittent"] if xfail is not None and xfail.intermittent else [])


def cache_key(inputs: list[str]) -> str:
    return hashlib.sha256("\0".join(inputs).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheInputs:
    """Each demo's key and file hash for one session: the files are read once, before anything runs."""

    keys: dict[str, str]  # demo path → cache key
    demo_hashes: dict[str, str]  # demo path → hash of the script

    def reusable(self, recorded: dict[tuple[str, str, str], CellResult], release: str,
                 resolution: str) -> dict[str, CellResult]:
        """The recorded cells whose inputs are this run's and whose outcome may stand for a new run."""
        found = {}
        for path, key in self.keys.items():
            earlier = recorded.get((path, release, resolution))
            if earlier is not None and earlier.cache_key == key and earlier.outcome in REUSABLE:
                found[path] = earlier
        return found


def cache_inputs(matrix: Matrix, plan: SessionPlan, spec: EnvSpec, needs: dict[str, NeedCheck]) -> CacheInputs:
    shared = env_inputs(spec, plan.candidates)
    backend = server_backend(matrix.settings.backend, spec.settings.server)
    if backend:  # the server's database: only an env with a server has one
        shared.append(f"backend={backend}")
    if matrix.settings.cwd != "matrix":  # where the demo runs from; the default adds nothing (keys stay as they were)
        shared.append(f"cwd={matrix.settings.cwd}")
    demo_hashes = {d.path: file_hash(matrix.resolve(d.path)) for d in plan.demos}
    folders = {matrix.resolve(d.path).parent for d in plan.demos}
    supports = {folder: support_hash(folder, matrix) for folder in folders}
    keys = {
        d.path: cache_key(shared + demo_inputs(d, plan.release.parsed, matrix.settings.timeout, needs[d.path],
                                               demo_hashes[d.path], supports[matrix.resolve(d.path).parent]))
        for d in plan.demos
    }
    return CacheInputs(keys, demo_hashes)
