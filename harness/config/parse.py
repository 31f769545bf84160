"""matrix.toml → the typed model of harness.config.model, validated.

Every problem found is reported at once, each naming the file, the key and
what was expected, so a run never starts on a matrix that would lie.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.config.model import Demo, Matrix, MatrixError, PROFILES, RESOLUTIONS, ReleaseRange, ServerConfig, Settings, WarmConfig, WorkerConfig, Xfail, _PARSED_SPECIFIERS
from harness.config.needs import NEEDS


# --- parsing ----------------------------------------------------------------

_SETTINGS_TYPES: dict[str, type | tuple[type, ...]] = {
    "package": str,
    "demos_dir": str,
    "reports_dir": str,
    "state_dir": str,
    "releases_file": str,
    "default_profile": str,
    "resolution": str,
    "timeout": (int, float),
    "prereleases": bool,
    "era_lag_days": int,
    "fallbacks": int,
    "jobs": int,
    "retries": int,
}
_DEMO_KEYS = {"path", "story", "variant", "releases", "requirements", "timeout", "python", "needs", "xfail", "warm"}
_XFAIL_KEYS = {"releases", "reason"}
_RANGE_KEYS = {"releases", "constraints", "requirements", "python", "resolution", "env", "canary", "server", "worker", "warm"}
_WARM_KEYS = {"preload", "reset", "commands"}
_SERVER_KEYS = {"command", "env", "url", "health", "export", "timeout"}
_WORKER_KEYS = {"command", "setup", "env", "ready", "timeout"}
_TOP_KEYS = {"harness", "ranges", "demos"}


class _Collector:
    """Collects problems while parsing so all of them are reported together."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def unknown_keys(self, where: str, table: dict, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{where}.{key}", f"unknown key; expected one of: {', '.join(sorted(allowed))}")

    def specifier(self, where: str, value: Any, required: bool = True) -> SpecifierSet | None:
        if value is None:
            if required:
                self.add(where, "missing; expected a PEP 440 version specifier such as '>=2.0,<3'")
            return None
        if not isinstance(value, str):
            self.add(where, f"expected a PEP 440 specifier string, got {type(value).__name__}")
            return None
        try:
            if value not in _PARSED_SPECIFIERS:  # one object per text: specifier_contains caches by identity
                _PARSED_SPECIFIERS[value] = SpecifierSet(value)
            return _PARSED_SPECIFIERS[value]
        except InvalidSpecifier:
            self.add(where, f"{value!r} is not a valid PEP 440 specifier (e.g. '>=2.0,<3', '==1.4.1')")
            return None

    def string(self, where: str, value: Any, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.add(where, "missing; expected a string")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(where, f"expected a non-empty string, got {value!r}")
            return None
        return value

    def strings(self, where: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(where, f"expected a list of strings, got {value!r}")
            return ()
        return tuple(value)

    def requirements(self, where: str, value: Any) -> tuple[str, ...]:
        items = self.strings(where, value)
        for item in items:
            try:
                Requirement(item)
            except InvalidRequirement as exc:
                self.add(where, f"{item!r} is not a valid requirement ({exc})")
        return items

    def number(self, where: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.add(where, f"expected a positive number of seconds, got {value!r}")
            return None
        return float(value)


def load_matrix(path: str | Path) -> Matrix:
    """Parse and validate a matrix file; raise MatrixError listing every problem."""
    path = Path(path).resolve()
    if not path.is_file():
        raise MatrixError(path, [f"file not found (set MATRIX_FILE or pass --matrix to point at one)"])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(path, [f"not valid TOML: {exc}"]) from None
    c = _Collector(path)
    c.unknown_keys("(top level)", data, _TOP_KEYS)
    settings = _parse_settings(c, data.get("harness", {}))
    ranges = tuple(_parse_range(c, i, r) for i, r in enumerate(_tables(c, "ranges", data.get("ranges", []))))
    demos = tuple(_parse_demo(c, i, d, settings) for i, d in enumerate(_tables(c, "demos", data.get("demos", []))))
    if not demos and "demos" not in data:
        c.add("demos", "no [[demos]] declared; expected at least one")
    seen: dict[str, int] = {}
    for i, demo in enumerate(demos):
        if demo is None:
            continue
        if demo.path in seen:
            c.add(f"demos[{i}].path", f"{demo.path!r} is already declared by demos[{seen[demo.path]}]")
        seen[demo.path] = i
    if c.problems:
        raise MatrixError(path, c.problems)
    return Matrix(path=path, settings=settings, demos=demos, ranges=ranges)  # type: ignore[arg-type]


def _tables(c: _Collector, key: str, value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        c.add(key, f"expected an array of tables ([[{key}]])")
        return []
    return value


def _parse_settings(c: _Collector, table: Any) -> Settings:
    if not isinstance(table, dict):
        c.add("harness", "expected a table ([harness])")
        return Settings()
    c.unknown_keys("harness", table, set(_SETTINGS_TYPES))
    values = {}
    for key, kind in _SETTINGS_TYPES.items():
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            c.add(f"harness.{key}", f"expected {_kind_name(kind)}, got {value!r}")
            continue
        values[key] = value
    if values.get("resolution", "as-released") not in RESOLUTIONS:
        c.add("harness.resolution", f"{values['resolution']!r}; expected one of: {', '.join(RESOLUTIONS)}")
    if values.get("default_profile", "majors") not in PROFILES:
        c.add("harness.default_profile", f"{values['default_profile']!r}; expected one of: {', '.join(PROFILES)}")
    if values.get("retries", 0) < 0:
        c.add("harness.retries", f"{values['retries']!r}; expected how many times to retry a failed cell, 0 or more")
    if values.get("jobs", 1) < 1:
        c.add("harness.jobs", f"{values['jobs']!r}; expected a whole number of demos to run at once, 1 or more")
    return Settings(**values)


def _kind_name(kind) -> str:
    if kind == (int, float):
        return "a number"
    return {str: "a string", int: "an integer", bool: "true or false"}[kind]


def _parse_range(c: _Collector, i: int, table: dict) -> ReleaseRange | None:
    where = f"ranges[{i}]"
    c.unknown_keys(where, table, _RANGE_KEYS)
    releases = c.specifier(f"{where}.releases", table.get("releases"))
    python = c.specifier(f"{where}.python", table.get("python"), required=False)
    resolution = c.strings(f"{where}.resolution", table.get("resolution")) or RESOLUTIONS
    for mode in resolution:
        if mode not in RESOLUTIONS:
            c.add(f"{where}.resolution", f"{mode!r}; expected any of: {', '.join(RESOLUTIONS)}")
    env = dict(_env_table(c, f"{where}.env", table.get("env")))
    canary = c.string(f"{where}.canary", table.get("canary"), required=False)
    if canary is not None and not c.path.parent.joinpath(canary).is_file():
        c.add(f"{where}.canary", f"{canary!r} does not exist (paths are relative to {c.path.parent})")
    server = _parse_server(c, f"{where}.server", table.get("server"))
    worker = _parse_worker(c, f"{where}.worker", table.get("worker"))
    warm = _parse_warm(c, f"{where}.warm", table.get("warm"))
    if releases is None:
        return None
    return ReleaseRange(
        releases=releases,
        constraints=c.requirements(f"{where}.constraints", table.get("constraints")),
        requirements=c.requirements(f"{where}.requirements", table.get("requirements")),
        python=python,
        resolution=tuple(resolution),
        env=tuple(sorted(env.items())),
        canary=canary,
        server=server,
        worker=worker,
        warm=warm,
    )


def _parse_warm(c: _Collector, where: str, table: Any) -> tuple[tuple[str, Any], ...]:
    """The keys this [ranges.warm] sets; an env without preload (from any of its ranges) has no warm runner."""
    if table is None:
        return ()
    if not isinstance(table, dict):
        c.add(where, "expected a table ([ranges.warm])")
        return ()
    c.unknown_keys(where, table, _WARM_KEYS)
    given: dict[str, Any] = {}
    if "preload" in table:
        given["preload"] = c.strings(f"{where}.preload", table["preload"])
        if not given["preload"]:
            c.add(f"{where}.preload", "expected a non-empty list of module names to import once per env")
    if "reset" in table:
        reset = given["reset"] = table["reset"]
        if not isinstance(reset, str):
            c.add(f"{where}.reset", "expected Python code as a string")
            given["reset"] = ""
        else:
            try:
                compile(reset, f"{where}.reset", "exec")
            except SyntaxError as exc:
                c.add(f"{where}.reset", f"not valid Python: {exc.msg} (line {exc.lineno})")
    if "commands" in table:
        given["commands"] = c.strings(f"{where}.commands", table["commands"])
        for i, name in enumerate(given["commands"]):
            if not name or "/" in name:
                c.add(f"{where}.commands[{i}]", f"expected the name of a script in the env's bin folder, got {name!r}")
    return tuple(given.items())


def _env_table(c: _Collector, where: str, env: Any) -> tuple[tuple[str, str], ...]:
    if env is None:
        return ()
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        c.add(where, "expected a table of string values, e.g. { NAME = \"{home}/x\" }")
        return ()
    return tuple(sorted(env.items()))


def _command(c: _Collector, where: str, value: Any, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        c.add(where, f"expected a command as a non-empty list of strings, got {value!r}")
        return ()
    return tuple(value)


def _parse_server(c: _Collector, where: str, table: Any) -> ServerConfig | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        c.add(where, "expected a table ([ranges.server])")
        return None
    c.unknown_keys(where, table, _SERVER_KEYS)
    fields: dict[str, Any] = {"command": _command(c, f"{where}.command", table.get("command"))}
    fields["env"] = _env_table(c, f"{where}.env", table.get("env"))
    for key in ("url", "health", "export"):
        if key in table:
            fields[key] = c.string(f"{where}.{key}", table[key])
    if "timeout" in table:
        fields["timeout"] = c.number(f"{where}.timeout", table["timeout"])
    return ServerConfig(**{k: v for k, v in fields.items() if v is not None})


def _parse_worker(c: _Collector, where: str, table: Any) -> WorkerConfig | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        c.add(where, "expected a table ([ranges.worker])")
        return None
    c.unknown_keys(where, table, _WORKER_KEYS)
    setup = table.get("setup", [])
    if not isinstance(setup, list):
        c.add(f"{where}.setup", "expected a list of commands (each a list of strings)")
        setup = []
    fields: dict[str, Any] = {
        "command": _command(c, f"{where}.command", table.get("command")),
        "setup": tuple(_command(c, f"{where}.setup[{i}]", step) for i, step in enumerate(setup)),
        "env": _env_table(c, f"{where}.env", table.get("env")),
    }
    if "ready" in table:
        fields["ready"] = c.string(f"{where}.ready", table["ready"])
    if "timeout" in table:
        fields["timeout"] = c.number(f"{where}.timeout", table["timeout"])
    return WorkerConfig(**{k: v for k, v in fields.items() if v is not None})


def _parse_demo(c: _Collector, i: int, table: dict, settings: Settings) -> Demo | None:
    label = table.get("path") if isinstance(table.get("path"), str) else f"#{i}"
    where = f"demos[{i}] ({label})"
    c.unknown_keys(where, table, _DEMO_KEYS)
    path = c.string(f"{where}.path", table.get("path"))
    if path is not None:
        if not c.path.parent.joinpath(path).is_file():
            c.add(f"{where}.path", f"{path!r} does not exist (paths are relative to {c.path.parent})")
        elif not path.endswith(".py"):
            c.add(f"{where}.path", f"{path!r} is not a Python script; expected a .py file")
    story = c.string(f"{where}.story", table.get("story"))
    variant = c.string(f"{where}.variant", table.get("variant"), required=False)
    releases = c.specifier(f"{where}.releases", table.get("releases"))
    python = c.specifier(f"{where}.python", table.get("python"), required=False)
    needs = c.strings(f"{where}.needs", table.get("needs"))
    for need in needs:
        if need not in NEEDS:
            c.add(f"{where}.needs", f"unknown need {need!r}; expected any of: {', '.join(sorted(NEEDS))}")
    xfails = []
    for j, entry in enumerate(_tables(c, f"{where}.xfail", table.get("xfail", []))):
        xwhere = f"{where}.xfail[{j}]"
        c.unknown_keys(xwhere, entry, _XFAIL_KEYS)
        spec = c.specifier(f"{xwhere}.releases", entry.get("releases"))
        reason = c.string(f"{xwhere}.reason", entry.get("reason"))
        if spec is not None and reason is not None:
            xfails.append(Xfail(spec, reason))
    requirements = c.requirements(f"{where}.requirements", table.get("requirements"))
    timeout = c.number(f"{where}.timeout", table.get("timeout"))
    warm = table.get("warm", True)
    if not isinstance(warm, bool):
        c.add(f"{where}.warm", f"expected true or false, got {warm!r}")
        warm = True
    if path is None or story is None or releases is None:
        return None
    return Demo(
        path=Path(path).as_posix(),
        story=story,
        variant=variant or Path(path).stem,
        releases=releases,
        requirements=requirements,
        timeout=timeout,
        python=python,
        needs=needs,
        xfail=tuple(xfails),
        warm=warm,
    )
