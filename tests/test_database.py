"""The run's PostgreSQL server (harness/run/database.py): started once, shared, and gone with its owner."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

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
        url = database.env_database(first, "release-3.9.1-py3.13").url
        assert url == f"postgresql+asyncpg://postgres@/release_3_9_1_py3_13?host={first.socket}&port=5432"
        assert database.env_database(first, "release-3.9.1-py3.13").url == url  # dropped and made again
        blocker = subprocess.Popen([str(Path(first.bin) / "psql"), "-h", first.socket, "-p", str(first.port), "-U",
                                    "postgres", "-d", "release_3_9_1_py3_13", "-c", "select pg_sleep(30)"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # a client still connected (a rejected candidate's server) does not stop a new one
        assert database.env_database(first, "release-3.9.1-py3.13").url == url
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


def _listening_tcp_inodes() -> set[str]:
    """Socket inodes in LISTEN state (0A) on any TCP address of this machine."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":
                    found.add(fields[9])
    return found


def test_the_server_listens_on_its_own_socket_and_on_no_tcp_port(tmp_path):
    """Trust authentication is safe only where no other local user can connect."""
    with database.postgres_scope():
        running = database.run_postgres(tmp_path)
        postmaster = int(Path(running.folder, "data", "postmaster.pid").read_text().split()[0])
        sockets = set()
        for fd in Path(f"/proc/{postmaster}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    sockets.add(target[len("socket:["):-1])
        assert sockets  # its Unix socket at least: the scan sees the postmaster's sockets
        assert not sockets & _listening_tcp_inodes()
        folder = Path(running.socket)
        assert folder.parent == Path(running.folder) and (folder / ".s.PGSQL.5432").is_socket()
        assert folder.stat().st_mode & 0o077 == 0  # nobody else may even reach it
        assert _sql(running, "postgres", "select 1") == "1"


def test_a_socket_folder_with_spaces_or_url_characters_reaches_the_driver_as_it_is():
    """SQLAlchemy reads the URL's query with urllib's parse_qsl, as here."""
    running = database.RunningPostgres("/tmp/a b&c?d=e#f/socket", 1, "/tmp/a b&c?d=e#f", "/bin")
    parts = urlsplit(running.url("release_3_9_1"))
    assert (parts.path, dict(parse_qsl(parts.query))) == ("/release_3_9_1", {"host": "/tmp/a b&c?d=e#f/socket",
                                                                              "port": "5432"})


def test_a_dead_server_in_the_registry_is_replaced(tmp_path):
    with database.postgres_scope():
        first = database.run_postgres(tmp_path)
        database.stop_postgres(first)
        second = database.run_postgres(tmp_path)
        assert second.supervisor != first.supervisor and alive(second.supervisor)
    assert _gone(second)


def _sql(running: database.RunningPostgres, db: str, sql: str) -> str:
    psql = [str(Path(running.bin) / "psql"), "-h", running.socket, "-p", str(running.port), "-U", "postgres", "-d", db]
    done = subprocess.run([*psql, "-tA", "-c", sql], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()}"


def test_a_migrated_database_is_kept_and_restored_by_the_next_run_of_the_env(tmp_path):
    with database.postgres_scope():
        running = database.run_postgres(tmp_path)
        template = database.template_file(running, tmp_path, "prefect-3.9.1-py3.13-abc", "freeze\0server")
        assert template.parent == tmp_path / "databases" and template.name.startswith("prefect-3.9.1-py3.13-abc-")
        first = database.env_database(running, "release-3.9.1-py3.13", template)
        assert (first.restored, first.template, first.problem) == (False, template, "")  # nothing kept yet
        assert _sql(running, first.name, "create table alembic_version (v text); insert into alembic_version "
                                         "values ('head')").endswith("INSERT 0 1")  # what a server's migrations leave
        template.parent.mkdir()
        killed = template.with_name(f"{template.name}.4194305.partial")  # a dump cut short by a killed run
        killed.write_bytes(b"PGDMP")
        assert database.keep_template(running, first.name, template) == ""
        assert template.is_file() and not list(template.parent.glob("*.partial"))
        assert _sql(running, first.name, "insert into alembic_version values ('a demo made this')") == "INSERT 0 1"
        again = database.env_database(running, "release-3.9.1-py3.13-again", template)
        assert again.restored and again.problem == ""
        assert _sql(running, again.name, "select v from alembic_version") == "head"  # as kept, not as the demo left it


def test_a_copy_that_does_not_restore_is_deleted_and_the_server_gets_an_empty_database(tmp_path):
    with database.postgres_scope():
        running = database.run_postgres(tmp_path)
        template = tmp_path / "databases" / "broken.dump"
        template.parent.mkdir()
        template.write_bytes(b"PGDMP, cut short")
        got = database.env_database(running, "release-3.9.1-py3.13", template)
        assert not got.restored and "broken.dump did not restore, so it was deleted" in got.problem
        assert not template.exists()
        assert _sql(running, got.name, "select count(*) from pg_tables where schemaname = 'public'") == "0"


def test_what_cannot_be_kept_is_said_and_leaves_no_file(tmp_path):
    with database.postgres_scope():
        running = database.run_postgres(tmp_path)
        template = tmp_path / "databases" / "never.dump"
        problem = database.keep_template(running, "no_such_database", template)
        assert "pg_dump exited" in problem and "no_such_database" in problem
        assert not template.exists() and not list(template.parent.glob("*.partial"))


def test_the_copy_belongs_to_the_env_its_server_settings_and_the_postgresql_version(tmp_path):
    with database.postgres_scope():
        running = database.run_postgres(tmp_path)
        names = {database.template_file(running, tmp_path, env, identity).name
                 for env, identity in [("env-a", "x"), ("env-a", "y"), ("env-b", "x")]}
        assert len(names) == 3
        assert database.template_file(running, tmp_path, "env-a", "x").name in names  # the same inputs, the same file


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
