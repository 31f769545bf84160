"""matrix.toml → the typed model of harness.config.model, validated.

Every problem found is reported at once, each naming the file, the key and
what was expected, so a run never starts on a matrix that would lie. A matrix
that names a preset gets the preset's [[ranges]] and [[pins]] first, then its own.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness.config.collect import Collector, read_utf8
from harness.config.model import Demo, Matrix, MatrixError, Pin, ReleaseRange, Xfail
from harness.config.needs import NEEDS
from harness.config.options import outside, parse_settings
from harness.config.presets import preset_file, preset_files, shown
from harness.config.ranges import parse_pins, parse_ranges, tables

_DEMO_KEYS = {"path", "story", "variant", "releases", "requirements", "timeout", "python", "needs", "xfail", "warm",
              "skip"}
_XFAIL_KEYS = {"releases", "reason", "intermittent"}
_TOP_KEYS = {"harness", "ranges", "pins", "demos"}
_PRESET_KEYS = {"ranges", "pins"}


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(read_utf8(path))
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(path, [f"not valid TOML: {exc}"]) from None


def load_matrix(path: str | Path) -> Matrix:
    """Parse and validate a matrix file (and its preset); raise MatrixError listing every problem."""
    path = Path(path).resolve()
    if not path.is_file():
        raise MatrixError(path, ["file not found (set MATRIX_FILE or pass --matrix to point at one)"])
    data = _read_toml(path)
    c = Collector(path)
    c.unknown_keys("(top level)", data, _TOP_KEYS)
    table = data.get("harness", {})
    if not isinstance(table, dict):
        c.add("harness", "expected a table ([harness])")
        table = {}
    settings = parse_settings(table, c.add, path.parent)
    preset_ranges, preset_pins = _load_preset(c, settings.preset) if settings.preset else ((), ())
    ranges = preset_ranges + parse_ranges(c, data.get("ranges", []))
    pins = preset_pins + parse_pins(c, data.get("pins", []))
    demos = tuple(_parse_demo(c, i, d) for i, d in enumerate(tables(c, "demos", data.get("demos", []))))
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
    sources = tuple(preset_files(settings.preset)) if settings.preset else ()
    return Matrix(path=path, settings=settings, demos=demos, ranges=ranges, pins=pins,  # type: ignore[arg-type]
                  sources=sources)


def _load_preset(c: Collector, name: str) -> tuple[tuple[ReleaseRange, ...], tuple[Pin, ...]]:
    """The preset's ranges and pins; its problems join the matrix's, naming the preset's file."""
    path = preset_file(name)
    try:
        data = _read_toml(path)
    except MatrixError as exc:
        c.add(f"harness.preset ({shown(path)})", exc.problems[0])
        return (), ()
    pc = Collector(path, preset=name)
    pc.unknown_keys("(top level)", data, _PRESET_KEYS)
    ranges, pins = parse_ranges(pc, data.get("ranges", [])), parse_pins(pc, data.get("pins", []))
    c.problems += [f"{shown(path)}: {problem}" for problem in pc.problems]
    return ranges, pins  # type: ignore[return-value]


def _parse_demo(c: Collector, i: int, table: dict) -> Demo | None:
    label = table.get("path") if isinstance(table.get("path"), str) else f"#{i}"
    where = f"demos[{i}] ({label})"
    c.unknown_keys(where, table, _DEMO_KEYS)
    path = c.string(f"{where}.path", table.get("path"))
    if path is not None:
        why = f"{path!r} is absolute" if Path(path).is_absolute() else outside(c.root, path)
        if why:  # records name a demo by its path: it must mean the same file on every machine
            c.add(f"{where}.path", f"{why}; expected a relative path inside the matrix's folder ({c.root})")
        elif not c.root.joinpath(path).is_file():
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
    for j, entry in enumerate(tables(c, f"{where}.xfail", table.get("xfail", []))):
        xwhere = f"{where}.xfail[{j}]"
        c.unknown_keys(xwhere, entry, _XFAIL_KEYS)
        spec = c.specifier(f"{xwhere}.releases", entry.get("releases"))
        reason = c.string(f"{xwhere}.reason", entry.get("reason"))
        intermittent = entry.get("intermittent", False)
        if not isinstance(intermittent, bool):
            c.add(f"{xwhere}.intermittent", f"expected true or false, got {intermittent!r}")
            intermittent = False
        if spec is not None and reason is not None:
            xfails.append(Xfail(spec, reason, intermittent))
    requirements = c.requirements(f"{where}.requirements", table.get("requirements"))
    timeout = c.number(f"{where}.timeout", table.get("timeout"))
    warm = table.get("warm", True)
    if not isinstance(warm, bool):
        c.add(f"{where}.warm", f"expected true or false, got {warm!r}")
        warm = True
    skip = c.string(f"{where}.skip", table.get("skip"), required=False) or ""
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
        skip=skip,
    )
