"""Collects the problems of one TOML file while it is parsed, so all of them are reported together."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.config.model import _PARSED_SPECIFIERS, MatrixError
from harness.config.options import SECONDS, SECONDS_EXPECTED


def read_utf8(path: Path) -> str:
    """The text of a file the harness reads as configuration; bytes that are not UTF-8 raise MatrixError
    naming the offset and line, instead of a UnicodeDecodeError traceback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MatrixError(path, [f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}); "
                                 "expected a UTF-8 text file (save it as UTF-8)"]) from None


def compile_problem(path: Path) -> str | None:
    """Why the host's Python cannot compile the script (its syntax, its encoding); None when it can.

    A script that does not compile cannot pass on any release: it is the matrix's error, not a cell."""
    try:
        with warnings.catch_warnings():  # an invalid escape sequence warns, but runs
            warnings.simplefilter("ignore")
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return f"does not compile: {where}{exc.msg}; expected valid Python"
    except ValueError as exc:  # NUL bytes, on some Pythons
        return f"does not compile: {exc}; expected valid Python"
    return None


class Collector:
    """Problems of one file: a matrix, or a preset (`preset`: its name), whose paths are relative to its folder."""

    def __init__(self, path: Path, preset: str | None = None):
        self.path = path
        self.root = path.parent
        self.preset = preset
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not SECONDS.accepts(value):
            self.add(where, f"expected {SECONDS_EXPECTED}, got {value!r}")
            return None
        return float(value)

    def file(self, where: str, value: Any) -> Path | None:
        """A file this TOML names, relative to its folder; a preset's missing file is the harness's, not the user's."""
        relative = self.string(where, value)
        if relative is None:
            return None
        path = self.root / relative
        if path.is_file():
            return path
        if self.preset is not None:
            self.add(where, f"{relative!r} is missing from {self.root}: a preset's files ship with the harness in "
                            f"harness/presets/{self.preset}/ (restore that folder from the harness's source)")
        else:
            self.add(where, f"{relative!r} does not exist (paths are relative to {self.root})")
        return None
