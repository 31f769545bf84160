"""The [harness] keys, each declared once: type, default, help and the values it accepts.

Parsing iterates this declaration and the README's table of keys is rendered from
it (`python3 -m harness.config.options --write README.md`; a test fails when they
differ), so a key cannot be documented one way and parsed another.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.presets import available_presets

RESOLUTIONS = ("as-released", "latest")
PROFILES = ("majors", "minors", "edges", "all", "new")  # new: releases the baseline has not seen
README_START, README_END = "<!-- harness-keys:start -->", "<!-- harness-keys:end -->"


MAX_SECONDS = 24 * 3600  # a cell or service that needs longer is stuck, not slow


@dataclass(frozen=True)
class Bounds:
    """The numbers a key accepts: from `low` (excluded when `above`) to `high`; never nan or infinite,
    which TOML allows and which would make a limit that never fires."""

    low: float
    high: float | None = None
    above: bool = False
    unit: str = ""

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value) or (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        low = f"more than {self.low:g}" if self.above else f"{self.low:g}"
        if self.high is None:
            text = low if self.above else f"{low} or more"
        else:
            text = f"{low} and at most {self.high:g}" if self.above else f"{low} to {self.high:g}"
        return f"{text} {self.unit}" if self.unit else text


SECONDS = Bounds(0, MAX_SECONDS, above=True, unit="seconds (24 h)")
_EXPECTED_IN_BOUNDS = {float: "a finite number", int: "an integer"}
SECONDS_EXPECTED = f"{_EXPECTED_IN_BOUNDS[float]}, {SECONDS}"

# Path keys: what the named path must be, relative to the matrix's folder.
FOLDER, INNER_FOLDER, FILE = "folder", "inner folder", "file"
_PATH_EXPECTED = {
    FOLDER: "a folder, not a file",
    INNER_FOLDER: "the matrix's folder (`.`) or a folder inside it",
    FILE: "a file, not a folder",
}
CWDS = ("matrix", "script")
BACKENDS = ("sqlite", "postgres")


def option(default: Any, help: str, *, choices: tuple[str, ...] | Callable[[], list[str]] | None = None,
           bounds: Bounds | None = None, path: str | None = None) -> Any:
    """A [harness] key: `choices` (or a function listing them), `bounds` (numbers) and `path` (FOLDER,
    INNER_FOLDER or FILE) say what values it accepts; the default is always accepted."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "bounds": bounds,
                                                        "path": path})


@dataclass(frozen=True)
class Settings:
    package: str = option("prefect", "the package under test (the only place it is named)")
    preset: str = option("", "built-in era settings (`harness/presets/NAME/`) whose `[[ranges]]` and `[[pins]]` "
                             "apply before this file's", choices=available_presets)
    demos_dir: str = option("demos", "the demo scripts; each `.py` there needs a `[[demos]]` entry (`_name.py` "
                                     "helpers, the state folder, virtualenvs and `exclude` are exempt)",
                            path=INNER_FOLDER)
    exclude: tuple = option((), "globs (relative to the matrix's folder, e.g. `\"scratch/**\"`) of scripts that are "
                                "not demos: never declared, scanned or hashed")
    cwd: str = option("matrix", "where a demo runs from: a scratch folder that shows the matrix's folder (`matrix`), "
                                "or one that shows the script's own folder (`script`); what it writes stays there",
                      choices=CWDS)
    reports_dir: str = option("reports", "where reports are written (committed)", path=FOLDER)
    state_dir: str = option(".matrix", "envs, logs and this machine's records (not committed)", path=FOLDER)
    releases_file: str = option("reports/releases.json", "the committed snapshot of the package's releases "
                                                         "(`nox -s refresh`)", path=FILE)
    default_profile: str = option("majors", "the releases a plain `nox` runs", choices=PROFILES)
    resolution: str = option("as-released", "dependencies as of each release's upload day, or today's",
                             choices=RESOLUTIONS)
    timeout: float = option(300.0, "seconds per demo, unless the demo says otherwise", bounds=SECONDS)
    prereleases: bool = option(False, "whether profiles include pre-releases")
    era_lag_days: int = option(90, "an interpreter is of a release's era once it had been out this many days "
                                   "before the release", bounds=Bounds(0, 3650))
    fallbacks: int = option(2, "older interpreters to try when an env cannot be built or its canary fails",
                            bounds=Bounds(0))
    retries: int = option(1, "times a failed or timed-out cell runs again at once (a pass then is `flaky`)",
                          bounds=Bounds(0))
    backend: str = option("postgres", "the API servers' database: one PostgreSQL server for the run, a database "
                                      "per env (`postgres`), or each server's own SQLite file (`sqlite`); "
                                      "MATRIX_BACKEND overrides it", choices=BACKENDS)
    jobs: int = option(1, "demos of one env run at once; more only pays for demos that wait more than they "
                          "compute", bounds=Bounds(1))
    cpu_bound_jobs: int = option(0, "demos of envs with no API server (all their work is in their own process) "
                                    "that run at once across the whole run, parallel sessions together; `0`: one "
                                    "per core", bounds=Bounds(0))


