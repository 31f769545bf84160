"""The session's pure and cheap units: which change makes a cell rerun, progress and its estimate,
judging an attempt, the warm runner's lifecycle, one cell's retries (on this interpreter, no Prefect env)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from harness.config.model import Demo, WarmConfig
from harness.config.needs import check_needs
from harness.config.parse import load_matrix
from harness.plan.interpreters import Interpreter
from harness.plan.releases import load_snapshot
from harness.plan.sessions import build_plan
from harness.results.records import CellResult
from harness.results.store import store_for
from harness.run.cache import cache_inputs
from harness.run.cell import CellRunner, judge
from harness.run.envs import BuiltEnv
from harness.run.journal import Journal
from harness.run.process import ProcessResult
from harness.run.progress import Progress, cell_line, expected_seconds, format_duration
from harness.run.services import Services
from harness.run.session import env_spec, provided_needs
from harness.run.warm_lifecycle import WarmLifecycle, WarmState

INSTALLED = [Interpreter(v, f"/py/{v}/bin/python3", "pyenv") for v in ("3.10.13", "3.9.18")]

MATRIX = """
[harness]
retries = 1

[[ranges]]
releases = "<2"
canary = "canary.py"
env = { HOME_SETTING = "{home}/x" }

[[demos]]
path = "demos/a.py"
story = "a"
releases = "==1.4.1"

[[demos]]
path = "demos/b.py"
story = "b"
releases = "==1.4.1"

