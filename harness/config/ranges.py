"""[[ranges]] and [[pins]] of a matrix or a preset → ReleaseRange and Pin, validated.

A range keeps only the keys it sets (tables as dicts), because ranges merge by one
rule (Matrix.env_settings): a later matching range overrides the keys it sets.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.config.collect import Collector, compile_problem, read_utf8
from harness.config.model import MatrixError, Pin, ReleaseRange
from harness.config.needs import NEEDS
from harness.config.templates import TEMPLATE_NAMES, template_problem

_RANGE_KEYS = {"releases", "constraints", "requirements", "python", "env", "canary", "server", "worker", "warm",
               "needs"}
_PIN_KEYS = {"releases", "constraints", "requirements", "why"}
_WARM_KEYS = {"preload", "reset", "commands"}
_SERVER_KEYS = {"command", "env", "url", "health", "export", "timeout", "postgres_env", "restored_env"}
_WORKER_KEYS = {"command", "setup", "env", "ready", "timeout"}


def tables(c: Collector, key: str, value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        c.add(key, f"expected an array of tables ([[{key}]])")
        return []
    return value


def parse_ranges(c: Collector, value: Any) -> tuple[ReleaseRange | None, ...]:
    return tuple(_parse_range(c, i, table) for i, table in enumerate(tables(c, "ranges", value)))


def parse_pins(c: Collector, value: Any) -> tuple[Pin | None, ...]:
    return tuple(_parse_pin(c, i, table) for i, table in enumerate(tables(c, "pins", value)))


def _parse_range(c: Collector, i: int, table: dict) -> ReleaseRange | None:
    where = f"ranges[{i}]"
    if "resolution" in table:
        c.add(f"{where}.resolution",
              "not a range key: ranges apply in every resolution mode; constraints that only serve "
              "`latest` go in a [[pins]] table (releases, constraints, why)")
    c.unknown_keys(where, {k: v for k, v in table.items() if k != "resolution"}, _RANGE_KEYS)
    releases = c.specifier(f"{where}.releases", table.get("releases"))
    sets: dict[str, Any] = {}
    for key in ("constraints", "requirements"):
        if key in table:
            sets[key] = c.requirements(f"{where}.{key}", table[key])
    if "python" in table:
        sets["python"] = c.specifier(f"{where}.python", table["python"])
    if "env" in table:
        sets["env"] = _env_table(c, f"{where}.env", table["env"], "env")
    if "canary" in table:
        canary = c.file(f"{where}.canary", table["canary"])
        if canary is not None and (problem := compile_problem(canary)):
            c.add(f"{where}.canary", f"{canary.name} {problem}")
        sets["canary"] = str(canary) if canary else None
    if "needs" in table:
        sets["needs"] = _parse_needs_env(c, f"{where}.needs", table["needs"])
    for key, parse in (("server", _parse_server), ("worker", _parse_worker), ("warm", _parse_warm)):
        if key in table:
            sets[key] = parse(c, f"{where}.{key}", table[key])
    if releases is None:
        return None
    return ReleaseRange(releases=releases, sets=sets, source=_source(c, where))


def _source(c: Collector, where: str) -> str:
    return f"preset {c.preset}: {where}" if c.preset else where


def _parse_pin(c: Collector, i: int, table: dict) -> Pin | None:
    where = f"pins[{i}]"
    c.unknown_keys(where, table, _PIN_KEYS)
    releases = c.specifier(f"{where}.releases", table.get("releases"))
    constraints = c.requirements(f"{where}.constraints", table.get("constraints", []))
    added = c.requirements(f"{where}.requirements", table.get("requirements", []))
    if not constraints and not added:
        c.add(f"{where}.constraints", "expected a non-empty list of constraints such as \"pydantic<2\" "
                                      "(or of requirements to add, such as \"importlib_metadata\")")
    why = c.string(f"{where}.why", table.get("why"))
    if releases is None or why is None or not (constraints or added):
        return None
    by_package: dict[str, tuple[str, ...]] = {}
    for item in constraints:
        name = canonicalize_name(Requirement(item).name)
        by_package[name] = by_package.get(name, ()) + (item,)
    return Pin(releases=releases, by_package=tuple(by_package.items()), why=why, requirements=tuple(added))


def _table(c: Collector, where: str, value: Any, allowed: set[str]) -> dict | None:
    if not isinstance(value, dict):
        c.add(where, f"expected a table ([ranges.{where.rsplit('.', 1)[-1]}])")
        return None
    c.unknown_keys(where, value, allowed)
    return value


def _templates(c: Collector, where: str, texts: list[str], key: str) -> None:
    """Each text is filled by the run with the names TEMPLATE_NAMES[key] allows; any other is a problem now."""
    for text in texts:
        problem = template_problem(text, key)
        if problem is not None:
            c.add(where, problem)


def _env_table(c: Collector, where: str, env: Any, key: str) -> dict[str, str]:
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        c.add(where, "expected a table of string values, e.g. { NAME = \"{home}/x\" }")
        return {}
    for name, value in env.items():
        _templates(c, f"{where}.{name}", [value], key)
    return dict(env)


def _parse_needs_env(c: Collector, where: str, value: Any) -> dict[str, dict[str, str]]:
    """[ranges.needs.NAME]: the era's own settings for an enabled need, e.g. a 1.x backend's
    PREFECT__SERVER__ENDPOINT = "{PREFECT1_API_URL}"; `{VAR}` may name the need's own variables only."""
    if not isinstance(value, dict):
        c.add(where, "expected a table of needs, e.g. [ranges.needs.prefect1-backend]")
        return {}
    found = {}
    for name, table in value.items():
        need = NEEDS.get(name)
        if need is None or not need.enable:
            c.add(f"{where}.{name}", "not a need enabled by variables; expected one of: "
                  + ", ".join(sorted(n for n, x in NEEDS.items() if x.enable)))
            continue
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            c.add(f"{where}.{name}", "expected a table of string values, e.g. { NAME = \"{VARIABLE}\" }")
            continue
        allowed = set(need.enable) | set(need.secret)
        for var, template in table.items():
            unknown = set(re.findall(r"{([^{}]*)}", template)) - allowed
            if unknown:
                c.add(f"{where}.{name}.{var}", f"{{{', '.join(sorted(unknown))}}} is not a variable of this need; "
                      f"expected any of: {', '.join(sorted(allowed))}")
        found[name] = dict(table)
    return found


