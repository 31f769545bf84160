"""matrix.toml validation, from the outside: real files in tmp_path, the real `check` command."""

from __future__ import annotations

import pytest

from harness.config.model import MatrixError
from harness.config.parse import load_matrix
from harness.plan.check import check_matrix

GOOD = """
[harness]
package = "prefect"

[[ranges]]
releases = ">=2"
constraints = ["griffe<1"]
env = { PREFECT_HOME = "{home}/.prefect" }

[[demos]]
path = "demos/hello.py"
story = "hello"
releases = ">=2.0,<4"
needs = ["docker"]
[[demos.xfail]]
releases = "==2.0.4"
reason = "known broken"
"""


def _problems(project, text: str) -> list[str]:
    project.write_matrix(text)
    with pytest.raises(MatrixError) as info:
        check_matrix(project.matrix)
    assert str(project.matrix) in str(info.value)  # every error names the file
    return info.value.problems


def test_a_good_matrix_loads_with_typed_fields(project):
    project.demo("demos/hello.py", "print('hi')\n")
    matrix, releases = check_matrix(project.write_matrix(GOOD))
    demo = matrix.demos[0]
    assert demo.variant == "hello" and demo.needs == ("docker",)
    assert demo.claims("3.9.1") and not demo.claims("1.4.1")
    assert demo.xfail_reason("2.0.4") == "known broken" and demo.xfail_reason("2.0.3") is None
    assert matrix.env_settings("2.14.3", "as-released").constraints == ("griffe<1",)
    assert matrix.env_settings("1.4.1", "as-released").constraints == ()
    assert any(r.version == "3.9.1" for r in releases)


def test_check_command_accepts_a_good_matrix(project):
    project.demo("demos/hello.py", "print('hi')\n")
    project.write_matrix(GOOD)
    done = project.harness("check")
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


@pytest.mark.parametrize(
    "edit, key, expected",
    [
        (("[harness]", "[harness]\npakage = 'x'"), "harness.pakage", "unknown key"),
        (("story = ", "storey = 'x'\nstory = "), "storey", "unknown key"),
        (("[harness]", "colour = 'red'\n[harness]"), "(top level).colour", "unknown key"),
        (('reason = "known broken"', 'reason = "known broken"\nwhy = 1'), "xfail[0].why", "unknown key"),
        (('reason = "known broken"', 'reason = "known broken"\nintermittent = "sometimes"'),
         "xfail[0].intermittent", "expected true or false, got 'sometimes'"),
        (('releases = ">=2.0,<4"', 'releases = ">>2"'), ".releases", "not a valid PEP 440 specifier"),
        (('releases = ">=2"', 'releases = "two"'), "ranges[0].releases", "not a valid PEP 440 specifier"),
        (('path = "demos/hello.py"', 'path = "demos/missing.py"'), ".path", "does not exist"),
        (('needs = ["docker"]', 'needs = ["teleporter"]'), ".needs", "unknown need 'teleporter'"),
        (('releases = ">=2.0,<4"', 'releases = ">=9"'), ".releases", "matches no usable release"),
        (('releases = "==2.0.4"', 'releases = "==9.9"'), "xfail[0].releases", "matches no release inside"),
        (('constraints = ["griffe<1"]', 'constraints = ["griffe <<< 1"]'), "ranges[0].constraints",
         "not a valid requirement"),
        (('package = "prefect"', 'package = "prefect"\ntimeout = "long"'), "harness.timeout", "expected a number"),
        (('package = "prefect"', 'package = "prefect"\nresolution = "newest"'), "harness.resolution", "as-released"),
        (('story = "hello"', 'story = "hello"\ntimeout = -1'), ".timeout", "more than 0 and at most 86400 seconds"),
        (('env = { PREFECT_HOME = "{home}/.prefect" }',
          'env = { PREFECT_HOME = "{home}/.prefect" }\n[ranges.warm]\npreload = ["x"]\ncommands = ["bin/x"]'),
         "ranges[0].warm.commands[0]", "name of a script in the env's bin folder"),
    ],
)
def test_each_bad_matrix_is_rejected_naming_the_key(project, edit, key, expected):
    project.demo("demos/hello.py", "print('hi')\n")
    old, new = edit
    assert old in GOOD
    problems = _problems(project, GOOD.replace(old, new, 1))
    assert any(key in p and expected in p for p in problems), problems


def test_an_undeclared_demo_file_is_an_error_but_helpers_are_not(project):
    project.demo("demos/hello.py", "print('hi')\n")
    project.demo("demos/extra/forgotten.py", "print('x')\n")
    project.demo("demos/extra/_shared.py", "X = 1\n")
    problems = _problems(project, GOOD)
    assert len(problems) == 1
    assert "demos/extra/forgotten.py" in problems[0] and "no [[demos]] entry declares it" in problems[0]


def test_invalid_toml_and_missing_file_are_clear(project):
    with pytest.raises(MatrixError, match="file not found"):
        load_matrix(project.matrix)
    project.matrix.write_text("[harness\n")
    with pytest.raises(MatrixError, match="not valid TOML"):
        load_matrix(project.matrix)


def test_every_problem_is_reported_at_once(project):
    project.write_matrix("""
        [harness]
        colour = 1
        [[demos]]
        path = "demos/nope.py"
        story = "s"
        releases = "bad"
    """)
    with pytest.raises(MatrixError) as info:
        load_matrix(project.matrix)
    assert len(info.value.problems) == 3


def test_check_command_exits_non_zero_with_the_message(project):
    project.demo("demos/hello.py", "print('hi')\n")
    project.write_matrix(GOOD.replace('releases = ">=2.0,<4"', 'releases = "~=x"'))
    done = project.harness("check")
    assert done.returncode == 2
    assert "matrix.toml" in done.stderr and "releases" in done.stderr and "PEP 440" in done.stderr


def test_demo_paths_are_relative_to_the_matrix_file(project, tmp_path):
    """Another demo repository: the matrix lives elsewhere, paths resolve next to it."""
    project.demo("demos/hello.py", "print('hi')\n")
    project.write_matrix(GOOD)
    matrix = load_matrix(project.matrix)
    assert matrix.resolve(matrix.demos[0].path) == project.root / "demos" / "hello.py"


def test_a_later_warm_table_overrides_only_the_keys_it_sets(project):
    project.demo("demos/hello.py", "print('hi')\n")
    project.demo("reset.py", "import prefect\n")
    matrix, _ = check_matrix(project.write_matrix(GOOD + '''
[[ranges]]
releases = ">=2"
[ranges.warm]
preload = ["prefect"]
commands = ["prefect"]
reset = "reset.py"

[[ranges]]
releases = ">=3"
[ranges.warm]
preload = ["prefect", "prefect.main"]
'''))
    two = matrix.env_settings("2.20.27", "as-released").warm
    three = matrix.env_settings("3.9.1", "as-released").warm
    assert two.preload == ("prefect",) and three.preload == ("prefect", "prefect.main")
    assert three.commands == two.commands == ("prefect",) and three.reset == two.reset == "import prefect\n"
    assert matrix.env_settings("1.4.1", "as-released").warm is None
