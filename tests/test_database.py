"""The run's PostgreSQL server (harness/run/database.py): started once, shared, and gone with its owner."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.config.model import ServerConfig, server_backend
from harness.run import database
from harness.run.watchdog import TOKEN_VARIABLE, alive

pytestmark = pytest.mark.skipif(not os.path.exists("/proc"), reason="Linux only")


def _postgres_pids() -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and Path(f"/proc/{name}/comm").read_text().strip() == "postgres":
                found.add(int(name))
        except OSError:
            pass
    return found


def _gone(running: database.RunningPostgres, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # it is this test's child: reap it, or it stays a zombie
            os.waitpid(running.supervisor, os.WNOHANG)
        if not alive(running.supervisor) and not Path(running.folder).exists():
            return True
        time.sleep(0.1)
    return False


def test_one_server_per_run_a_fresh_database_per_env_and_the_scope_stops_it(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_VARIABLE, "a-session-token")  # a session's sweep must not find the shared server
    before = _postgres_pids()
    with database.postgres_scope():
        first = database.run_postgres(tmp_path)
        assert database.run_postgres(tmp_path) == first  # the run's other sessions find it through the registry
        url = database.database_url(tmp_path, None, "release-3.9.1-py3.13")
        assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{first.port}/release_3_9_1_py3_13"
        assert database.database_url(tmp_path, None, "release-3.9.1-py3.13") == url  # dropped and made again
        blocker = subprocess.Popen([str(Path(first.bin) / "psql"), "-h", "127.0.0.1", "-p", str(first.port), "-U",
                                    "postgres", "-d", "release_3_9_1_py3_13", "-c", "select pg_sleep(30)"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # a client still connected (a rejected candidate's server) does not stop a new one
        assert database.database_url(tmp_path, None, "release-3.9.1-py3.13") == url
        blocker.wait(10)
        started = _postgres_pids() - before
        assert started
        postmaster = int(Path(first.folder, "data", "postmaster.pid").read_text().split()[0])
        for pid in (postmaster, first.supervisor):
            assert b"a-session-token" not in Path(f"/proc/{pid}/environ").read_bytes()
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as nobody
            assert os.stat(f"/proc/{postmaster}").st_uid == 65534
    assert _gone(first)
    assert not (_postgres_pids() - before)
    assert not list((tmp_path / "runs").glob("*.postgres.json"))


def test_the_server_stops_when_the_runs_owner_dies_however_it_died(tmp_path):
    owner = subprocess.Popen(["sleep", "600"])
    try:
        running = database.run_postgres(tmp_path, owner.pid)
        assert alive(running.supervisor)
    finally:
        owner.kill()  # SIGKILL: nothing of the owner runs a clean-up
        owner.wait()
    assert _gone(running)


def test_a_dead_server_in_the_registry_is_replaced(tmp_path):
    with database.postgres_scope():
        first = database.run_postgres(tmp_path)
        database.stop_postgres(first)
        second = database.run_postgres(tmp_path)
        assert second.supervisor != first.supervisor and alive(second.supervisor)
    assert _gone(second)


def test_missing_programs_are_a_clear_error(monkeypatch):
    monkeypatch.setattr(database.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(database.ServiceError, match="requirements.txt.*backend = \"sqlite\""):
        database.find_binaries()


@pytest.mark.parametrize("backend, server, used", [
    ("postgres", None, ""),
    ("sqlite", None, ""),
    ("postgres", ServerConfig(command=("srv",)), "sqlite"),  # the server cannot take a database: its own file
    ("postgres", ServerConfig(command=("srv",), postgres_env=(("DB", "{database_url}"),)), "postgres"),
    ("sqlite", ServerConfig(command=("srv",), postgres_env=(("DB", "{database_url}"),)), "sqlite"),
])
def test_the_backend_an_env_uses(backend, server, used):
    assert server_backend(backend, server) == used