[[demos]]
path = "demos/extra/c.py"
story = "c"
releases = "==1.4.1"
"""


@pytest.fixture
def keyed(project):
    project.write_matrix(MATRIX)
    (project.root / "canary.py").write_text("print('canary')\n")
    for path in ("demos/a.py", "demos/b.py", "demos/extra/c.py"):
        project.demo(path, f"print({path!r})\n")
    return project


def session_of(project, interpreters=INSTALLED):
    matrix = load_matrix(project.matrix)
    plan = build_plan(matrix, load_snapshot(project.root / "reports" / "releases.json"), interpreters, only=["1.4.1"])
    return matrix, plan.session_for("1.4.1")


def keys(project, interpreters=INSTALLED, environ=None) -> dict[str, str]:
    matrix, session = session_of(project, interpreters)
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    needs = {d.path: check_needs(d.needs, provided_needs(settings), environ or {}) for d in session.demos}
    inputs = cache_inputs(matrix, session, env_spec(matrix, session, settings), needs)
    return {Path(path).name: key for path, key in inputs.keys.items()}


def edit_matrix(old: str, new: str):
    def change(project):
        assert old in project.matrix.read_text()
        project.matrix.write_text(project.matrix.read_text().replace(old, new, 1))
    return change


def write(relative: str, text: str):
    return lambda project: (project.root / relative).write_text(text)


RERUNS = [
    ("the demo's own script", write("demos/a.py", "print('edited')\n"), {"a.py"}),
    ("a README beside it", write("demos/README.md", "prose\n"), set()),
    ("a helper module in its folder", write("demos/_shared.py", "X = 1\n"), {"a.py", "b.py"}),
    ("a data file in a subfolder (counts for the folders above)", write("demos/extra/rows.csv", "1\n"),
     {"a.py", "b.py", "c.py"}),
    ("the demo's timeout", edit_matrix('path = "demos/b.py"', 'path = "demos/b.py"\ntimeout = 9'), {"b.py"}),
    ("the demo's Python range", edit_matrix('path = "demos/b.py"', 'path = "demos/b.py"\npython = ">=3.8"'),
     {"b.py"}),
    ("the demo's needs", edit_matrix('path = "demos/b.py"', 'path = "demos/b.py"\nneeds = ["webhook"]'), {"b.py"}),
    ("an xfail on this release", edit_matrix(
        'story = "c"\nreleases = "==1.4.1"', 'story = "c"\nreleases = "==1.4.1"\n'
        '[[demos.xfail]]\nreleases = "==1.4.1"\nreason = "known"'), {"c.py"}),
    ("a demo's requirement (its own overlay: the env and the other demos do not get it)", edit_matrix(
        'path = "demos/b.py"', 'path = "demos/b.py"\nrequirements = ["pytz"]'), {"b.py"}),
    ("the range's constraints", edit_matrix('canary = "canary.py"', 'canary = "canary.py"\nconstraints = ["x<2"]'),
     {"a.py", "b.py", "c.py"}),
    ("the range's environment", edit_matrix("{home}/x", "{home}/y"), {"a.py", "b.py", "c.py"}),
    ("the canary's content", write("canary.py", "print('stricter')\n"), {"a.py", "b.py", "c.py"}),
    ("the backend, where the env has no API server", edit_matrix("[harness]", '[harness]\nbackend = "sqlite"'), set()),
    ("the backend of an env with an API server", lambda p: (
        edit_matrix('env = { HOME_SETTING = "{home}/x" }', 'env = { HOME_SETTING = "{home}/x" }\n'
                    'server = { command = ["srv"], postgres_env = { DB = "{database_url}" } }')(p),
        edit_matrix("[harness]", '[harness]\nbackend = "sqlite"')(p)), {"a.py", "b.py", "c.py"}),
]


@pytest.mark.parametrize("change, rerun", [(c, r) for _, c, r in RERUNS], ids=[d for d, _, _ in RERUNS])
def test_which_change_makes_a_cell_rerun(keyed, change, rerun):
    before = keys(keyed)
    change(keyed)
    after = keys(keyed)
    assert {name for name in before if before[name] != after[name]} == rerun


def test_the_interpreters_and_an_enabled_need_are_inputs_too(keyed):
    before = keys(keyed)
    assert keys(keyed) == before  # nothing else (time, order) goes in
    assert set(keys(keyed, INSTALLED[1:]).items()) & set(before.items()) == set()
    edit_matrix('path = "demos/b.py"', 'path = "demos/b.py"\nneeds = ["docker"]')(keyed)
    skipped = keys(keyed)
    enabled = keys(keyed, environ={"DOCKER_HOST": "tcp://secret-host:2375"})
    assert enabled["b.py"] != skipped["b.py"] and enabled["a.py"] == skipped["a.py"]
    assert keys(keyed, environ={"DOCKER_HOST": "tcp://other:2375"}) == enabled  # the variable counts, not its value


def test_only_an_unchanged_key_with_a_reusable_outcome_is_reused(keyed):
    matrix, session = session_of(keyed)
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    needs = {d.path: check_needs(d.needs, provided_needs(settings), {}) for d in session.demos}
    inputs = cache_inputs(matrix, session, env_spec(matrix, session, settings), needs)

    def recorded(path, outcome, key=None, release="1.4.1"):
        cell = CellResult(path, "s", "", release, "as-released", outcome, cache_key=key or inputs.keys[path])
        return {cell.key: cell}

    assert set(inputs.reusable(recorded("demos/a.py", "pass"), "1.4.1", "as-released")) == {"demos/a.py"}
    assert set(inputs.reusable(recorded("demos/a.py", "skipped"), "1.4.1", "as-released")) == {"demos/a.py"}
    assert inputs.reusable(recorded("demos/a.py", "pass", key="stale"), "1.4.1", "as-released") == {}
    assert inputs.reusable(recorded("demos/a.py", "timeout"), "1.4.1", "as-released") == {}
    assert inputs.reusable(recorded("demos/a.py", "flaky"), "1.4.1", "as-released") == {}
    assert inputs.reusable(recorded("demos/a.py", "pass"), "1.4.1", "latest") == {}


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59.4, "59s"), (59.6, "1m00s"), (61, "1m01s"),
                                           (3600, "60m00s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def _cell(demo="demos/a.py", outcome="pass", **fields) -> CellResult:
    return CellResult(demo, "a", "", "2.0.0", "as-released", outcome, **fields)


@pytest.mark.parametrize("cell, left, line", [
    (_cell(duration=1.234), 75.0, "[2/5] demos/a.py on 2.0.0: pass (1.2s) · about 1m15s left"),
    (_cell(outcome="fail", duration=3, error="ValueError: x"), None,
     "[2/5] demos/a.py on 2.0.0: fail (3.0s) — ValueError: x"),
    (_cell(outcome="skipped", reason="needs docker"), 4.0, "[2/5] demos/a.py on 2.0.0: skipped (0.0s) — needs docker"
     " · about 4s left"),
    (_cell(outcome="xfail", duration=1, error="", reason="known"), None,
     "[2/5] demos/a.py on 2.0.0: xfail (1.0s) — known"),
    (_cell(reused=True, duration=9), None, "[2/5] demos/a.py on 2.0.0: pass (reused: inputs unchanged)"),
])
def test_cell_line(cell, left, line):
    assert cell_line(2, 5, cell, left) == line


def test_progress_counts_cells_and_shares_the_time_left_among_jobs():
    lines: list[str] = []
    progress = Progress(3, {"demos/a.py": 30.0, "demos/b.py": 90.0}, jobs=2, log=lines.append)
    progress.cell_done(_cell("demos/b.py"))
    progress.cell_done(_cell("demos/c.py", "skipped", reason="r"))  # not timed: the estimate stays
    progress.cell_done(_cell("demos/a.py"))
    assert lines == [
        "[1/3] demos/b.py on 2.0.0: pass (0.0s) · about 15s left",
        "[2/3] demos/c.py on 2.0.0: skipped (0.0s) — r · about 15s left",
        "[3/3] demos/a.py on 2.0.0: pass (0.0s)",
    ]


def test_expected_seconds_from_this_release_else_the_median_elsewhere():
    def timed(demo, release, duration):
        cell = CellResult(demo, "s", "", release, "as-released", "pass", duration=duration)
        return cell.key, cell

    baseline = dict([timed("a.py", "2.0.0", 3.0), timed("b.py", "1.0.0", 1.0), timed("b.py", "2.1.0", 9.0),
                     timed("b.py", "2.2.0", 7.0), timed("b.py", "2.0.0", 0.0)])
    demos = [Demo(name, name, "", SpecifierSet("")) for name in ("a.py", "b.py", "c.py")]
    # c.py was never timed: the median demo of the 2.x line (3, 7, 9 s) stands in for it
    assert expected_seconds(baseline, demos, "2.0.0", "as-released") == {"a.py": 3.0, "b.py": 7.0, "c.py": 7.0}
    assert expected_seconds({}, demos, "2.0.0", "as-released") == {}  # a first run: no estimate at all


@pytest.mark.parametrize("result, xfail, judged", [
    (ProcessResult(0, "ok\n", 1.0), None, ("pass", "")),
    (ProcessResult(1, "Traceback (most recent call last):\n  x\nValueError: bad\n", 1.0), None,
     ("fail", "ValueError: bad")),
    (ProcessResult(None, "", 3.0, timed_out=True), None, ("timeout", "killed after its time limit of 3s")),
    (ProcessResult(2, "known breakage\n", 1.0), "known", ("xfail", "known breakage")),
    (ProcessResult(0, "", 1.0), "known", ("xpass", "")),
])
def test_judge_an_attempt(result, xfail, judged):
    assert judge(result, xfail, 3.0) == judged


def _host_env(tmp_path: Path) -> BuiltEnv:
    """This interpreter standing in for a release's env (the warm runner and demos need only the stdlib)."""
    (tmp_path / "env" / "bin").mkdir(parents=True)
    (tmp_path / "env" / "bin" / "python").symlink_to(sys.executable)
    return BuiltEnv(tmp_path / "env", Path(sys.executable), "3.11.7", [])


