"""The [harness] keys, each declared once: type, default, help and the values it accepts.

Parsing iterates this declaration and the README's table of keys is rendered from
it (`python3 -m harness.config.options --write README.md`; a test fails when they
differ), so a key cannot be documented one way and parsed another.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.presets import available_presets

RESOLUTIONS = ("as-released", "latest")
PROFILES = ("majors", "minors", "edges", "all", "new")  # new: releases the baseline has not seen
README_START, README_END = "<!-- harness-keys:start -->", "<!-- harness-keys:end -->"


def option(default: Any, help: str, *, choices: tuple[str, ...] | Callable[[], list[str]] | None = None,
           minimum: int | None = None) -> Any:
    """A [harness] key: `choices` (or a function listing them) and `minimum` say what values it accepts;
    the default is always accepted."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum})


@dataclass(frozen=True)
class Settings:
    package: str = option("prefect", "the package under test (the only place it is named)")
    preset: str = option("", "built-in era settings (`harness/presets/NAME/`) whose `[[ranges]]` and `[[pins]]` "
                             "apply before this file's", choices=available_presets)
    demos_dir: str = option("demos", "the demo scripts; each `.py` there needs a `[[demos]]` entry (`_name.py` helpers "
                                     "are exempt)")
    reports_dir: str = option("reports", "where reports are written (committed)")
    state_dir: str = option(".matrix", "envs, logs and this machine's records (not committed)")
    releases_file: str = option("reports/releases.json", "the committed snapshot of the package's releases "
                                                         "(`nox -s refresh`)")
    default_profile: str = option("majors", "the releases a plain `nox` runs", choices=PROFILES)
    resolution: str = option("as-released", "dependencies as of each release's upload day, or today's",
                             choices=RESOLUTIONS)
    timeout: float = option(300.0, "seconds per demo, unless the demo says otherwise")
    prereleases: bool = option(False, "whether profiles include pre-releases")
    era_lag_days: int = option(90, "an interpreter is of a release's era once it had been out this many days "
                                   "before the release")
    fallbacks: int = option(2, "older interpreters to try when an env cannot be built or its canary fails")
    retries: int = option(1, "times a failed or timed-out cell runs again at once (a pass then is `flaky`)",
                          minimum=0)
    jobs: int = option(1, "demos of one env run at once; more only pays for demos that wait more than they "
                          "compute", minimum=1)


def declared_options() -> list[tuple[dataclasses.Field, type]]:
    """Every [harness] key with its Python type, in declaration order."""
    hints = typing.get_type_hints(Settings)
    return [(f, hints[f.name]) for f in dataclasses.fields(Settings)]


_TYPE_NAMES = {str: "string", float: "number", int: "integer", bool: "boolean"}
_EXPECTED = {str: "a string", float: "a number", int: "an integer", bool: "true or false"}


def _fits(value: Any, kind: type) -> bool:
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def _choices(spec: dataclasses.Field) -> list[str] | None:
    choices = spec.metadata["choices"]
    return list(choices() if callable(choices) else choices) if choices is not None else None


def parse_settings(table: dict, problem: Callable[[str, str], None]) -> Settings:
    """The [harness] table as Settings; each bad value is reported through `problem(where, message)`."""
    for key in table:
        if key not in {f.name for f in dataclasses.fields(Settings)}:
            problem(f"harness.{key}", "unknown key; expected one of: "
                    + ", ".join(sorted(f.name for f in dataclasses.fields(Settings))))
    values = {}
    for spec, kind in declared_options():
        if spec.name not in table:
            continue
        value, where = table[spec.name], f"harness.{spec.name}"
        if not _fits(value, kind):
            problem(where, f"expected {_EXPECTED[kind]}, got {value!r}")
            continue
        choices, minimum = _choices(spec), spec.metadata["minimum"]
        if value != spec.default and choices is not None and value not in choices:
            problem(where, f"{value!r}; expected one of: {', '.join(choices)}")
        elif minimum is not None and value < minimum:
            problem(where, f"{value!r}; expected {minimum} or more: {spec.metadata['help']}")
        else:
            values[spec.name] = value
    return Settings(**values)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
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
        if spec.metadata["minimum"] is not None:
            help += f"; {spec.metadata['minimum']} or more"
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
