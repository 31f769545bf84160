"""Collects the problems of one TOML file while it is parsed, so all of them are reported together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.config.model import _PARSED_SPECIFIERS


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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.add(where, f"expected a positive number of seconds, got {value!r}")
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