def _lifecycle(tmp_path, stack, lines, config) -> WarmLifecycle:
    return WarmLifecycle(config, {}, "prefect", tmp_path, tmp_path / "run", lines.append, stack)


def test_warm_runner_off_adopted_or_fallen_back(tmp_path):
    env, lines = _host_env(tmp_path), []
    with contextlib.ExitStack() as stack:
        off = _lifecycle(tmp_path, stack, lines, None)
        off.spawn(env)
        off.adopt()
        assert (off.state, off.forking, lines) == (WarmState.OFF, None, [])
        ready = _lifecycle(tmp_path, stack, lines, WarmConfig(preload=("json",)))
        ready.spawn(env)
        first = ready.runner
        assert ready.state == WarmState.STARTING and ready.forking is None
        ready.spawn(env)  # the next candidate env: the previous candidate's runner is closed
        assert first.proc.poll() is not None and ready.runner is not first
        ready.adopt()
        assert ready.state == WarmState.ADOPTED and ready.forking is ready.runner
        assert len(lines) == 1 and lines[0].startswith("warm runner ready: json imported in ")
        lines.clear()
        broken = _lifecycle(tmp_path, stack, lines, WarmConfig(preload=("no_such_module",)))
        broken.spawn(env)
        broken.adopt()
        assert broken.state == WarmState.FALLEN_BACK and broken.forking is None
        assert lines == ["no warm runner (ModuleNotFoundError: No module named 'no_such_module'); "
                         "demos run as plain subprocesses"]


