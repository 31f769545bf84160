"""matrix.toml → a typed, validated model.

Every problem found is reported at once, each naming the file, the key and
what was expected, so a run never starts on a matrix that would lie.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet

from harness.config.options import PROFILES, RESOLUTIONS, Settings  # noqa: F401  (the model's vocabulary)

HARNESS_HOME = Path(__file__).resolve().parents[2]  # the checkout the harness runs from


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
    postgres_env: tuple[tuple[str, str], ...] = ()  # with backend "postgres": the variables naming {database_url}
    # when its database is a copy an earlier server of the same env left migrated (run/database.py)
    restored_env: tuple[tuple[str, str], ...] = ()


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
    # a race: it fails on these releases only some of the time. A fail (after the retry) is recorded xfail,
    # a pass stays a pass or a flaky, never an xpass: passing once does not show the entry can go
    intermittent: bool = False


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
    skip: str = ""  # why this script must never run (recorded as skipped with this reason)

    def claims(self, version) -> bool:
        return specifier_contains(self.releases, version)

    def xfail_entry(self, version) -> Xfail | None:
        for entry in self.xfail:
            if specifier_contains(entry.releases, version):
                return entry
        return None

    def xfail_reason(self, version) -> str | None:
        entry = self.xfail_entry(version)
        return entry.reason if entry is not None else None


@dataclass(frozen=True)
class ReleaseRange:
    """Settings for the releases a specifier matches: how to install and run them faithfully.

    `sets` holds only the keys the range sets (its tables as dicts, paths made absolute),
    so that a later matching range overrides exactly those (see `merge_keys`)."""

    releases: SpecifierSet
    sets: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it was declared, for messages: "ranges[2]", "preset prefect: ranges[4]"


@dataclass(frozen=True)
class Pin:
    """Constraints that only serve `latest` resolution: today's dependencies that break old releases."""

    releases: SpecifierSet
    by_package: tuple[tuple[str, tuple[str, ...]], ...]  # a later matching pin overrides the packages it names
    why: str
    requirements: tuple[str, ...] = ()  # packages today's install no longer pulls in by itself, added under `latest`


