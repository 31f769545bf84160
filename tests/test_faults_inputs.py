"""Issue 16, defect 7: every bad input is a check error (file, key, what was expected) before anything runs.

Each case writes a small real matrix whose one fault is named, then asks for a real run of 1.4.1: the run must
exit 2 with the message and no traceback, leave no state folder (no env, no .matrix/results.jsonl), and
`nox -l` on the same matrix must print the same message and register no release session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.config.model import MatrixError
from harness.config.options import Bounds
from harness.config.parse import load_matrix
from harness.config.templates import ENV_NAMES, template_problem
from harness.run.process import INENV, isolated_environ

REPO = Path(__file__).resolve().parents[1]

BASE = """
[harness]
package = "prefect"

[[ranges]]
releases = ">=1"
env = { APP_HOME = "{home}/app" }

[[demos]]
path = "demos/hello.py"
story = "hello"
releases = "==1.4.1"
"""

SECONDS = "expected a finite number, more than 0 and at most 86400 seconds (24 h)"
ENV_EXPECTED = "expected only {home}, {tmp}, {storage}, {inenv}"
WORKER_EXPECTED = "expected only {pool}, {url}, {workdir}, {python}, {inenv}"


def edit(old: str, new: str):
    def apply(project) -> None:
        text = textwrap.dedent(BASE)
        assert old in text
        project.matrix.write_text(text.replace(old, new, 1))
    return apply


def harness_key(line: str):
    return edit('package = "prefect"', f'package = "prefect"\n{line}')


def demo_key(line: str):
    return edit('story = "hello"', f'story = "hello"\n{line}')


def range_table(table: str):
    return edit('env = { APP_HOME = "{home}/app" }', f'env = {{ APP_HOME = "{{home}}/app" }}\n{table}')


def with_file(relative: str, content: bytes, then):
    def apply(project) -> None:
        path = project.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        then(project)
    return apply


def base(project) -> None:
    project.matrix.write_text(textwrap.dedent(BASE))


def not_utf8(project) -> None:
    project.matrix.write_bytes(textwrap.dedent(BASE).replace("[harness]", "# caf\xe9\n[harness]").encode("latin-1"))


def absolute_demo_path(project) -> None:
    edit('path = "demos/hello.py"', f'path = "{project.root / "demos" / "hello.py"}"')(project)


SERVER = '[ranges.server]\ncommand = ["prefect", "server", "start", "--port", "{port}"]\n'
WORKER = '[ranges.worker]\ncommand = ["prefect", "worker", "start", "--pool", "{pool}"]\n'

CASES = [  # id, how the matrix goes wrong, the key the message names, what it says was expected
    ("matrix-not-utf8", not_utf8, "matrix.toml", "not UTF-8: byte 0xe9 at offset 6 (line 2)"),
    *[(f"harness-timeout-{v}", harness_key(f"timeout = {v}"), f"harness.timeout: {r}", SECONDS)
      for v, r in (("-5", "-5"), ("0", "0"), ("1e300", "1e+300"), ("inf", "inf"), ("nan", "nan"))],
    *[(f"demo-timeout-{v}", demo_key(f"timeout = {v}"), "demos[0] (demos/hello.py).timeout", SECONDS)
      for v in ("-5", "0", "1e300", "inf", "nan")],
    ("server-timeout-inf", range_table(SERVER + "timeout = inf"), "ranges[0].server.timeout", SECONDS),
    ("worker-timeout-0", range_table(WORKER + "timeout = 0"), "ranges[0].worker.timeout", SECONDS),
    ("demo-path-parent", with_file("../outside.py", b"print('x')\n", edit('"demos/hello.py"', '"../outside.py"')),
     "demos[0] (../outside.py).path: '../outside.py' is outside", "expected a relative path inside the matrix's"),
    ("demo-path-absolute", absolute_demo_path, ".path: ", "is absolute; expected a relative path inside the matrix's"),
    ("demo-syntax-error", with_file("demos/hello.py", b"print('a')\ndef broken(:\n", base),
     "demos[0] (demos/hello.py).path: does not compile: line 2", "expected valid Python"),
    ("canary-syntax-error", with_file("canary.py", b"import (\n", range_table('canary = "canary.py"')),
     "ranges[0].canary: canary.py does not compile: line 1", "expected valid Python"),
    ("env-template", edit("{home}/app", "{hom}/app"), "ranges[0].env.APP_HOME: '{hom}/app' uses {hom}",
     ENV_EXPECTED),
    ("env-template-brace", edit("{home}/app", "{home/app"), "ranges[0].env.APP_HOME: '{home/app' is not a valid",
     ENV_EXPECTED),
    ("server-command-template", range_table(SERVER.replace("{port}", "{prot}")), "ranges[0].server.command",
     "uses {prot}; expected only {host}, {port}, {url}, {server_key}"),
    ("server-env-template", range_table(SERVER + 'env = { X = "{pool}" }'), "ranges[0].server.env.X",
     "uses {pool}; expected only {home}, {tmp}, {storage}, {inenv}, {host}, {port}, {url}, {server_key}"),
    ("server-restored-env-template", range_table(SERVER + 'restored_env = { X = "{home}" }'),
     "ranges[0].server.restored_env.X", "uses {home}; expected a plain value"),
    ("server-url-template", range_table(SERVER + 'url = "http://{host}:{port}/{url}"'), "ranges[0].server.url",
     "uses {url}; expected only {host}, {port}"),
    ("worker-setup-template", range_table(WORKER + 'setup = [["prefect", "{home}"]]'), "ranges[0].worker.setup[0]",
     "uses {home}; " + WORKER_EXPECTED),
    ("worker-env-template", range_table(WORKER + 'env = { X = "{}" }'), "ranges[0].worker.env.X",
     "uses a positional {}; expected only {home}, {tmp}, {storage}, {inenv}, {pool}"),
    ("state-dir-file", with_file("state.txt", b"x", harness_key('state_dir = "state.txt"')),
     "harness.state_dir: 'state.txt' is an existing file", "expected a folder, not a file"),
    ("state-dir-default-file", with_file(".matrix", b"x", base),
     "harness.state_dir: '.matrix' is an existing file", "expected a folder, not a file"),
    ("reports-dir-file", with_file("out.txt", b"x", harness_key('reports_dir = "out.txt"')),
     "harness.reports_dir: 'out.txt' is an existing file", "expected a folder, not a file"),
    ("fallbacks-negative", harness_key("fallbacks = -1"), "harness.fallbacks: -1", "expected an integer, 0 or more"),
    ("era-lag-negative", harness_key("era_lag_days = -1000"), "harness.era_lag_days: -1000",
     "expected an integer, 0 to 3650"),
    ("era-lag-huge", harness_key("era_lag_days = 100000"), "harness.era_lag_days: 100000",
     "expected an integer, 0 to 3650"),
    ("retries-negative", harness_key("retries = -1"), "harness.retries: -1", "expected an integer, 0 or more"),
    ("demos-dir-root", harness_key('demos_dir = "/"'), "harness.demos_dir: '/' is outside",
     "expected the matrix's folder (`.`) or a folder inside it"),
    ("demos-dir-parent", harness_key('demos_dir = ".."'), "harness.demos_dir: '..' is outside",
     "expected the matrix's folder (`.`) or a folder inside it"),
    ("exclude-not-a-list", harness_key('exclude = "scratch/*"'), "harness.exclude: expected a list of non-empty "
     "strings", "got 'scratch/*'"),
    ("cwd-unknown", harness_key('cwd = "home"'), "harness.cwd: 'home'", "expected one of: matrix, script"),
    ("reset-not-utf8", with_file("reset.py", b"x = '\xff'\n", range_table('[ranges.warm]\npreload = ["json"]\n'
                                                                           'reset = "reset.py"')),
     "ranges[0].warm.reset: reset.py does not compile", "utf-8"),
]


def _nox_list(matrix: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-l"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, MATRIX_FILE=str(matrix)))


@pytest.mark.parametrize("make_bad, key, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_stops_a_run_before_anything_starts(project, capsys, monkeypatch, make_bad, key, expected):
    """In-process, as `python3 -m harness run 1.4.1` runs it (the subprocess form is the slow test below)."""
    from harness.cli import main

    project.demo("demos/hello.py", "print('hello')\n")
    make_bad(project)
    state_before = sorted(p.name for p in project.root.iterdir())
    monkeypatch.setenv("UV_OFFLINE", "1")  # should a case slip through, it fails without downloading
    code = main(["--matrix", str(project.matrix), "run", "1.4.1", "--no-report"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert key in err and expected in err and str(project.matrix) in err, err
    assert sorted(p.name for p in project.root.iterdir()) == state_before  # no .matrix, no env, no records


@pytest.mark.slow
@pytest.mark.parametrize("make_bad, key, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_stops_the_cli_and_nox_list_without_a_traceback(project, make_bad, key, expected):
    project.demo("demos/hello.py", "print('hello')\n")
    make_bad(project)
    run = subprocess.run([sys.executable, "-m", "harness", "--matrix", str(project.matrix), "run", "1.4.1",
                          "--no-report"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, UV_OFFLINE="1"))
    listing = _nox_list(project.matrix)
    assert run.returncode == 2 and key in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert key in listing.stderr and expected in listing.stderr, listing.stderr
    assert "Traceback" not in listing.stderr + listing.stdout and "release-" not in listing.stdout


def test_nox_list_on_a_bad_matrix_prints_the_check_error_and_no_release_session(project):
    project.demo("demos/hello.py", "print('hello')\n")
    harness_key("fallbacks = -1")(project)
    listing = _nox_list(project.matrix)
    assert "harness.fallbacks: -1" in listing.stderr and "expected an integer, 0 or more" in listing.stderr
    assert "Traceback" not in listing.stderr + listing.stdout and "release-" not in listing.stdout


def test_a_preset_file_that_is_not_utf8_names_the_preset_file(project, tmp_path, monkeypatch):
    presets = tmp_path / "presets"
    (presets / "broken").mkdir(parents=True)
    data = b'[[ranges]]\nreleases = ">=1"  # \xff\n'
    offset = data.index(255)
    (presets / "broken" / "preset.toml").write_bytes(data)
    monkeypatch.setattr("harness.config.presets.PRESETS_DIR", presets)
    project.demo("demos/hello.py", "print('hello')\n")
    project.write_matrix(BASE.replace('package = "prefect"', 'preset = "broken"'))
    with pytest.raises(MatrixError) as info:
        load_matrix(project.matrix)
    assert info.value.problems == ["harness.preset (harness/presets/broken/preset.toml): not UTF-8: byte 0xff at "
                                   f"offset {offset} (line 2); expected a UTF-8 text file (save it as UTF-8)"]


@pytest.mark.parametrize("text, key, problem", [
    ("{home}/x", "env", None),
    ("{{literal}} {tmp}", "env", None),
    ("{home.parent}", "env", None),
    ("{hom}", "env", "uses {hom}"),
    ("{0}", "env", "uses {0}"),
    ("{}", "worker.command", "uses a positional {}"),
    ("{home", "env", "is not a valid template"),
    ("x}", "env", "is not a valid template"),
    ("{port:d}", "server.command", "is not a valid template"),
    ("{home.nope}", "env", "is not a valid template"),
    ("{url}", "server.url", "uses {url}"),
    ("{url}/health", "server.health", None),
    ("{python} -m x", "worker.setup", None),
])
def test_a_template_may_use_only_the_names_its_key_is_filled_with(text, key, problem):
    found = template_problem(text, key)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_the_run_fills_every_env_name_check_allows(tmp_path):
    environ = isolated_environ({name.upper(): "{" + name + "}" for name in ENV_NAMES}, "prefect", tmp_path)
    folders = {name: tmp_path / name for name in ENV_NAMES} | {"inenv": INENV}  # the fresh ones, and harness/inenv/
    assert [environ[name.upper()] for name in ENV_NAMES] == [str(folders[name]) for name in ENV_NAMES]
    assert all(folders[name].is_dir() for name in ENV_NAMES)


@pytest.mark.parametrize("bounds, accepted, refused, text", [
    (Bounds(0, 86400, above=True, unit="s"), [0.001, 1, 86400], [0, -5, 86400.5, float("inf"), float("nan")],
     "more than 0 and at most 86400 s"),
    (Bounds(0, 3650), [0, 3650], [-1, 3651], "0 to 3650"),
    (Bounds(1), [1, 10**9], [0, -1, float("inf")], "1 or more"),
])
def test_bounds_refuse_what_they_do_not_say_they_accept(bounds, accepted, refused, text):
    assert all(bounds.accepts(v) for v in accepted) and not any(bounds.accepts(v) for v in refused)
    assert str(bounds) == text
