"""Services from the outside: real processes on loopback, real HTTP, process ids checked in /proc.

A small stdlib "API server" stands in for Prefect's here so these run in seconds;
test_services_prefect.py does the same with real Prefect servers and workers.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from harness.config.model import ServerConfig, WorkerConfig
from harness.run import database
from harness.run.services import BackgroundWorker, ServiceError, Services, WebhookReceiver

FAKE_SERVER = textwrap.dedent("""
    import http.server, os, subprocess, sys, time
    port = int(sys.argv[1]); delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    # a child of its own, like uvicorn under `prefect server start`
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    print("helper pid", helper.pid, flush=True)
    print("home", os.environ.get("FAKE_HOME"), flush=True)
    print("key", os.environ.get("FAKE_KEY"), flush=True)
    print("skip", os.environ.get("FAKE_SKIP"), flush=True)
    print("database", os.environ.get("FAKE_DB"), os.environ.get("PGHOST"), flush=True)
    time.sleep(delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")

FAKE_WORKER = textwrap.dedent("""
    import os, sys, time
    print("worker for", sys.argv[1], "against", os.environ.get("FAKE_API"), flush=True)
    time.sleep(0.3)
    print("Worker started!", flush=True)
    time.sleep(3600)
""")


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status.lower()


def wait_dead(pids, seconds=15.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def service_pids(log: Path) -> list[int]:
    text = log.read_text()
    return [int(p) for p in re.findall(r"supervise: pid (\d+)", text) + re.findall(r"helper pid (\d+)", text)]


@pytest.fixture
def scripts(tmp_path):
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER)
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    return server, worker


def _server_config(server: Path, delay="0.5", timeout=20.0) -> ServerConfig:
    return ServerConfig(command=(sys.executable, str(server), "{port}", delay), export="FAKE_API",
                        env=(("FAKE_HOME", "{home}/db"),), timeout=timeout)


def _started_log(scripts, run_dir: Path, restored: bool) -> str:
    config = ServerConfig(command=(sys.executable, str(scripts[0]), "{port}", "0"), export="FAKE_API",
                          env=(("FAKE_KEY", "{server_key}"),), restored_env=(("FAKE_SKIP", "migrations"),))
    with Services("prefect", run_dir.parent / "env", run_dir, log=lambda m: None) as services:
        services.start_server(config, restored=restored)
        return services.server_log.read_text()


def test_each_server_start_gets_a_key_of_its_own(tmp_path, scripts):
    """{server_key}: a valid Fernet key (32 bytes, URL-safe base64) that no other start shares, so the key a
    server would otherwise make lazily in its database exists before any demo can race to make it."""
    keys = [re.search(r"^key (\S+)$", _started_log(scripts, tmp_path / run, False), re.MULTILINE).group(1)
            for run in ("one", "two")]
    assert keys[0] != keys[1]
    assert all(len(base64.urlsafe_b64decode(key)) == 32 and len(key) == 44 for key in keys)


def test_a_server_on_the_runs_postgresql_gets_its_url_and_libpqs_variables(tmp_path, scripts):
    """Prefect 3.4-3.5 open their LISTEN/NOTIFY connection from the URL's host and port alone: PGHOST is where
    asyncpg then finds the socket."""
    config = ServerConfig(command=(sys.executable, str(scripts[0]), "{port}", "0"), export="FAKE_API",
                          postgres_env=(("FAKE_DB", "{database_url}"),))
    running = database.RunningPostgres("/tmp/harness-postgres-1-x/socket", 1, "/tmp/harness-postgres-1-x", "/bin")
    with Services("prefect", tmp_path / "env", tmp_path / "on-postgres", log=lambda m: None) as services:
        services.start_server(config, database_url=running.url("db"), database_environ=running.client_environ())
        log = services.server_log.read_text()
    assert f"database {running.url('db')} /tmp/harness-postgres-1-x/socket" in log
    with Services("prefect", tmp_path / "env", tmp_path / "on-sqlite", log=lambda m: None) as services:
        services.start_server(config)  # backend "sqlite": neither
        assert "database None None" in services.server_log.read_text()


def test_restored_env_reaches_only_a_server_whose_database_was_restored(tmp_path, scripts):
    assert "skip None" in _started_log(scripts, tmp_path / "fresh", False)
    assert "skip migrations" in _started_log(scripts, tmp_path / "restored", True)


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_server_starts_healthy_and_stops_with_its_whole_group(tmp_path, scripts):
    server, _ = scripts
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        url = services.start_server(_server_config(server))
        assert services.exports == {"FAKE_API": url}
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api", url)
        with urllib.request.urlopen(url + "/health") as response:
            assert response.read() == b"true"
        supervisor = services.pids()[0]
        pids = [supervisor] + service_pids(services.server_log)
        assert len(pids) == 3 and all(alive(p) for p in pids)
        log = services.server_log.read_text()
        assert f"home {tmp_path / 'run' / 'server' / 'home' / 'db'}" in log  # its own folder in the run folder
    assert wait_dead(pids) == []
    assert services.exports == {}


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_a_server_that_never_gets_healthy_is_an_error_with_its_log(tmp_path, scripts):
    server, _ = scripts
    started = time.monotonic()
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        with pytest.raises(ServiceError, match=r"not healthy within 2s: .*helper pid"):
            services.start_server(_server_config(server, delay="60", timeout=2))
        pids = service_pids(services.server_log)
    assert time.monotonic() - started < 20
    assert wait_dead(pids) == []


def test_a_server_that_exits_is_reported_at_once(tmp_path):
    config = ServerConfig(command=(sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"))
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        with pytest.raises(ServiceError, match=r"exited with 3 before it was healthy: .*bad config"):
            services.start_server(config)


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_worker_runs_its_setup_then_waits_until_ready(tmp_path, scripts):
    server, worker = scripts
    marker = tmp_path / "setup-ran"
    config = WorkerConfig(
        setup=((sys.executable, "-c", f"open({str(marker)!r}, 'w').write('{{pool}}')"),),
        command=(sys.executable, str(worker), "{pool}"), ready="Worker started", timeout=20,
    )
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        url = services.start_server(_server_config(server))
        services.start_worker(config, "pool-a")
        assert marker.read_text() == "pool-a"
        log = (tmp_path / "run" / "worker.log").read_text()
        assert f"worker for pool-a against {url}" in log  # the worker talks to the env's server
        pids = services.pids()
    assert wait_dead(pids) == []


def test_the_worker_stops_once_the_last_demo_that_needs_it_ends_and_the_server_runs_on(tmp_path, scripts):
    server, worker = scripts
    config = WorkerConfig(command=(sys.executable, str(worker), "{pool}"), ready="Worker started", timeout=20)
    said = []
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=said.append) as services:
        services.start_server(_server_config(server))
        background = BackgroundWorker(services, config, "pool-c", said.append, users=2)
        assert background.wait() == ""
        worker_pid = next(r.process.pid for r in services.running if r.name == "worker")
        background.done_with()
        time.sleep(0.5)
        assert alive(worker_pid)  # one demo that needs it has not ended yet
        background.done_with()
        assert wait_dead([worker_pid]) == []
        assert services.dead() == ""  # stopped on purpose: not a service that died
        server_pids = [r.process.pid for r in services.running if r.name == "server"]
        assert all(alive(p) for p in server_pids)
        assert "worker stopped: no demo left to run needs it" in said
    assert wait_dead(server_pids) == []


def test_a_failing_worker_setup_is_an_error(tmp_path, scripts):
    server, worker = scripts
    config = WorkerConfig(setup=((sys.executable, "-c", "raise SystemExit('pool exists')"),),
                          command=(sys.executable, str(worker), "{pool}"))
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        with pytest.raises(ServiceError, match="exited 1: .*pool exists"):
            services.start_worker(config, "pool-b")


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_services_die_with_a_killed_harness(tmp_path, scripts):
    """SIGKILL leaves no chance to clean up: the supervisor's parent-death signal does it."""
    server, _ = scripts
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from pathlib import Path
        from harness.config.model import ServerConfig
        from harness.run.services import Services
        services = Services("prefect", Path({str(tmp_path / 'env')!r}), Path({str(tmp_path / 'run')!r}), log=print)
        services.start_server(ServerConfig(command=({sys.executable!r}, {str(server)!r}, "{{port}}", "0.2")))
        print("ready", flush=True)
        time.sleep(3600)
    """)
    harness = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert "ready" in harness.stdout.readline() + harness.stdout.readline()
    log = tmp_path / "run" / "server.log"
    pids = service_pids(log) + [int(re.search(r"supervise: pid (\d+)", log.read_text()).group(1))]
    assert all(alive(p) for p in pids)
    harness.kill()
    harness.wait()
    assert wait_dead(pids) == []


def test_webhook_receiver_keeps_posts_per_path():
    with WebhookReceiver() as receiver:
        first, second = receiver.url_for("cell-1"), receiver.url_for("cell-2")
        request = urllib.request.Request(first, data=json.dumps({"text": "flow failed"}).encode(),
                                         headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
        assert json.load(urllib.request.urlopen(request)) == {"ok": True}
        items = json.load(urllib.request.urlopen(first))
        assert [json.loads(i["body"]) for i in items] == [{"text": "flow failed"}]
        assert items[0]["content_type"] == "application/json"
        assert "Authorization" not in items[0]["headers"]  # credentials are not kept
        assert json.load(urllib.request.urlopen(second)) == []


@pytest.mark.slow  # real processes waiting out a grace period or a time limit
def test_a_service_started_from_a_helper_thread_outlives_that_thread(tmp_path, scripts):
    """The worker starts in a thread while demos run; the thread's end must not stop it."""
    import threading

    server, _ = scripts
    with Services("prefect", tmp_path / "env", tmp_path / "run", log=lambda m: None) as services:
        urls = []
        thread = threading.Thread(target=lambda: urls.append(services.start_server(_server_config(server))))
        thread.start()
        thread.join()
        time.sleep(1.5)
        with urllib.request.urlopen(urls[0] + "/health") as response:
            assert response.status == 200
        pids = services.pids() + service_pids(services.server_log)
    assert wait_dead(pids) == []
