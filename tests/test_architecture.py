"""The layout ARCHITECTURE.md promises, checked from the source: stages import one way, no cycle,
in-env code is standard library only and runs on the oldest interpreter a release may get, small units."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HARNESS = REPO / "harness"
# lowest first: a module may import its own stage and the stages before it, never a later one
STAGES = ("config", "results", "plan", "run", "evidence", "report")
TOP = ("cli", "options", "nox_sessions", "__main__", "__init__")
IN_ENV = ("inenv", "presets")  # files run by path inside a release's interpreter
MAX_FUNCTION_LINES, MAX_FILE_LINES = 60, 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def harness_modules() -> dict[str, Path]:
    return {module_name(p): p for p in HARNESS.rglob("*.py") if not set(p.parts) & set(IN_ENV)}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function (a lazy import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def stage_rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in TOP:
        return len(STAGES) if len(parts) > 1 else -1  # `harness` itself: only __version__
    return STAGES.index(parts[1])


def test_every_module_belongs_to_a_stage_or_the_top():
    for module in harness_modules():
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in STAGES + TOP, f"{module}: not in a stage folder ({', '.join(STAGES)})"


def test_stages_import_one_way():
    modules = harness_modules()
    wrong = []
    for module, path in modules.items():
        for imported in imports_of(path):
            if imported in modules and imported != "harness" and stage_rank(imported) > stage_rank(module):
                wrong.append(f"{module} imports {imported} (a later stage)")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    modules = harness_modules()
    graph = {m: {i for i in imports_of(p) if i in modules and i != m and i != "harness"} for m, p in modules.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append(" → ".join(trail[trail.index(imported):] + [imported]))
            elif imported not in state:
                visit(imported, trail + [imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_in_env_code_uses_only_the_standard_library():
    files = list((HARNESS / "inenv").rglob("*.py"))
    siblings = {path.stem for path in files}  # started by path, so each finds the others first on its sys.path
    for path in files:
        for imported in imports_of(path):
            top = imported.split(".")[0]
            assert top in sys.stdlib_module_names or top in siblings, \
                f"{path.relative_to(REPO)} imports {imported}: not standard library"


def test_in_env_code_compiles_on_python_3_7():
    from harness.plan.interpreters import discover_interpreters

    oldest = [i for i in discover_interpreters() if i.minor == "3.7"]
    if not oldest:
        pytest.skip("no Python 3.7 installed here")
    files = [str(p) for p in (HARNESS / "inenv").rglob("*.py")] + [str(p) for p in (HARNESS / "presets").rglob("*.py")]
    check = "import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)"
    compiled = subprocess.run([str(oldest[0].path), "-c", check, *files], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr


def test_units_stay_small():
    too_big = []
    for path in sorted(HARNESS.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_FILE_LINES:
            too_big.append(f"{path.relative_to(REPO)}: {lines} lines (at most {MAX_FILE_LINES})")
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines "
                                   f"(at most {MAX_FUNCTION_LINES})")
    assert not too_big, "\n".join(too_big)
