"""The MATRIX_* environment variables: each declared once here, all read at once by `read_environ`.

Entry points (`python -m harness`, the noxfile) read them once and hand the `Environ` on, so a
variable means the same everywhere and a bad value stops the run before anything is planned.
The README's table of variables is `environ_table()` (a test keeps the two equal).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from harness.config.model import RESOLUTIONS
from harness.config.options import BACKENDS


class EnvironError(ValueError):
    """A MATRIX_* variable holds a value its declaration does not accept."""


def _switch(text: str) -> bool:
    return {"1": True, "0": False}[text]


def _resolution(text: str) -> str:
    if text not in RESOLUTIONS:
        raise ValueError(text)
    return text


def _backend(text: str) -> str:
    if text not in BACKENDS:
        raise ValueError(text)
    return text


def _whole_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(text)
    return int(text)


def _variable(name: str, default, parse: Callable[[str], object], *, expected: str, unset: str, meaning: str):
    """A field of `Environ` and its declaration: the variable's name, how to read it, what it means."""
    return field(default=default, metadata=dict(name=name, parse=parse, expected=expected, unset=unset,
                                                meaning=meaning))


@dataclass(frozen=True)
class Environ:
    """The MATRIX_* variables as read once; a field keeps its default when its variable is unset or empty."""

    matrix_file: Path | None = _variable(
        "MATRIX_FILE", None, Path, expected="a path",
        unset="`matrix.toml` beside the noxfile (`python -m harness`: in the current folder)",
        meaning="the matrix to run; demo paths, `reports/` and `.matrix/` are relative to it (`--matrix` wins)")
    resolution: str | None = _variable(
        "MATRIX_RESOLUTION", None, _resolution, expected=" or ".join(RESOLUTIONS),
        unset="the matrix's `[harness] resolution`",
        meaning="`latest`: resolve with today's dependencies on the newest allowed interpreter (`--resolution` wins)")
    force: bool = _variable(
        "MATRIX_FORCE", False, _switch, expected="1 or 0", unset="0",
        meaning="1: rerun cells whose inputs are unchanged, as `-- --force` does")
    warm: bool = _variable(
        "MATRIX_WARM", True, _switch, expected="1 or 0", unset="1",
        meaning="0: run every demo as a fresh interpreter (no warm runner), as `-- --no-warm` does")
    backend: str | None = _variable(
        "MATRIX_BACKEND", None, _backend, expected=" or ".join(BACKENDS), unset="the matrix's `[harness] backend`",
        meaning="the API servers' database (part of each cell's cache key; recorded in each cell)")
    jobs: int | None = _variable(
        "MATRIX_JOBS", None, _whole_number, expected="a whole number, 1 or more", unset="the matrix's `[harness] jobs`",
        meaning="demos of one env to run at once (`-- --jobs N` wins)")


VARIABLES = {f.metadata["name"]: f for f in fields(Environ)}


def read_environ(environ: Mapping[str, str] | None = None) -> Environ:
    """Every MATRIX_* variable of `environ` (default: the process's), or one error naming each bad one."""
    environ = os.environ if environ is None else environ
    values, problems = {}, []
    for name, declared in VARIABLES.items():
        text = environ.get(name, "")
        if not text:
            continue
        try:
            values[declared.name] = declared.metadata["parse"](text)
        except (KeyError, ValueError):
            problems.append(f"{name}={text!r}: expected {declared.metadata['expected']}")
    if problems:
        raise EnvironError("; ".join(problems) + " (set it to one of those, or unset it)")
    return Environ(**values)


def environ_table() -> str:
    """The README's table of the variables, made from their declarations."""
    rows = ["| variable | values | when unset | what it does |", "|---|---|---|---|"]
    for name, declared in VARIABLES.items():
        meta = declared.metadata
        rows.append(f"| `{name}` | {meta['expected']} | {meta['unset']} | {meta['meaning']} |")
    return "\n".join(rows)
