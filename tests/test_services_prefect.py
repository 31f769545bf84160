"""Real Prefect API servers and workers: one server per env on 2.x and 3.x, a deployment run
through a real process worker, nothing left running afterwards. Uses the repo's own [harness] (its preset)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO
from tests.test_services import service_pids, wait_dead

pytestmark = pytest.mark.slow

API_CLIENT = """
import asyncio, os
from prefect import flow, get_client

@flow(name="api-probe")
def probe():
    return 7

assert os.environ["PREFECT_API_URL"].startswith("http://127.0.0.1:")
assert probe() == 7

async def runs():
    async with get_client() as client:
        return await client.read_flow_runs()

found = asyncio.run(runs())
assert any(run.name and run.state and run.state.is_completed() for run in found), found
print("flow runs on the env's server:", len(found))
"""


def _repo_harness() -> str:
    text = (REPO / "matrix.toml").read_text()
    return text[: text.index("[[demos]]")]


@pytest.fixture
def prefect_project(project):
    shutil.copytree(REPO / "demos" / "orchestration", project.root / "demos" / "orchestration")
    project.demo("demos/api_probe.py", API_CLIENT)
    project.demo("demos/api_probe_again.py", API_CLIENT)
    deploy = "deployment_worker_modern.py"
    project.write_matrix(_repo_harness() + f"""
[[demos]]
path = "demos/api_probe.py"
story = "probe"
releases = ">=2.20"

[[demos]]
path = "demos/api_probe_again.py"
story = "probe-again"
releases = ">=2.20"

[[demos]]
path = "demos/orchestration/{deploy}"
story = "deploy"
releases = "==3.9.1"
needs = ["process-worker", "local-storage"]
""")
    for extra in (project.root / "demos" / "orchestration").glob("*.py"):
        if not extra.name.startswith("_") and extra.name != deploy:
            extra.unlink()
    return project


def test_one_server_per_env_on_2x_and_3x_and_a_deployment_through_a_worker(prefect_project):
    # the probes count runs in turn
    done = prefect_project.harness("run", "2.20.27", "3.9.1", "--no-report", "--jobs", "1")
    lines = (prefect_project.root / ".matrix" / "results.jsonl").read_text().splitlines()
    cells = {(c["demo"].split("/")[-1], c["release"]): c for c in map(json.loads, lines)}
    outcomes = {k: c["outcome"] for k, c in cells.items()}
    deploy = next(k for k in outcomes if k[0].startswith("deployment_worker"))
    assert outcomes == {
        ("api_probe.py", "2.20.27"): "pass", ("api_probe_again.py", "2.20.27"): "pass",
        ("api_probe.py", "3.9.1"): "pass", ("api_probe_again.py", "3.9.1"): "pass",
        deploy: "pass",
    }, done.stdout + done.stderr
    # both servers ran on the run's PostgreSQL server (the default backend), each on its env's own database
    assert {c["backend"] for c in cells.values()} == {"postgres"}
    logs = prefect_project.root / ".matrix" / "logs"
    pids = []
    for session in ("release-2.20.27-py3.13", "release-3.9.1-py3.13"):
        server_log = logs / session / "server.log"
        assert server_log.read_text().count("starting server") == 1, session  # both demos shared it
        pids += service_pids(server_log)
    worker_log = logs / "release-3.9.1-py3.13" / "worker.log"
    pids += service_pids(worker_log)
    assert len(pids) == 3
    # the worker, and the flow run it launched, were forked from the env's warm runner
    forked = (logs / "release-3.9.1-py3.13" / "warm.log").read_text()
    assert "worker start --pool" in forked and "-m prefect.engine" in forked, forked
    assert "went away" not in worker_log.read_text()  # stopped before the warm runner, not by it
    assert wait_dead(pids, 10) == []
    # the second probe saw the first probe's run: the same server served both
    def count(text):
        return int(text.split("flow runs on the env's server:")[1].split()[0])

    for release in ("2.20.27", "3.9.1"):
        first = cells[("api_probe.py", release)]["output_tail"]
        again = cells[("api_probe_again.py", release)]["output_tail"]
        assert count(again) == count(first) + 1, (first, again)

    # the next run's servers start on the database the first run's servers migrated, as it was before anything
    # ran on it: on 2.20.27, whose env is reused (no canary this time), the probes see their own runs only
    rerun = prefect_project.harness("run", "2.20.27", "3.9.1", "--no-report", "--jobs", "1", "--force")
    assert rerun.stdout.count("database restored from databases/prefect-") == 2, rerun.stdout + rerun.stderr
    latest = {(c["demo"].split("/")[-1], c["release"]): c for c in map(json.loads, (
        prefect_project.root / ".matrix" / "results.jsonl").read_text().splitlines())}
    assert {k: c["outcome"] for k, c in latest.items()} == outcomes, rerun.stdout + rerun.stderr
    probes = ("api_probe.py", "api_probe_again.py")
    assert sorted(count(latest[(probe, "2.20.27")]["output_tail"]) for probe in probes) == [1, 2]
