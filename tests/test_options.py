"""MATRIX_* variables and the options after `--`: declared once, parsed alike by `python -m harness` and nox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.config.environ import Environ, EnvironError, environ_table, read_environ
from harness.options import OptionsError, session_options
from tests.conftest import REPO

ENV = {k: v for k, v in os.environ.items() if not k.startswith("MATRIX_")}


@pytest.mark.parametrize("variables, expected", [
    ({}, Environ()),
    ({"MATRIX_FORCE": "", "MATRIX_JOBS": "", "MATRIX_WARM": ""}, Environ()),  # empty is unset
    ({"MATRIX_FORCE": "1", "MATRIX_WARM": "0"}, Environ(force=True, warm=False)),
    ({"MATRIX_FORCE": "0", "MATRIX_WARM": "1"}, Environ(force=False, warm=True)),
    ({"MATRIX_JOBS": "3", "MATRIX_RESOLUTION": "latest"}, Environ(jobs=3, resolution="latest")),
    ({"MATRIX_FILE": "other/matrix.toml", "UNRELATED": "x"}, Environ(matrix_file=Path("other/matrix.toml"))),
])
def test_variables_are_read_as_declared(variables, expected):
    assert read_environ(variables) == expected


@pytest.mark.parametrize("variables, named", [
    ({"MATRIX_JOBS": "0"}, ["MATRIX_JOBS='0': expected a whole number, 1 or more"]),
    ({"MATRIX_JOBS": "two"}, ["MATRIX_JOBS='two'"]),
    ({"MATRIX_FORCE": "yes"}, ["MATRIX_FORCE='yes': expected 1 or 0"]),
    ({"MATRIX_RESOLUTION": "newest"}, ["MATRIX_RESOLUTION='newest': expected as-released or latest"]),
    ({"MATRIX_WARM": "true", "MATRIX_JOBS": "-1"}, ["MATRIX_WARM='true'", "MATRIX_JOBS='-1'"]),  # every one at once
])
def test_a_bad_value_names_the_variable_and_what_it_takes(variables, named):
    with pytest.raises(EnvironError) as caught:
        read_environ(variables)
    for text in named:
        assert text in str(caught.value)


def test_the_readme_lists_the_variables_as_declared():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = environ_table()
    assert table in readme, "README's table of MATRIX_* variables is stale; it should read:\n" + table


RUN_OPTIONS = [  # posargs, environ, what the run gets: force, no_warm, shard, profile, jobs
    ([], Environ(), (False, False, None, None, None)),
    (["--force", "--no-warm"], Environ(), (True, True, None, None, None)),
    ([], Environ(force=True, warm=False, jobs=2), (True, True, None, None, 2)),
    (["--jobs", "5"], Environ(jobs=2), (False, False, None, None, 5)),
    (["--shard", "2/4", "--profile", "minors"], Environ(), (False, False, (2, 4), "minors", None)),
    (["--shard=1/3", "--jobs=1"], Environ(), (False, False, (1, 3), None, 1)),
]


@pytest.mark.parametrize("posargs, environ, expected", RUN_OPTIONS)
def test_nox_and_the_cli_parse_the_run_options_alike(posargs, environ, expected):
    from_nox = session_options(posargs, environ)
    from_cli = build_parser(environ).parse_args(["run", *posargs])
    for parsed in (from_nox, from_cli):
        assert (parsed.force, parsed.no_warm, parsed.shard, parsed.profile, parsed.jobs) == expected


def test_nox_sessions_take_the_report_options_beside_the_run_options():
    # what CI's report job and `nox -t PROFILE -- --shard …` hand to every session they select
    parsed = session_options(["--shard", "2/4", "--profile", "new", "--merge", "a", "b", "--baseline", "base.json"],
                             Environ())
    assert parsed.merge == [Path("a"), Path("b")] and parsed.baseline == Path("base.json") and parsed.shard == (2, 4)
    cli = build_parser(Environ()).parse_args(["report", "--merge", "a", "b", "--baseline", "base.json"])
    assert (cli.merge, cli.baseline) == (parsed.merge, parsed.baseline)


@pytest.mark.parametrize("posargs, problem", [
    (["--forse"], "unrecognized arguments: --forse"),
    (["2.14.3"], "unrecognized arguments: 2.14.3"),
    (["--shard", "5/4"], "I must be between 1 and N"),
    (["--shard", "half"], "expected I/N"),
    (["--jobs", "0"], "expected a whole number, 1 or more"),
    (["--profile", "nightly"], "invalid choice: 'nightly'"),
    (["--merge"], "expected at least one argument"),
])
def test_a_wrong_option_after_the_double_dash_says_what_is_wrong_and_what_is_accepted(posargs, problem):
    with pytest.raises(OptionsError) as caught:
        session_options(posargs, Environ())
    message = str(caught.value)
    assert message.startswith("options after --: ") and problem in message
    assert "[--force]" in message and "[--shard I/N]" in message and "[--baseline FILE]" in message


def test_the_cli_refuses_a_bad_variable_before_doing_anything(project):
    done = subprocess.run([sys.executable, "-m", "harness", "--matrix", str(project.matrix), "check"],
                          cwd=REPO, capture_output=True, text=True, env=dict(ENV, MATRIX_JOBS="many"), timeout=60)
    assert done.returncode == 2
    assert "MATRIX_JOBS='many': expected a whole number, 1 or more" in done.stderr


def _nox(project, *args: str, **variables: str) -> subprocess.CompletedProcess:
    env = dict(ENV, MATRIX_FILE=str(project.matrix), **variables)
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def small(project):
    project.demo("demos/hello.py", "print('hello')\n")
    project.write_matrix('[[demos]]\npath = "demos/hello.py"\nstory = "hello"\nreleases = "==1.4.1"\n')
    return project


def test_nox_refuses_a_bad_variable_when_it_loads_the_noxfile(small):
    done = _nox(small, "-l", MATRIX_WARM="off")
    assert done.returncode != 0
    assert "MATRIX_WARM='off': expected 1 or 0" in done.stdout + done.stderr


def test_nox_sessions_fail_on_an_unknown_option_before_running_anything(small):
    for selection in (["-t", "1.4.1"], ["-s", "report"]):
        done = _nox(small, *selection, "--", "--no-warn")
        assert done.returncode != 0
        assert "options after --: unrecognized arguments: --no-warn" in done.stderr, done.stderr
    state = {p.name for p in (small.root / ".matrix").iterdir()}
    assert state <= {"interpreters.json", "plans"} and not (small.root / "reports" / "results.json").exists(), state
