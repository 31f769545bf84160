"""Built-in presets: a package's era knowledge that ships with the harness.

A preset is a folder `harness/presets/NAME/` holding `preset.toml` ([[ranges]] and
[[pins]], in the matrix's own syntax, paths relative to that folder) and the files
it names (canaries, reset scripts). A matrix opts in with `[harness] preset = "NAME"`.
"""

from __future__ import annotations

from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
PRESET_FILE = "preset.toml"


def available_presets() -> list[str]:
    return sorted(p.name for p in PRESETS_DIR.iterdir() if (p / PRESET_FILE).is_file()) if PRESETS_DIR.is_dir() else []


def preset_file(name: str) -> Path:
    return PRESETS_DIR / name / PRESET_FILE


def preset_files(name: str) -> list[Path]:
    """Every file of the preset, in a stable order: what the matrix's version hash covers."""
    folder = PRESETS_DIR / name
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def shown(path: Path) -> str:
    """A preset's path as its users know it: `harness/presets/...`."""
    return "harness/presets/" + path.relative_to(PRESETS_DIR).as_posix()
