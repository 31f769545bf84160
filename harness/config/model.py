"""matrix.toml → a typed, validated model.

Every problem found is reported at once, each naming the file, the key and
what was expected, so a run never starts on a matrix that would lie.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.requirements import InvalidRequirement, Requirement


RESOLUTIONS = ("as-released", "latest")
PROFILES = ("majors", "minors", "edges", "all", "new")  # new: releases the baseline has not seen


class MatrixError(Exception):
    """The matrix file is invalid; `problems` lists every finding."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class ServerConfig:
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    url: str = "http://{host}:{port}/api"
    health: str = "{url}/health"
    export: str = "API_URL"  # the variable that hands the URL to demos
    timeout: float = 120.0


@dataclass(frozen=True)
class WorkerConfig:
    command: tuple[str, ...]
    setup: tuple[tuple[str, ...], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ready: str = ""  # a regex the worker's log shows once it polls
    timeout: float = 90.0


@dataclass(frozen=True)
class WarmConfig:
    """[ranges.warm]: modules to import once per env, code each forked child runs first, and
    the env's scripts (`commands`) whose calls fork from the warm runner too."""

    preload: tuple[str, ...]
    reset: str = ""
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Xfail:
    releases: SpecifierSet
    reason: str


_CONTAINS: dict[tuple[int, Any], bool] = {}
_SPECIFIERS: dict[int, SpecifierSet] = {}  # keeps each cached specifier alive, so its id stays its own
_PARSED_SPECIFIERS: dict[str, SpecifierSet] = {}


def specifier_contains(specifier: SpecifierSet, version) -> bool:
    """Cached by identity: reports and plans ask each demo about each of hundreds of releases,
    and hashing a SpecifierSet costs more than the question."""
    key = (id(specifier), version)
    answer = _CONTAINS.get(key)
    if answer is None:
        _SPECIFIERS[id(specifier)] = specifier
        answer = _CONTAINS[key] = specifier.contains(version, prereleases=True)
    return answer


@dataclass(frozen=True)
class Demo:
    path: str  # relative to the matrix file's folder, posix style
    story: str
    variant: str
    releases: SpecifierSet
    requirements: tuple[str, ...] = ()
    timeout: float | None = None
    python: SpecifierSet | None = None
    needs: tuple[str, ...] = ()
    xfail: tuple[Xfail, ...] = ()
    warm: bool = True  # may run forked from the env's warm runner

    def claims(self, version) -> bool:
        return specifier_contains(self.releases, version)

    def xfail_reason(self, version) -> str | None:
        for entry in self.xfail:
            if specifier_contains(entry.releases, version):
                return entry.reason
        return None


@dataclass(frozen=True)
class ReleaseRange:
    """Settings for the releases a specifier matches: how to install and run them faithfully."""

    releases: SpecifierSet
    constraints: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    python: SpecifierSet | None = None
    resolution: tuple[str, ...] = RESOLUTIONS
    env: tuple[tuple[str, str], ...] = ()
    canary: str | None = None
    server: ServerConfig | None = None
    worker: WorkerConfig | None = None
    warm: tuple[tuple[str, Any], ...] = ()  # the [ranges.warm] keys this range sets; later ranges override key by key


@dataclass(frozen=True)
class Settings:
    package: str = "prefect"
    demos_dir: str = "demos"
    reports_dir: str = "reports"
    state_dir: str = ".matrix"
    releases_file: str = "reports/releases.json"
    default_profile: str = "majors"
    resolution: str = "as-released"
    timeout: float = 300.0
    prereleases: bool = False
    era_lag_days: int = 90
    fallbacks: int = 2
    retries: int = 1  # a failed or timed-out cell runs again at once; a pass then is recorded as flaky
    jobs: int = 1  # demos of one env run at once; more only pays for demos that wait more than they compute


@dataclass(frozen=True)
class EnvSettings:
    """What every release's env gets, merged from all matching ranges."""

    constraints: tuple[str, ...]
    requirements: tuple[str, ...]
    python: SpecifierSet | None
    env: dict[str, str]
    canary: str | None
    server: ServerConfig | None = None
    worker: WorkerConfig | None = None
    warm: WarmConfig | None = None


@dataclass(frozen=True)
class Matrix:
    path: Path
    settings: Settings
    demos: tuple[Demo, ...]
    ranges: tuple[ReleaseRange, ...] = field(default=())

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return self.root / relative

    @functools.cached_property
    def version(self) -> str:
        """Hash of matrix.toml: records from different versions are not merged into one report."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]

    def env_settings(self, version, resolution: str) -> EnvSettings:
        constraints: list[str] = []
        requirements: list[str] = []
        python: SpecifierSet | None = None
        env: dict[str, str] = {}
        canary = server = worker = None
        warm: dict[str, Any] = {}
        for rng in self.ranges:
            if resolution not in rng.resolution or not specifier_contains(rng.releases, version):
                continue
            constraints += rng.constraints
            requirements += rng.requirements
            if rng.python is not None:
                python = rng.python if python is None else python & rng.python
            env.update(rng.env)
            canary = rng.canary or canary
            server = rng.server or server
            worker = rng.worker or worker
            warm.update(rng.warm)
        return EnvSettings(tuple(constraints), tuple(requirements), python, env, canary, server, worker,
                           WarmConfig(**warm) if warm.get("preload") else None)

    def demos_for(self, version) -> list[Demo]:
        return [d for d in self.demos if d.claims(version)]