def merge_keys(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """The one merge rule: `later` overrides the keys it sets; a table in both merges key by key,
    a list or a scalar replaces."""
    merged = dict(earlier)
    for key, value in later.items():
        both_tables = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge_keys(merged[key], value) if both_tables else value
    return merged


@dataclass(frozen=True)
class EnvSettings:
    """What a release's env gets: its matching ranges merged in order, plus its pins under `latest`."""

    constraints: tuple[str, ...]
    requirements: tuple[str, ...]
    python: SpecifierSet | None
    env: dict[str, str]
    canary: str | None  # an absolute path
    server: ServerConfig | None = None
    worker: WorkerConfig | None = None
    warm: WarmConfig | None = None
    needs: dict[str, dict[str, str]] = field(default_factory=dict)  # need → the era's variables when it is enabled

    def need_variables(self, needs: tuple[str, ...], enabled: dict[str, str]) -> dict[str, str]:
        """The era's own settings for the demo's enabled needs, filled from the need's variables."""
        found = {}
        for name in needs:
            for var, template in self.needs.get(name, {}).items():
                try:
                    found[var] = template.format(**enabled)
                except KeyError:  # a variable the template names is not set: the need's own check says so
                    continue
        return found


def server_backend(backend: str, server: ServerConfig | None) -> str:
    """The database an env's API server runs on: none without a server; PostgreSQL when the matrix asks for it
    and the server says how to take a database (`postgres_env`); else the server's own file ("sqlite")."""
    if server is None:
        return ""
    return "postgres" if backend == "postgres" and server.postgres_env else "sqlite"


def _service(config: type, what: str, keys: dict[str, Any], ranges: list[ReleaseRange]):
    """A server or worker from its merged keys; the command may come from one range, the rest from others."""
    if what not in keys:
        return None
    fields = {k: v for k, v in keys[what].items() if v is not None and k != "env"}
    if not fields.get("command"):
        named = ", ".join(r.source for r in ranges if what in r.sets)
        raise ValueError(f"[ranges.{what}] has no command once its ranges are merged ({named}); "
                         f"expected a matching range that sets {what}.command")
    return config(**fields, env=tuple(sorted(keys[what].get("env", {}).items())))


@dataclass(frozen=True)
class Matrix:
    path: Path
    settings: Settings
    demos: tuple[Demo, ...]
    ranges: tuple[ReleaseRange, ...] = field(default=())  # the preset's first, then the matrix's own
    pins: tuple[Pin, ...] = field(default=())
    sources: tuple[Path, ...] = field(default=())  # the preset's files: part of what this matrix says

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return self.root / relative

    @property
    def own(self) -> bool:
        """This project's own matrix (beside the noxfile that declares its sessions), not another repository's."""
        return self.root.resolve() == HARNESS_HOME and self.path.name == "matrix.toml"

    def command(self, sub: str) -> str:
        """How a reader reruns `sub` (`report`, `refresh`…) on this matrix: the nox session here, the module
        with --matrix elsewhere (another repository has no noxfile of ours)."""
        if self.own:
            return f"nox -s {sub.split()[0]}" + (f" -- {sub.split(' ', 1)[1]}" if " " in sub else "")
        return f"python3 -m harness --matrix {self.path} {sub}"

    @property
    def images_dir(self) -> Path:
        """The picture's folder: images/ of this project (its README shows it), reports/images of any other."""
        return self.root / "images" if self.own else self.resolve(self.settings.reports_dir) / "images"

    def with_backend(self, backend: str | None) -> Matrix:
        """This matrix with its API servers on `backend` (MATRIX_BACKEND, --backend); itself when None."""
        if backend is None or backend == self.settings.backend:
            return self
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, backend=backend))

    @functools.cached_property
    def version(self) -> str:
        """Hash of matrix.toml and its preset's files: records from different versions are
        not merged into one report."""
        digest = hashlib.sha256(self.path.read_bytes())
        for source in self.sources:
            digest.update(b"\0" + source.name.encode() + b"\0" + source.read_bytes())
        return digest.hexdigest()[:12]

    def matching_ranges(self, version) -> list[ReleaseRange]:
        return [rng for rng in self.ranges if specifier_contains(rng.releases, version)]

    def pinned(self, version) -> tuple[str, ...]:
        """The constraints of every pin matching `version`; a later pin overrides the packages it names."""
        by_package: dict[str, tuple[str, ...]] = {}
        for pin in self.pins:
            if specifier_contains(pin.releases, version):
                by_package.update(pin.by_package)
        return tuple(c for constraints in by_package.values() for c in constraints)

    def pinned_requirements(self, version) -> tuple[str, ...]:
        """What every pin matching `version` adds under `latest` (a dependency today's releases stopped bringing)."""
        found: list[str] = []
        for pin in self.pins:
            if specifier_contains(pin.releases, version):
                found += [r for r in pin.requirements if r not in found]
        return tuple(found)

    def today_text(self, version) -> str:
        """What a customer installing `version` today needs besides `pip install`: ', with A pinned, B added'."""
        pins, added = self.pinned(version), self.pinned_requirements(version)
        return (f", with {', '.join(pins)} pinned" if pins else "") + (f", {', '.join(added)} added" if added else "")

    def env_settings(self, version, resolution: str) -> EnvSettings:
        """Raises MatrixError when the merged ranges leave a server or worker without a command."""
        ranges = self.matching_ranges(version)
        keys: dict[str, Any] = {}
        for rng in ranges:
            keys = merge_keys(keys, rng.sets)
        warm = keys.get("warm", {})
        try:
            server = _service(ServerConfig, "server", keys, ranges)
            worker = _service(WorkerConfig, "worker", keys, ranges)
        except ValueError as exc:
            raise MatrixError(self.path, [f"releases {version}: {exc}"]) from None
        return EnvSettings(
            constraints=tuple(keys.get("constraints", ())) + (self.pinned(version) if resolution == "latest" else ()),
            requirements=tuple(keys.get("requirements", ()))
            + (self.pinned_requirements(version) if resolution == "latest" else ()),
            python=keys.get("python"),
            env=dict(keys.get("env", {})),
            canary=keys.get("canary"),
            server=server,
            worker=worker,
            warm=WarmConfig(**warm) if warm.get("preload") else None,
            needs=dict(keys.get("needs", {})),
        )

    def demos_for(self, version) -> list[Demo]:
        return [d for d in self.demos if d.claims(version)]


