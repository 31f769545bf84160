"""Declared needs through the whole harness: provided services, skips, enabling by environment,
redaction, and no process outliving the run. Uses a real Prefect 1.4.1 env (seconds with uv's cache)
and the stdlib stand-in server of test_services.py, so the mechanism is tested apart from Prefect."""

from __future__ import annotations

import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import REPO
from tests.test_services import FAKE_SERVER, FAKE_WORKER, service_pids, wait_dead

pytestmark = pytest.mark.slow

MATRIX = """
[harness]
timeout = 120
fallbacks = 0

[[ranges]]
releases = "<2"
canary = "canary_classic.py"  # the preset's, copied: no warm runner, so services start plainly
env = { PREFECT__HOME_DIR = "{home}/.prefect" }
[ranges.server]
command = ["python", "fake_server.py", "{port}", "0.2"]
export = "FAKE_API_URL"
[ranges.worker]
setup = [["python", "-c", "print('created pool {pool}')"]]
command = ["python", "fake_worker.py", "{pool}"]
ready = "Worker started"

[[demos]]
path = "demos/uses_server.py"
story = "server"
releases = "==1.4.1"

[[demos]]
path = "demos/uses_worker.py"
story = "worker"
releases = "==1.4.1"
needs = ["process-worker"]

[[demos]]
path = "demos/notifies.py"
story = "notify"
releases = "==1.4.1"
needs = ["webhook", "local-storage"]

[[demos]]
path = "demos/graphql.py"
story = "graphql"
releases = "==1.4.1"
needs = ["prefect1-backend"]

[[demos]]
path = "demos/docker.py"
story = "docker"
releases = "==1.4.1"
needs = ["docker"]
"""

USES_SERVER = """
import os, urllib.request
url = os.environ["FAKE_API_URL"]
assert urllib.request.urlopen(url + "/health").read() == b"true"
print("server ok", url)
"""

USES_WORKER = """
import os
assert os.environ["DEMO_WORK_POOL"].startswith("demos-"), os.environ.get("DEMO_WORK_POOL")
print("pool", os.environ["DEMO_WORK_POOL"])
"""

NOTIFIES = """
import json, os, pathlib, urllib.request
storage = pathlib.Path(os.environ["DEMO_STORAGE_DIR"])
assert storage.is_dir() and not any(storage.iterdir())
(storage / "result.json").write_text(json.dumps({"rows": 3}))
assert json.loads((storage / "result.json").read_text()) == {"rows": 3}
url = os.environ["DEMO_WEBHOOK_URL"]
body = json.dumps({"text": "flow etl failed"}).encode()
urllib.request.urlopen(urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}))
received = json.load(urllib.request.urlopen(url))
assert [json.loads(item["body"]) for item in received] == [{"text": "flow etl failed"}], received
print("delivered")
"""

GRAPHQL = """
import json, os, urllib.request
key = os.environ.get("PREFECT1_API_KEY", "")
print("using key", key)
query = {"query": "query { flow(where: {name: {_eq: \\"etl\\"}}) { id } }"}
request = urllib.request.Request(os.environ["PREFECT1_API_URL"], data=json.dumps(query).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
answer = json.load(urllib.request.urlopen(request))
assert answer["data"]["flow"], answer
"""


@pytest.fixture
def services_project(project):
    shutil.copy(REPO / "harness" / "presets" / "prefect" / "canary_classic.py", project.root)
    (project.root / "fake_server.py").write_text(FAKE_SERVER)
    (project.root / "fake_worker.py").write_text(FAKE_WORKER)
    project.demo("demos/uses_server.py", USES_SERVER)
    project.demo("demos/uses_worker.py", USES_WORKER)
    project.demo("demos/notifies.py", NOTIFIES)
    project.demo("demos/graphql.py", GRAPHQL)
    project.demo("demos/docker.py", "raise SystemExit('must not run')\n")
    project.write_matrix(MATRIX)
    return project


def _cells(project):
    lines = (project.root / ".matrix" / "results.jsonl").read_text().splitlines()
    return {c["demo"].split("/")[-1]: c for c in map(json.loads, lines)}


@pytest.fixture
def graphql_stub():
    """Stands in for a Prefect 1.x Server: records what reaches it, answers with no flows."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.headers.get("Authorization"), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"data": {"flow": []}}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/graphql", seen
    server.shutdown()


def test_provided_services_skips_and_no_leftover_processes(services_project, monkeypatch):
    for var in ("PREFECT1_API_URL", "PREFECT1_API_KEY", "DOCKER_HOST"):
        monkeypatch.delenv(var, raising=False)
    done = services_project.harness("run", "1.4.1", "--no-report")
    cells = _cells(services_project)
    outcomes = {name: cell["outcome"] for name, cell in cells.items()}
    assert outcomes == {"uses_server.py": "pass", "uses_worker.py": "pass", "notifies.py": "pass",
                        "graphql.py": "skipped", "docker.py": "skipped"}, done.stdout + done.stderr
    assert "set PREFECT1_API_URL to run it" in cells["graphql.py"]["reason"]
    assert "Docker engine" in cells["docker.py"]["reason"] and "DOCKER_HOST" in cells["docker.py"]["reason"]
    run_dir = services_project.root / ".matrix" / "logs" / "release-1.4.1-py3.10"
    server_log = (run_dir / "server.log").read_text()
    assert server_log.count("starting server") == 1  # one server per env, not one per demo
    pids = service_pids(run_dir / "server.log") + service_pids(run_dir / "worker.log")
    assert len(pids) == 3  # server, its helper child, worker
    assert wait_dead(pids, 5) == []
    assert "API server healthy" in done.stdout and "worker polling pool" in done.stdout


def test_an_unavailable_service_runs_when_its_variables_are_set_and_secrets_are_redacted(
        services_project, graphql_stub, monkeypatch):
    url, seen = graphql_stub
    monkeypatch.setenv("PREFECT1_API_URL", url)
    monkeypatch.setenv("PREFECT1_API_KEY", "pnu_s3cr3t_k3y_value")
    services_project.harness("run", "1.4.1", timeout=600)
    cell = _cells(services_project)["graphql.py"]
    assert seen and seen[0][0] == "Bearer pnu_s3cr3t_k3y_value"  # the harness really ran it against the stub
    assert b"flow(where" in seen[0][1]
    assert cell["outcome"] == "fail" and cell["error"].startswith("AssertionError")
    assert "using key [redacted]" in cell["output_tail"]
    everything = [services_project.root / ".matrix", services_project.root / "reports"]
    for folder in everything:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".log", ".json", ".jsonl", ".md", ".txt"):
                assert "pnu_s3cr3t_k3y_value" not in path.read_text(errors="replace"), path


def test_an_interrupted_run_leaves_no_process_behind(services_project, tmp_path):
    pid_file = tmp_path / "demo.pid"
    services_project.demo("demos/uses_server.py", f"""
        import os, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(600)
    """)
    harness = subprocess.Popen([sys.executable, "-m", "harness", "--matrix", str(services_project.matrix),
                                "run", "1.4.1", "--no-report"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the demo never started"
    time.sleep(0.3)
    run_dir = services_project.root / ".matrix" / "logs" / "release-1.4.1-py3.10"
    pids = [int(pid_file.read_text())] + service_pids(run_dir / "server.log")
    assert len(pids) == 3
    harness.send_signal(signal.SIGTERM)
    harness.wait(timeout=60)
    assert wait_dead(pids, 20) == []
