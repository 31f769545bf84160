"""The built-in preset and the one merge rule: what each era of Prefect gets, preset loading, pins, the
README's table of [harness] keys."""

from __future__ import annotations

import ast
import dataclasses
import shutil
import ssl
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from harness.config import presets
from harness.config.model import MatrixError, ReleaseRange, ServerConfig, WorkerConfig, merge_keys
from harness.config.options import options_table, with_options_table
from harness.config.parse import load_matrix
from harness.config.templates import template_problem
from harness.plan.check import check_matrix
from harness.run.process import INENV, isolated_environ
from tests.conftest import REPO

PRESET = REPO / "harness" / "presets" / "prefect"

# --- what each era got from matrix.toml before its era settings moved into the preset ------------
# (computed from matrix.toml at f414832; only the canaries' and reset scripts' location changed)

CLASSIC_ENV = {"PREFECT__HOME_DIR": "{home}/.prefect", "PREFECT__USER_CONFIG_PATH": "{home}/.prefect/config.toml"}
MODERN_ENV = {"DO_NOT_TRACK": "1", "PREFECT_HOME": "{home}/.prefect", "PREFECT_LOCAL_STORAGE_PATH": "{storage}",
              "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
# The API client's trusted certificates (added since): nothing to load before 2.16, one certificate from 2.16
TLS_SKIP = ("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true")
ONE_CA = ("PREFECT_API_SSL_CERT_FILE", "{inenv}/loopback_ca.pem")
MODERN_ENV_SKIP = {**MODERN_ENV, TLS_SKIP[0]: TLS_SKIP[1]}
MODERN_ENV_CA = {**MODERN_ENV, ONE_CA[0]: ONE_CA[1]}
# Each server's encryption key from {server_key} (added since), in the era's own variable
ORION_SERVER = ServerConfig(
    command=("prefect", "orion", "start", "--host", "{host}", "--port", "{port}"),
    env=(("ORION_ENCRYPTION_KEY", "{server_key}"), ("PREFECT_HOME", "{home}/.prefect"),
         ("PREFECT_ORION_ANALYTICS_ENABLED", "false"),
         ("PREFECT_ORION_SERVICES_LATE_RUNS_ENABLED", "false"), ("PREFECT_ORION_SERVICES_SCHEDULER_ENABLED", "false"),
         ("PREFECT_ORION_UI_ENABLED", "false")),
    url="http://{host}:{port}/api", health="{url}/health", export="PREFECT_API_URL", timeout=120.0,
    postgres_env=(("PREFECT_ORION_DATABASE_CONNECTION_URL", "{database_url}"),),
    restored_env=(("PREFECT_ORION_DATABASE_MIGRATE_ON_START", "false"),
                  ("PREFECT_ORION_BLOCKS_REGISTER_ON_START", "false")))
SERVER = ServerConfig(
    command=("prefect", "server", "start", "--host", "{host}", "--port", "{port}"),
    env=(("PREFECT_API_SERVICES_LATE_RUNS_ENABLED", "false"), ("PREFECT_API_SERVICES_SCHEDULER_ENABLED", "false"),
         ("PREFECT_HOME", "{home}/.prefect"), ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
         ("PREFECT_SERVER_ENCRYPTION_KEY", "{server_key}"), ("PREFECT_UI_ENABLED", "false")),
    url="http://{host}:{port}/api", health="{url}/health", export="PREFECT_API_URL", timeout=120.0,
    postgres_env=(("PREFECT_API_DATABASE_CONNECTION_URL", "{database_url}"),),
    restored_env=(("PREFECT_API_DATABASE_MIGRATE_ON_START", "false"),
                  ("PREFECT_API_BLOCKS_REGISTER_ON_START", "false")))
WORKER_ENV = (("PREFECT_HOME", "{home}/.prefect"), ("PREFECT_WORKER_PREFETCH_SECONDS", "5"),
              ("PREFECT_WORKER_QUERY_SECONDS", "1"))
WORKER = WorkerConfig(
    command=("prefect", "worker", "start", "--pool", "{pool}"),
    setup=(("prefect", "work-pool", "create", "{pool}", "--type", "process"),),
    env=WORKER_ENV, ready="started", timeout=90.0)
WORKER_SKIP = dataclasses.replace(WORKER, env=(TLS_SKIP, *WORKER_ENV))
WORKER_CA = dataclasses.replace(WORKER, env=(ONE_CA, *WORKER_ENV))
WORKER_TEMPLATE = WorkerConfig(
    command=("prefect", "worker", "start", "--pool", "{pool}"),
    setup=(("prefect", "work-pool", "get-default-base-job-template", "--type", "process",
            "--file", "{workdir}/pool.json"),
           # was "{harness}/json_set.py": since harness/ became stages that named harness/run/, where it is not
           ("python", "{inenv}/json_set.py", "{workdir}/pool.json", "variables.properties.command.default",
            "{python} -m prefect.engine"),
           ("prefect", "work-pool", "create", "{pool}", "--type", "process",
            "--base-job-template", "{workdir}/pool.json")),
    env=(ONE_CA, *WORKER_ENV), ready="started", timeout=90.0)
RESET_CLASSIC = '''
import logging
import os
import prefect
import prefect.configuration as configuration
configuration.USER_CONFIG = os.getenv("PREFECT__USER_CONFIG_PATH", "~/.prefect/config.toml")
configuration.BACKEND_CONFIG = os.getenv("PREFECT__BACKEND_CONFIG_PATH", "~/.prefect/backend.toml")
fresh = configuration.load_default_config()
prefect.config.clear()
prefect.config.update(fresh)
prefect.context.clear()
type(prefect.context).__init__(prefect.context)
logging.getLogger("prefect").handlers.clear()
prefect.context.logger = prefect.utilities.logging.prefect_logger = prefect.utilities.logging.configure_logging()
'''
RESET_MODERN = '''
import prefect.context
prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.root_settings_context()
'''
WARM_CLASSIC = (("prefect", "prefect.cli"), ("prefect", "python"), RESET_CLASSIC)
WARM_2X = (("prefect", "prefect.cli"), ("prefect", "python"), RESET_MODERN)
# 2.8-2.15 preload the server since: each forked demo imported it again (see the preset)
WARM_2X_SERVER = (("prefect", "prefect.cli", "prefect.server.api.server"), ("prefect", "python"), RESET_MODERN)
WARM_3X = (("prefect", "prefect.main", "prefect.flow_engine", "prefect.task_engine", "prefect.engine", "prefect.cli",
            "prefect.server.api.server"), ("prefect", "python"), RESET_MODERN)
PINS_2_0 = ("pydantic<2", "anyio<4", "sqlalchemy<2", "fastapi<0.100", "httpx<0.24", "griffe<1")

ERAS = [  # release, resolution, constraints, canary, env, server, worker, warm (preload, commands, reset)
    ("0.14.22", "as-released", (), "classic", CLASSIC_ENV, None, None, None),
    ("0.14.22", "latest", ("urllib3<2", "marshmallow<4"), "classic", CLASSIC_ENV, None, None, None),
    ("0.15.13", "as-released", (), "classic", CLASSIC_ENV, None, None, WARM_CLASSIC),
    ("0.15.13", "latest", (), "classic", CLASSIC_ENV, None, None, WARM_CLASSIC),
    ("1.4.1", "as-released", (), "classic", CLASSIC_ENV, None, None, WARM_CLASSIC),
    ("1.4.1", "latest", (), "classic", CLASSIC_ENV, None, None, WARM_CLASSIC),
    # no process work pools before 2.10 (measured: 2.9.0's `work-pool create` has no --type)
    ("2.0.0", "latest", PINS_2_0, "modern", MODERN_ENV, ORION_SERVER, None, WARM_2X),
    ("2.6.9", "as-released", (), "modern", MODERN_ENV, ORION_SERVER, None, WARM_2X),
    ("2.9.0", "as-released", (), "modern", MODERN_ENV_SKIP, ORION_SERVER, None, WARM_2X_SERVER),
    ("2.9.0", "latest", PINS_2_0, "modern", MODERN_ENV_SKIP, ORION_SERVER, None, WARM_2X_SERVER),
    ("2.10.19", "latest", PINS_2_0, "modern", MODERN_ENV_SKIP, SERVER, WORKER_SKIP, WARM_2X_SERVER),
    ("2.10.21", "latest", ("griffe<1", "anyio<4"), "modern", MODERN_ENV_SKIP, SERVER, WORKER_SKIP, WARM_2X_SERVER),
    ("2.14.21", "as-released", (), "modern", MODERN_ENV_SKIP, SERVER, WORKER_SKIP, WARM_2X_SERVER),
    ("2.14.21", "latest", ("griffe<1", "anyio<4"), "modern", MODERN_ENV_SKIP, SERVER, WORKER_SKIP, WARM_2X_SERVER),
    ("2.19.5", "latest", (), "modern", MODERN_ENV_CA, SERVER, WORKER_CA, WARM_2X),
    ("2.19.6", "as-released", (), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_2X),
    ("2.20.27", "as-released", (), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_2X),
    ("2.20.27", "latest", (), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_2X),
    ("3.0.0", "latest", ("pydantic<2.11", "fastapi<0.132"), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE,
     WARM_3X),
    ("3.4.25", "latest", ("fastapi<0.137",), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_3X),
    ("3.6.0", "latest", ("fastapi<0.137",), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_3X),
    ("3.9.1", "as-released", (), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_3X),
    ("3.9.1", "latest", (), "modern", MODERN_ENV_CA, SERVER, WORKER_TEMPLATE, WARM_3X),
]


def _code(text: str) -> str:
    return ast.dump(ast.parse(text))  # comments do not count: only what runs


@pytest.mark.parametrize("release, resolution, constraints, canary, env, server, worker, warm", ERAS)
def test_each_era_gets_from_the_preset_what_it_got_before(release, resolution, constraints, canary, env, server,
                                                          worker, warm):
    got = load_matrix(REPO / "matrix.toml").env_settings(release, resolution)
    # 3.1-3.5 installed today lack importlib_metadata (measured on 3.3.7): a pin adds it under `latest` only
    added = ("importlib_metadata",) if resolution == "latest" and "3.1" <= release[:3] < "3.6" else ()
    assert got.constraints == constraints and got.requirements == added and got.python is None
    assert got.env == env
    assert Path(got.canary) == PRESET / f"canary_{canary}.py"
    assert got.server == server and got.worker == worker
    if warm is None:
        assert got.warm is None
    else:
        assert (got.warm.preload, got.warm.commands, _code(got.warm.reset)) == (warm[0], warm[1], _code(warm[2]))


# --- the merge rule, table-driven ---------------------------------------------------------------

@pytest.mark.parametrize("earlier, later, merged", [
    ({"canary": "a.py"}, {"canary": "b.py"}, {"canary": "b.py"}),  # a scalar replaces
    ({"canary": "a.py"}, {"env": {"X": "1"}}, {"canary": "a.py", "env": {"X": "1"}}),  # keys not set stay
    ({"env": {"X": "1", "Y": "2"}}, {"env": {"Y": "3", "Z": "4"}},
     {"env": {"X": "1", "Y": "3", "Z": "4"}}),  # key by key
    ({"constraints": ("a<1",)}, {"constraints": ("b<2",)}, {"constraints": ("b<2",)}),  # a list replaces
    ({"warm": {"preload": ("p",), "reset": "r"}}, {"warm": {"preload": ("p", "q")}},
     {"warm": {"preload": ("p", "q"), "reset": "r"}}),
    ({"server": {"command": ("s",), "env": {"A": "1"}}}, {"server": {"env": {"B": "2"}}},
     {"server": {"command": ("s",), "env": {"A": "1", "B": "2"}}}),  # tables in tables too
    ({}, {"worker": {"setup": ()}}, {"worker": {"setup": ()}}),
])
def test_a_later_range_overrides_the_keys_it_sets(earlier, later, merged):
    before = repr(earlier)
    assert merge_keys(earlier, later) == merged
    assert repr(earlier) == before  # the earlier range is left as it was


def _matrix(project, harness: str, rest: str = "") -> Path:
    project.demo("demos/hello.py", "print('hi')\n")
    return project.write_matrix(f'[harness]\n{harness}\n{rest}\n[[demos]]\npath = "demos/hello.py"\nstory = "hello"\n'
                                'releases = ">=0.14"\n')


def test_the_matrix_ranges_apply_after_the_presets(project):
    matrix = load_matrix(_matrix(project, 'preset = "prefect"', '''
[[ranges]]
releases = ">=3"
env = { PREFECT_HOME = "{home}/elsewhere" }  # overrides one variable of the preset's
[ranges.worker]
ready = "polling"
'''))
    three, two = matrix.env_settings("3.9.1", "as-released"), matrix.env_settings("2.20.27", "as-released")
    assert three.env == dict(MODERN_ENV_CA, PREFECT_HOME="{home}/elsewhere") and two.env == MODERN_ENV_CA
    assert three.worker.ready == "polling" and three.worker.setup == WORKER_TEMPLATE.setup
    assert [r.source for r in matrix.matching_ranges("3.9.1")][-1] == "ranges[0]"


def test_pins_apply_only_under_latest_and_a_later_pin_overrides_the_packages_it_names(project):
    matrix = load_matrix(_matrix(project, 'preset = "prefect"', '''
[[pins]]
releases = ">=2.0,<2.5"
constraints = ["pydantic<1.10", "numpy<2"]
why = "an example of a demo repository's own pin"
'''))
    assert matrix.env_settings("2.0.0", "as-released").constraints == ()
    assert matrix.env_settings("2.0.0", "latest").constraints == (
        "pydantic<1.10", "anyio<4", "sqlalchemy<2", "fastapi<0.100", "httpx<0.24", "griffe<1", "numpy<2")
    assert matrix.env_settings("2.9.0", "latest").constraints == PINS_2_0


def test_a_matrix_without_a_preset_has_no_era_settings(project):
    matrix = load_matrix(_matrix(project, 'package = "prefect"'))
    settings = matrix.env_settings("3.9.1", "latest")
    assert settings.canary is None and settings.server is None and settings.constraints == () and matrix.sources == ()


def test_an_unknown_preset_is_an_error_listing_the_available_ones(project):
    with pytest.raises(MatrixError) as info:
        load_matrix(_matrix(project, 'preset = "prefekt"'))
    assert any("harness.preset" in p and "'prefekt'" in p and "prefect" in p.split("expected", 1)[1]
               for p in info.value.problems), info.value.problems


def test_the_matrix_version_covers_the_presets_files(project, monkeypatch, tmp_path):
    path = _matrix(project, 'preset = "prefect"')
    before = load_matrix(path).version
    shutil.copytree(PRESET, tmp_path / "presets" / "prefect")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path / "presets")
    assert load_matrix(path).version == before  # the same files elsewhere
    with (tmp_path / "presets" / "prefect" / "reset_modern.py").open("a") as reset:
        reset.write("# one more comment\n")
    assert load_matrix(path).version != before