def test_a_ready_warm_runner_shares_the_envs_commands_once(tmp_path):
    env, lines = _host_env(tmp_path), []
    with contextlib.ExitStack() as stack:
        warm = _lifecycle(tmp_path, stack, lines, WarmConfig(preload=("json",), commands=("python", "missing")))
        warm.spawn(env)
        services = Services("prefect", env.path, tmp_path / "run")
        warm.share(services)
        assert services.shims == tmp_path / "run" / "shims" and (services.shims / "python").is_file()
        assert services.exports["HARNESS_WARM_EXEC"] == warm.runner.exec_socket != ""
        assert lines[0].endswith("; python (and worker flow runs) fork from it")
        warm.adopt()
        assert warm.state == WarmState.ADOPTED and len(lines) == 1  # share() already said it is ready


RETRY_MATRIX = """
[harness]
retries = 1
timeout = 20

[[demos]]
path = "demos/flaky.py"
story = "flaky"
releases = "==1.4.1"

[[demos]]
path = "demos/broken.py"
story = "broken"
releases = "==1.4.1"

[[demos]]
path = "demos/known.py"
story = "known"
releases = "==1.4.1"
[[demos.xfail]]
releases = "==1.4.1"
reason = "known bug"

[[demos]]
path = "demos/future.py"
story = "future"
releases = "==1.4.1"
python = ">=3.99"
"""


def _session_inputs(project):
    """The session of the project's one release, its env settings, and its cells' cache inputs."""
    matrix, session = session_of(project)
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    needs = {d.path: check_needs(d.needs, provided_needs(settings), {}) for d in session.demos}
    return matrix, session, settings, cache_inputs(matrix, session, env_spec(matrix, session, settings), needs)


def _cell_runner(project, tmp_path, log) -> CellRunner:
    """That session's cells, run on this interpreter standing in for the env, with no services."""
    matrix, session, settings, inputs = _session_inputs(project)
    env = _host_env(tmp_path)
    return CellRunner(matrix, session, settings, env, Services("prefect", env.path, tmp_path / "run"),
                      Journal(store_for(matrix), matrix, session, inputs), tmp_path / "run", log)


def test_one_cell_retries_a_fail_and_a_pass_then_is_flaky(project, tmp_path):
    project.write_matrix(RETRY_MATRIX)
    mark = tmp_path / "ran-once"
    project.demo("demos/flaky.py", f"import pathlib, sys\nm = pathlib.Path({str(mark)!r})\n"
                                   "if not m.exists():\n    m.write_text('x')\n    sys.exit('first try fails')\n")
    project.demo("demos/broken.py", "raise SystemExit('always broken')\n")
    project.demo("demos/known.py", "raise SystemExit('still broken')\n")
    project.demo("demos/future.py", "print('never runs')\n")
    lines: list[str] = []
    runner = _cell_runner(project, tmp_path, lines.append)
    matrix, session = runner.matrix, runner.plan
    cells = {Path(d.path).stem: runner.run(d, {}) for d in session.demos}
    assert {name: (c.outcome, c.attempts, c.runner) for name, c in cells.items()} == {
        "flaky": ("flaky", 2, "process"), "broken": ("fail", 2, "process"), "known": ("xfail", 1, "process"),
        "future": ("skipped", 1, ""),
    }
    first_log = Path(cells["flaky"].log).with_name("demos_flaky.py.attempt1.log")  # kept: the next overwrote it
    assert cells["flaky"].error == f"failed, then passed on attempt 2: first try fails (its log: {first_log})"
    assert "first try fails" in first_log.read_text()
    assert "first try fails" not in Path(cells["flaky"].log).read_text()
    again = runner.run(next(d for d in session.demos if d.path == "demos/flaky.py"), {})
    assert (again.outcome, again.attempts, first_log.exists()) == ("pass", 1, False)  # no stale evidence
    assert cells["future"].reason == "demo needs Python >=3.99; this env has 3.11.7"
    assert lines == ["demos/flaky.py on 1.4.1: fail (first try fails); retrying (1/1)",
                     "demos/broken.py on 1.4.1: fail (always broken); retrying (1/1)"]
    recorded = store_for(matrix).load(committed=False).cells
    assert {c.demo for c in recorded.values()} == {d.path for d in session.demos}
    assert "always broken" in Path(cells["broken"].log).read_text()  # outside the matrix folder: named in full


