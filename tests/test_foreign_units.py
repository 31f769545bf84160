"""The defects a new user hits with someone else's folder of scripts, each from the outside on a small real
folder in tmp_path (the end-to-end run with real envs: test_foreign_folder.py)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from packaging.version import Version

from harness.cli import main
from harness.config.init import guess
from harness.config.needs import check_needs
from harness.config.parse import load_matrix
from harness.plan.check import check_matrix
from harness.results.records import CellResult
from harness.run.cell import work_area
from harness.run.process import error_summary
from harness.run.progress import cell_line
from tests.conftest import REPO, SNAPSHOT


@pytest.mark.parametrize("text, era, releases, needs, calls_nothing", [
    ("from prefect import Flow, task\nwith Flow('x') as f:\n    pass\nf.run()\n", "classic", "<2", [], False),
    ("from prefect import flow\n@flow\ndef f():\n    pass\n", "modern", ">=2", [], True),
    ("import requests\nfrom prefect import flow\n@flow\ndef f(): ...\nif __name__ == '__main__':\n    f()\n",
     "modern", ">=2", ["network"], False),
    ("import docker\nprint('no prefect here')\n", "unknown", ">=0", ["docker"], False),
])
def test_init_guesses_era_needs_and_scripts_that_call_no_flow(text, era, releases, needs, calls_nothing):
    found = guess("x.py", text)
    assert (found.era, found.releases, found.needs, found.calls_nothing) == (era, releases, needs, calls_nothing)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "scripts"
    (root / "reports").mkdir(parents=True)
    shutil.copy(SNAPSHOT, root / "reports" / "releases.json")
    (root / "etl.py").write_text("from prefect import flow\n@flow\ndef f(): ...\nif __name__ == '__main__':\n f()\n")
    for venv in (".venv", "env"):  # a virtualenv by name, and one only its pyvenv.cfg tells apart
        (root / venv / "lib").mkdir(parents=True)
        (root / venv / "pyvenv.cfg").write_text("home = /usr\n")
        (root / venv / "lib" / "site.py").write_text("x = 1\n")
    (root / "scratch").mkdir()
    (root / "scratch" / "try.py").write_text("print('not a demo')\n")
    return root


def test_init_writes_a_preset_only_matrix_and_never_overwrites_one(folder, capsys):
    assert main(["init", str(folder)]) == 0
    text = (folder / "matrix.toml").read_text()
    assert 'preset = "prefect"' in text and 'demos_dir = "."' in text and 'cwd = "script"' in text
    assert 'path = "etl.py"' in text and 'path = "scratch/try.py"' in text and "site.py" not in text
    assert "kept as it is" in capsys.readouterr().out  # an existing snapshot is not fetched again
    assert main(["init", str(folder)]) == 2
    assert "never overwrites" in capsys.readouterr().out


def test_the_state_folder_virtualenvs_and_exclude_are_never_scanned(folder):
    (folder / ".matrix" / "envs" / "x" / "bin").mkdir(parents=True)
    (folder / ".matrix" / "envs" / "x" / "bin" / "activate_this.py").write_text("x = 1\n")
    (folder / "matrix.toml").write_text(textwrap.dedent('''
        [harness]
        preset = "prefect"
        demos_dir = "."
        exclude = ["scratch/*"]

        [[demos]]
        path = "etl.py"
        story = "etl"
        releases = ">=3.9"
        '''))
    matrix, _ = check_matrix(folder / "matrix.toml")  # no problem about .matrix/, .venv/, env/ or scratch/
    assert [d.path for d in matrix.demos] == ["etl.py"]
    (folder / "matrix.toml").write_text((folder / "matrix.toml").read_text().replace('exclude = ["scratch/*"]\n', ""))
    with pytest.raises(Exception, match="scratch/try.py is under ./ but no"):
        check_matrix(folder / "matrix.toml")


def test_cwd_script_runs_a_demo_from_its_own_folder_and_keeps_what_it_writes_out_of_it(tmp_path):
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "demo.py").write_text("print(1)\n")
    (root / "sub" / "data.csv").write_text("a\n")
    work = tmp_path / "work"
    work.mkdir()
    cwd, script = work_area(work, root, "sub/demo.py", "script")
    assert script == cwd / "demo.py" and (cwd / "data.csv").read_text() == "a\n"
    (cwd / "written.txt").write_text("x")
    assert sorted(p.name for p in (root / "sub").iterdir()) == ["data.csv", "demo.py"]
    (tmp_path / "work2").mkdir()
    cwd2, script2 = work_area(tmp_path / "work2", root, "sub/demo.py", "matrix")
    assert script2 == cwd2 / "sub" / "demo.py"  # the project's layout, as before


def test_network_is_a_need_enabled_by_a_variable_and_skip_never_runs_a_script(folder):
    assert check_needs(("network",), environ={}).reason.startswith("needs the internet")
    assert "set DEMO_NETWORK" in check_needs(("network",), environ={}).reason
    assert check_needs(("network",), environ={"DEMO_NETWORK": "1"}).available
    (folder / "matrix.toml").write_text(textwrap.dedent('''
        [harness]
        demos_dir = "."
        exclude = ["scratch/*"]

        [[demos]]
        path = "etl.py"
        story = "etl"
        releases = ">=3.9"
        skip = "allocates all memory on purpose"
        '''))
    assert load_matrix(folder / "matrix.toml").demos[0].skip == "allocates all memory on purpose"


def test_generated_text_names_the_commands_that_work_for_that_matrix(folder):
    own = load_matrix(REPO / "matrix.toml")
    assert own.own and own.command("report") == "nox -s report" and own.images_dir == REPO / "images"
    (folder / "matrix.toml").write_text('[[demos]]\npath = "etl.py"\nstory = "etl"\nreleases = ">=3.9"\n'
                                        '[harness]\ndemos_dir = "."\nexclude = ["scratch/*"]\n')
    other = load_matrix(folder / "matrix.toml")
    assert other.command("refresh") == f"python3 -m harness --matrix {folder / 'matrix.toml'} refresh"
    assert other.images_dir == folder / "reports" / "images"


def test_an_enabled_1x_backend_reaches_a_script_in_1x_own_setting_names():
    matrix = load_matrix(REPO / "matrix.toml")
    url = {"PREFECT1_API_URL": "http://backend:4200/graphql"}
    classic = matrix.env_settings(Version("1.4.1"), "as-released")
    assert classic.need_variables(("prefect1-backend",), url) == {
        "PREFECT__BACKEND": "server", "PREFECT__SERVER__ENDPOINT": "http://backend:4200/graphql"}
    assert classic.need_variables(("docker",), url) == {}  # only the needs the demo declares
    assert matrix.env_settings(Version("2.0.0"), "as-released").need_variables(("prefect1-backend",), url) == {}


def test_the_error_summary_is_the_demos_own_error_not_the_servers_shutdown():
    output = ("Traceback (most recent call last):\n  File \"x\"\nhttpx.ConnectError: All connection attempts failed\n"
              "Traceback (most recent call last):\n  File \"y\"\n"
              "asyncio.exceptions.CancelledError: Cancelled via cancel scope 7f3\n")
    assert error_summary(output) == "httpx.ConnectError: All connection attempts failed"


def test_a_first_run_says_it_has_no_estimate():
    cell = CellResult("d.py", "d", "", "3.9.1", "as-released", "pass", duration=2.0)
    assert cell_line(1, 3, cell, None, first_run=True).endswith("first run here: no estimate yet")
    assert "left" not in cell_line(3, 3, cell, None, first_run=True)