def test_check_names_a_missing_preset_file_as_the_harnesss(project, monkeypatch, tmp_path):
    shutil.copytree(PRESET, tmp_path / "presets" / "prefect")
    (tmp_path / "presets" / "prefect" / "canary_modern.py").unlink()
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path / "presets")
    with pytest.raises(MatrixError) as info:
        check_matrix(_matrix(project, 'preset = "prefect"'))
    assert any(p.startswith("harness/presets/prefect/preset.toml: ranges[") and "'canary_modern.py'" in p
               and "ship with the harness in harness/presets/prefect/" in p
               for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("ranges, expected", [
    ('[[ranges]]\nreleases = ">=2"\nresolution = ["latest"]\nconstraints = ["x<1"]\n',
     ("ranges[0].resolution", "[[pins]]")),
    ('[[ranges]]\nreleases = ">=2"\n[ranges.warm]\npreload = ["x"]\nreset = "import x"\n',
     ("ranges[0].warm.reset", "path of a .py file")),
    ('[[ranges]]\nreleases = ">=2"\n[ranges.warm]\npreload = ["x"]\nreset = "missing.py"\n',
     ("ranges[0].warm.reset", "'missing.py' does not exist")),
    ('[[pins]]\nreleases = ">=2"\nconstraints = ["x<1"]\n', ("pins[0].why", "missing")),
    ('[[pins]]\nreleases = ">=2"\nwhy = "w"\n', ("pins[0].constraints", "non-empty list")),
])
def test_each_bad_range_or_pin_is_rejected_naming_the_key(project, ranges, expected):
    with pytest.raises(MatrixError) as info:
        load_matrix(_matrix(project, "", ranges))
    key, message = expected
    assert any(key in p and message in p for p in info.value.problems), info.value.problems


def test_check_reports_ranges_that_merge_into_a_worker_without_a_command(project):
    path = _matrix(project, "", '[[ranges]]\nreleases = ">=3.9"\n[ranges.worker]\nready = "started"\n')
    with pytest.raises(MatrixError) as info:
        check_matrix(path)
    assert any(p.startswith("ranges (releases 3.9.0 to ") and "[ranges.worker] has no command" in p
               and "(ranges[0])" in p for p in info.value.problems), info.value.problems


def test_a_range_keeps_only_the_keys_it_sets(project):
    matrix = load_matrix(_matrix(project, "", '[[ranges]]\nreleases = ">=3"\n[ranges.server]\nexport = "X"\n'))
    assert matrix.ranges == (ReleaseRange(SpecifierSet(">=3"), {"server": {"export": "X"}}, "ranges[0]"),)


# --- [harness] keys: declared once, the README's table rendered from the declaration --------------

def test_the_readmes_table_of_harness_keys_is_the_declarations():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert with_options_table(readme) == readme, (
        "README.md's [harness] table differs from harness/config/options.py: "
        "run `python3 -m harness.config.options --write README.md`")
    for key in ("preset", "jobs", "retries", "resolution"):
        assert f"| `{key}` |" in options_table()


def test_the_readmes_example_matrix_is_a_valid_one(project):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## matrix.toml"):]
    example = section[section.index("```toml\n") + len("```toml\n"):section.index("```\n", section.index("```toml"))]
    project.demo("canaries/classic.py", "print('canary')\n")
    project.demo("reset.py", "import os\n")
    project.demo("demos/core/hello_etl_classic.py", "print('hi')\n")
    matrix = load_matrix(project.write_matrix(example))
    settings = matrix.env_settings("1.4.1", "latest")
    assert settings.warm.reset == "import os\n" and Path(settings.canary) == project.root / "canaries" / "classic.py"
    assert settings.worker.setup[0][1] == "{inenv}/json_set.py" and matrix.pins[-1].why


@pytest.mark.parametrize("release, service", [("2.16.9", None), ("3.9.1", None), ("3.9.1", "worker")])
def test_the_api_clients_certificate_file_fills_in_and_loads_as_one_certificate(tmp_path, release, service):
    """A client whose PREFECT_API_SSL_CERT_FILE does not load cannot start: every 2.16+ cell would fail."""
    settings = load_matrix(REPO / "matrix.toml").env_settings(release, "as-released")
    template = dict(settings.worker.env) if service else settings.env
    values = {"pool": "p", "url": "u", "workdir": "w", "python": "py", "inenv": str(INENV)} if service else None
    environ = isolated_environ(template, "prefect", tmp_path, values=values)
    context = ssl.create_default_context(cafile=environ["PREFECT_API_SSL_CERT_FILE"])
    assert len(context.get_ca_certs()) == 1


def test_inenv_is_a_name_every_env_table_may_use():
    assert template_problem("{inenv}/loopback_ca.pem", "env") is None
    assert template_problem("{inenv}/x", "worker.env") is None
    assert "{inenv}" in template_problem("{pool}", "env")  # the message lists what may be used