INTERMITTENT_MATRIX = RETRY_MATRIX.split("[[demos]]")[0] + "".join(  # its [harness]: one retry
    f'[[demos]]\npath = "demos/{name}.py"\nstory = "{name}"\nreleases = "==1.4.1"\n'
    '[[demos.xfail]]\nreleases = "==1.4.1"\nreason = "a race of its day"\nintermittent = true\n\n'
    for name in ("always", "once", "never"))


def test_an_intermittent_xfail_is_retried_its_fail_is_xfail_and_its_pass_never_xpass(project, tmp_path):
    project.write_matrix(INTERMITTENT_MATRIX)
    mark = tmp_path / "ran-once"
    project.demo("demos/always.py", "raise SystemExit('lost the race')\n")
    project.demo("demos/once.py", f"import pathlib, sys\nm = pathlib.Path({str(mark)!r})\n"
                                  "if not m.exists():\n    m.write_text('x')\n    sys.exit('lost the race once')\n")
    project.demo("demos/never.py", "print('won the race')\n")
    runner = _cell_runner(project, tmp_path, lambda line: None)
    cells = {Path(d.path).stem: runner.run(d, {}) for d in runner.plan.demos}
    assert {name: (c.outcome, c.attempts, c.reason) for name, c in cells.items()} == {
        "always": ("xfail", 2, "a race of its day"), "once": ("flaky", 2, ""), "never": ("pass", 1, ""),
    }
    assert cells["always"].error == "lost the race"  # what broke it is kept beside the declared reason


def test_declaring_an_xfail_intermittent_changes_the_cells_key(project):
    keys = []
    for intermittent in ("false", "true"):
        project.write_matrix(INTERMITTENT_MATRIX.replace("intermittent = true", f"intermittent = {intermittent}"))
        for name in ("always", "once", "never"):
            project.demo(f"demos/{name}.py", "print('ran')\n")
        keys.append(_session_inputs(project)[3].keys)
    assert all(keys[0][demo] != keys[1][demo] for demo in keys[0])


@pytest.mark.parametrize(("script", "raises", "tries"), [
    ("import sys\nsys.exit(0)\n", None, 1),
    # a race: the first try fails, the second passes, and the env is accepted
    ("import pathlib, sys\nm = pathlib.Path(sys.argv[0]).with_name('tried')\n"
     "if not m.exists():\n    m.write_text('x')\n    sys.exit('lost a race')\n", None, 2),
    ("import sys\nsys.exit('flows do not run')\n", "canary failed 2 times: flows do not run", 2),
])
def test_a_failing_canary_runs_once_more_before_the_interpreter_is_turned_away(keyed, tmp_path, script, raises,
                                                                               tries):
    from harness.run.envs import EnvBuildError, run_canary
    (keyed.root / "canary.py").write_text(script)
    matrix, session = session_of(keyed)
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    log = tmp_path / "env.log"
    context = pytest.raises(EnvBuildError, match=raises) if raises else contextlib.nullcontext()
    with context:
        run_canary(_host_env(tmp_path), env_spec(matrix, session, settings), {}, log)
    assert log.read_text().count("$ canary canary.py 1.4.1 (a fresh interpreter, try ") == tries


def test_a_canary_that_timed_out_is_not_run_again(keyed, tmp_path, monkeypatch):
    from harness.run import envs
    monkeypatch.setattr(envs, "CANARY_SECONDS", 1)
    (keyed.root / "canary.py").write_text("import time\ntime.sleep(30)\n")
    matrix, session = session_of(keyed)
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    log = tmp_path / "env.log"
    with pytest.raises(envs.EnvBuildError, match="^canary failed: timed out$"):
        envs.run_canary(_host_env(tmp_path), env_spec(matrix, session, settings), {}, log)
    assert log.read_text().count("$ canary canary.py") == 1