def declared_options() -> list[tuple[dataclasses.Field, type]]:
    """Every [harness] key with its Python type, in declaration order."""
    hints = typing.get_type_hints(Settings)
    return [(f, hints[f.name]) for f in dataclasses.fields(Settings)]


_TYPE_NAMES = {str: "string", float: "number", int: "integer", bool: "boolean", tuple: "list of strings"}
_EXPECTED = {str: "a string", float: "a number", int: "an integer", bool: "true or false",
             tuple: "a list of non-empty strings"}


def _fits(value: Any, kind: type) -> bool:
    if kind is tuple:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def _choices(spec: dataclasses.Field) -> list[str] | None:
    choices = spec.metadata["choices"]
    return list(choices() if callable(choices) else choices) if choices is not None else None


def outside(root: Path, relative: str) -> str | None:
    """Where `relative`, resolved in `root` without following links, leaves `root` (itself counts); None: inside."""
    path = Path(os.path.normpath(root / relative))
    if path == root:
        return f"{relative!r} is the matrix's folder itself"
    return None if path.is_relative_to(root) else f"{relative!r} is outside {root}"


def outside_or_root(root: Path, relative: str) -> str | None:
    """Like `outside`, but the matrix's folder itself is fine (a folder of scripts with the matrix among them)."""
    return None if Path(os.path.normpath(root / relative)) == root else outside(root, relative)


def _path_problem(kind: str, root: Path, value: str) -> str | None:
    """Why a path key's value is not what `kind` accepts; relative paths resolve in `root`, the matrix's folder."""
    path = root / value
    if kind == INNER_FOLDER and (why := outside_or_root(root, value)):
        return why
    if kind == FILE and path.is_dir():
        return f"{value!r} is a folder"
    if kind in (FOLDER, INNER_FOLDER) and path.exists() and not path.is_dir():
        return f"{value!r} is an existing file"
    return None


def _value_problem(spec: dataclasses.Field, kind: type, value: Any, root: Path) -> str | None:
    """Why `value` is not accepted for the key, saying what is; None when it is."""
    if not _fits(value, kind):
        return f"expected {_EXPECTED[kind]}, got {value!r}"
    choices, bounds, path = _choices(spec), spec.metadata["bounds"], spec.metadata["path"]
    if value != spec.default and choices is not None and value not in choices:
        return f"{value!r}; expected one of: {', '.join(choices)}"
    if bounds is not None and not bounds.accepts(value):
        return f"{value!r}; expected {_EXPECTED_IN_BOUNDS[kind]}, {bounds}: {spec.metadata['help']}"
    if path is not None and (why := _path_problem(path, root, value)):
        return f"{why}; expected {_PATH_EXPECTED[path]}"
    return None


def parse_settings(table: dict, problem: Callable[[str, str], None], root: Path) -> Settings:
    """The [harness] table as Settings; each bad value is reported through `problem(where, message)`.
    `root` is the matrix's folder, where the path keys resolve."""
    for key in table:
        if key not in {f.name for f in dataclasses.fields(Settings)}:
            problem(f"harness.{key}", "unknown key; expected one of: "
                    + ", ".join(sorted(f.name for f in dataclasses.fields(Settings))))
    values = {}
    for spec, kind in declared_options():  # defaults too: `.matrix` may be a file
        value = table.get(spec.name, spec.default)
        why = _value_problem(spec, kind, value, root)
        if why is not None:
            problem(f"harness.{spec.name}", why)
        elif spec.name in table:
            values[spec.name] = tuple(value) if kind is tuple else value
    return Settings(**values)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f'"{value}"' if isinstance(value, str) else str(value)


def options_table() -> str:
    """The README's table of [harness] keys, from the declaration."""
    lines = ["| key | type | default | what it sets |", "|---|---|---|---|"]
    for spec, kind in declared_options():
        help = spec.metadata["help"]
        choices = _choices(spec)
        if choices is not None:
            help += f"; one of: {', '.join(f'`{c}`' for c in choices)}"
        if spec.metadata["bounds"] is not None:
            help += f"; {spec.metadata['bounds']}"
        if spec.metadata["path"] is not None:
            help += f"; {_PATH_EXPECTED[spec.metadata['path']]}"
        lines.append(f"| `{spec.name}` | {_TYPE_NAMES[kind]} | `{_default_text(spec.default)}` | {help} |")
    return "\n".join(lines)


def with_options_table(readme: str) -> str:
    """`readme` with the text between its harness-keys markers replaced by the current table."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return readme[:start] + "\n" + options_table() + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m harness.config.options",
                                     description="Print the README's table of [harness] keys, or rewrite it in place.")
    parser.add_argument("--write", metavar="README", help="rewrite the block between the markers in this file")
    args = parser.parse_args(argv)
    if args.write is None:
        print(options_table())
        return
    path = Path(args.write)
    path.write_text(with_options_table(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
