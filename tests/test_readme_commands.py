"""The README's Sessions table, run as written: nox accepts every command and selects what the table says.

Only listings (`nox --list --json`) run, so no env is built. Each command's options after `--` that a
release session or `report` would get are parsed by the harness's own option parser.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.config.environ import Environ
from harness.options import session_options
from harness.plan.sessions import load_plan
from tests.conftest import REPO

NOXFILE = REPO / "noxfile.py"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MATRIX_")}  # the repository's own matrix, defaults


def readme_commands() -> list[str]:
    """Every nox command of the Sessions table: the first column's, the second's that start with `nox`,
    and the second's `-- OPTIONS` appended to the row's command (without its own options)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Sessions", 1)[1].split("\n\n", 2)[1]
    commands = []
    for row in table.splitlines()[2:]:
        command, says = row.strip("|").split(" | ", 1)
        command = command.strip().strip("`")
        commands.append(command)
        for span in re.findall(r"`([^`]+)`", says):
            if span.startswith("nox"):
                commands.append(span)
            elif span.startswith("-- "):
                commands.append(f"{command.split(' -- ')[0]} {span}")
    return list(dict.fromkeys(commands))


def _split(command: str) -> tuple[list[str], list[str]]:
    """nox's own arguments, and the options after `--` that it hands to the sessions."""
    args = shlex.split(command)[1:]
    return (args[:args.index("--")], args[args.index("--") + 1:]) if "--" in args else (args, [])


def _selection(command: str) -> tuple[str, ...]:
    """What nox selects by: its own arguments, less -l (listing is how this test asks anyway)."""
    return tuple(arg for arg in _split(command)[0] if arg not in ("-l", "--list"))


def _one_named(selection: tuple[str, ...]) -> bool:
    return selection[:1] == ("-s",) and len(selection) == 2


@pytest.fixture(scope="module")
def plan():
    return load_plan(REPO / "matrix.toml", None)


def expected_selection(plan, command: str) -> set[str]:
    """What the README says each command runs, in terms of the plan."""
    default = {s.name for s in plan.by_profile(plan.matrix.settings.default_profile)} | {"report"}
    args = _selection(command)
    if args[:1] == ("-s",):
        return {args[1]}
    if args[:1] == ("-t",):
        tags = args[1:]
        releases = {s.name for s in plan.sessions if s.release.version in tags}
        profiles = {s.name for t in tags for s in plan.by_profile(t)}
        return releases | profiles | ({"report"} if profiles else set())
    assert args == (), f"the test does not know what `{command}` should select"
    return default


def test_the_table_has_the_commands_this_test_checks():
    commands = readme_commands()
    assert "nox -t 2.14.3" in commands and "nox -t 2.14.3 3.9.1" in commands
    assert "nox -- --no-warm" in commands and "nox -s report -- --merge DIR..." in commands
    assert not [c for c in commands if " -k " in c], "nox -k takes a Python expression; 2.14.3 is not one"


def _list(selection: tuple[str, ...]) -> subprocess.CompletedProcess:
    listing = [sys.executable, "-m", "nox", "-f", str(NOXFILE), *selection, "--list", "--json"]
    return subprocess.run(listing, capture_output=True, text=True, env=ENV, timeout=120)


@pytest.fixture(scope="module")
def listings() -> dict[tuple[str, ...], tuple[subprocess.CompletedProcess, set[str]]]:
    """Each distinct selection → nox's listing and the sessions it selected. The `-s NAME` selections share one
    listing, `-s A B …`, where each selects itself (a second of start-up and planning per listing saved)."""
    selections = set(map(_selection, readme_commands()))
    named = ("-s", *sorted(s[1] for s in selections if _one_named(s)))
    calls = [s for s in selections if not _one_named(s)] + [named]
    with ThreadPoolExecutor(max_workers=2) as pool:
        listed = dict(zip(calls, pool.map(_list, calls), strict=True))
    found = {}
    for selection in selections:
        done = listed[named if _one_named(selection) else selection]
        names = {entry["session"] for entry in json.loads(done.stdout)} if done.returncode == 0 else set()
        found[selection] = (done, {selection[1]} & names if _one_named(selection) else names)
    return found


@pytest.mark.parametrize("command", readme_commands())
def test_nox_accepts_the_command_and_selects_what_the_readme_says(plan, listings, command):
    listed, selected = listings[_selection(command)]
    assert listed.returncode == 0, f"`{command}`: {listed.stderr}"
    expected = expected_selection(plan, command)
    assert expected and selected == expected, f"`{command}`"
    if selected & ({"report"} | {s.name for s in plan.sessions}):
        session_options(_split(command)[1], Environ())  # the release sessions and `report` accept its options


def test_nox_l_lists_every_planned_session(plan):
    listed = subprocess.run([sys.executable, "-m", "nox", "-f", str(NOXFILE), "-l"],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[1] for line in listed.stdout.splitlines() if line[:2] in ("* ", "- ")}
    assert {s.name for s in plan.sessions} <= names
    assert {"check", "report", "pick", "refresh", "tests", "shards"} <= names
