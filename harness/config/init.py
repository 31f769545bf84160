"""`init`: a starter matrix.toml for a folder of someone else's scripts, guessed cheaply from their text.

The guesses are only where to start: each entry says what it was guessed from, and `ranges --bisect`
replaces the ranges with evidence. It never overwrites a matrix that exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.config.files import walk_files

CLASSIC = re.compile(r"from\s+prefect\s+import\s+[^\n]*\bFlow\b|\bwith\s+Flow\(|prefect\.Flow\(|from\s+prefect\.core")
MODERN = re.compile(r"@flow\b|from\s+prefect\s+import\s+[^\n]*\bflow\b|prefect\.flow\b")
CALLS = re.compile(r"__name__\s*==\s*['\"]__main__['\"]|\.run\(|\.serve\(|\.deploy\(|\.register\(")
NEED_HINTS = [  # (need, what in the text suggests it)
    ("docker", re.compile(r"^\s*(import|from)\s+docker\b|DockerRun|DockerContainer|\bdocker\b\s*\.", re.M)),
    ("kubernetes", re.compile(r"^\s*(import|from)\s+kubernetes\b|KubernetesRun|KubernetesJob", re.M)),
    ("prefect-cloud", re.compile(r"PREFECT_API_KEY|prefect\s+cloud\s+login")),
    ("network", re.compile(r"^\s*(import|from)\s+(requests|httpx|urllib\.request|aiohttp)\b", re.M)),
]


@dataclass
class ScriptGuess:
    path: str  # relative to the folder, posix
    releases: str
    era: str  # classic, modern, or unknown
    needs: list[str]
    calls_nothing: bool  # defines flows, calls none: a pass will only prove it imports


def guess(relative: str, text: str) -> ScriptGuess:
    classic, modern = bool(CLASSIC.search(text)), bool(MODERN.search(text))
    if classic and not modern:
        era, releases = "classic", "<2"
    elif modern and not classic:
        era, releases = "modern", ">=2"
    else:
        era, releases = "unknown", ">=0"
    needs = [need for need, pattern in NEED_HINTS if pattern.search(text)]
    return ScriptGuess(relative, releases, era, needs, (classic or modern) and not CALLS.search(text))


def scripts(folder: Path) -> list[str]:
    """The folder's scripts a matrix would declare: not helpers (`_x.py`), not in a virtualenv or cache."""
    skip = (folder / ".matrix", folder / "reports")
    return [p.relative_to(folder).as_posix() for p in walk_files(folder, folder, (), skip)
            if p.suffix == ".py" and not p.name.startswith("_") and p.name != "noxfile.py"]


def starter_matrix(folder: Path, package: str = "prefect") -> tuple[str, list[ScriptGuess]]:
    guesses = [guess(rel, (folder / rel).read_text(encoding="utf-8", errors="replace")) for rel in scripts(folder)]
    lines = [
        "# Written by `python3 -m harness init`: a start, guessed from each script's text.",
        "# Replace the guessed ranges with evidence: `python3 -m harness --matrix matrix.toml ranges --bisect`,",
        "# then `ranges --write`. Schema: the harness's README (\"matrix.toml\").",
        "",
        "[harness]",
        f"package = {json.dumps(package)}",
        f"preset = {json.dumps(package)}  # the harness's built-in era knowledge: canaries, servers, warm runners",
        'demos_dir = "."',
        'cwd = "script"  # each script runs from (a scratch copy of) its own folder, as a person would run it',
        "",
    ]
    for g in guesses:
        stem = Path(g.path).stem
        lines += ["[[demos]]", f"path = {json.dumps(g.path)}", f"story = {json.dumps(stem.replace('_', '-'))}"]
        if g.era != "unknown":
            lines.append(f"variant = {json.dumps(g.era)}")
        why = {"classic": "guessed: it uses `Flow` (Prefect 0.x/1.x)", "modern": "guessed: it uses `@flow` (2.x/3.x)",
               "unknown": "no era found in its text: every release, until ranges says otherwise"}[g.era]
        lines.append(f"releases = {json.dumps(g.releases)}  # {why}")
        if g.needs:
            lines.append(f"needs = {json.dumps(g.needs)}  # guessed from its imports; see README: needs")
        if g.calls_nothing:
            lines.append("# it defines flows but calls none: this cell will only prove the script imports")
        lines.append("")
    return "\n".join(lines), guesses