def _command(c: Collector, where: str, value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        c.add(where, f"expected a command as a non-empty list of strings, got {value!r}")
        return ()
    _templates(c, where, value, key)
    return tuple(value)


def _service_keys(c: Collector, where: str, table: dict, strings: tuple[str, ...], service: str) -> dict[str, Any]:
    """The keys [ranges.server] and [ranges.worker] share: command, env, timeout, and some strings
    (templates when TEMPLATE_NAMES names them)."""
    given: dict[str, Any] = {}
    if "command" in table:
        given["command"] = _command(c, f"{where}.command", table["command"], f"{service}.command")
    if "env" in table:
        given["env"] = _env_table(c, f"{where}.env", table["env"], f"{service}.env")
    for key in strings:
        if key in table:
            given[key] = c.string(f"{where}.{key}", table[key])
            if given[key] is not None and f"{service}.{key}" in TEMPLATE_NAMES:
                _templates(c, f"{where}.{key}", [given[key]], f"{service}.{key}")
    if "timeout" in table:
        given["timeout"] = c.number(f"{where}.timeout", table["timeout"])
    return given


def _parse_server(c: Collector, where: str, value: Any) -> dict[str, Any]:
    table = _table(c, where, value, _SERVER_KEYS)
    if table is None:
        return {}
    given = _service_keys(c, where, table, ("url", "health", "export"), "server")
    if "postgres_env" in table:  # how the server takes its database when [harness] backend = "postgres"
        given["postgres_env"] = tuple(_env_table(c, f"{where}.postgres_env", table["postgres_env"],
                                                 "server.postgres_env").items())
    if "restored_env" in table:  # what a server may skip on a database an earlier server of its env prepared
        given["restored_env"] = tuple(_env_table(c, f"{where}.restored_env", table["restored_env"],
                                                 "server.restored_env").items())
    return given


def _parse_worker(c: Collector, where: str, value: Any) -> dict[str, Any]:
    table = _table(c, where, value, _WORKER_KEYS)
    if table is None:
        return {}
    given = _service_keys(c, where, table, ("ready",), "worker")
    if "setup" in table:
        setup = table["setup"]
        if not isinstance(setup, list):
            c.add(f"{where}.setup", "expected a list of commands (each a list of strings)")
            setup = []
        given["setup"] = tuple(_command(c, f"{where}.setup[{i}]", step, "worker.setup")
                               for i, step in enumerate(setup))
    return given


def _parse_warm(c: Collector, where: str, value: Any) -> dict[str, Any]:
    """An env without preload (from any of its ranges) has no warm runner."""
    table = _table(c, where, value, _WARM_KEYS)
    if table is None:
        return {}
    given: dict[str, Any] = {}
    if "preload" in table:
        given["preload"] = c.strings(f"{where}.preload", table["preload"])
        if not given["preload"]:
            c.add(f"{where}.preload", "expected a non-empty list of module names to import once per env")
    if "reset" in table:
        given["reset"] = _reset_code(c, f"{where}.reset", table["reset"])
    if "commands" in table:
        given["commands"] = c.strings(f"{where}.commands", table["commands"])
        for i, name in enumerate(given["commands"]):
            if not name or "/" in name:
                c.add(f"{where}.commands[{i}]", f"expected the name of a script in the env's bin folder, got {name!r}")
    return given


def _reset_code(c: Collector, where: str, value: Any) -> str:
    """The code of the reset script: the warm runner receives it as text."""
    if isinstance(value, str) and (not value.endswith(".py") or "\n" in value):
        c.add(where, "expected the path of a .py file (relative to the file that names it) whose code each forked "
                     "child runs first; Python code does not go inside the TOML")
        return ""
    path = c.file(where, value)
    if path is None:
        return ""
    problem = compile_problem(path)
    if problem is None:
        try:
            return read_utf8(path)
        except MatrixError as exc:
            problem = exc.problems[0]
    c.add(where, f"{path.name} {problem}")
    return ""
