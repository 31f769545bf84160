"""Real services for the demos of one env: an API server, a worker, a webhook receiver.

What to start comes from matrix.toml (`[ranges.server]`, `[ranges.worker]`),
so the harness itself names no package's commands. Servers and workers run
under harness.supervise, so they die with the harness even when it is killed;
`Services` stops them when the env's demos are done.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.config.model import ServerConfig, WorkerConfig
from harness.run.process import INENV, isolated_environ, kill_group
from harness.run.stop import STOP, Interrupted

HOST = "127.0.0.1"
SUPERVISOR = Path(__file__).with_name("supervise.py")  # stdlib only: runs by path, whatever the cwd
Log = Callable[[str], None]


class ServiceError(Exception):
    """A service did not come up; the message carries its last log lines."""


def env_path(env_dir: Path, shims: Path | None, path: str) -> str:
    """PATH as in the activated env, with the warm shims (when there are any) before its own scripts."""
    first = ([str(shims)] if shims is not None else []) + [str(env_dir / "bin")]
    return ":".join(first + ([path] if path else []))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _last_lines(path: Path, count: int = 12) -> str:
    try:
        lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-count:])[-1500:]


@dataclass
class _Running:
    name: str
    process: subprocess.Popen
    log: Path
    up: bool = False  # it was healthy (or ready): exiting after that is a death
    retired: bool = False  # asked to stop before the others: no demo needs it any more


def server_key() -> str:
    """{server_key}: a key no other server shares, in the form Fernet takes, for a key a server would
    otherwise create lazily in its database (the prefect preset's encryption key)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Services:
    """The services of one env; a context manager that stops all of them on exit."""

    package: str
    env_dir: Path
    run_dir: Path  # logs and each service's own home go here
    log: Log = print
    cwd: Path | None = None  # where commands run (the matrix folder: relative paths resolve there)
    running: list[_Running] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    server_log: Path | None = None
    api_url: str = ""
    shims: Path | None = None  # scripts that fork from the env's warm runner; found before the env's own
    python_command: str = ""  # how to start the env's Python ({python} in a worker's set-up); "" = the env's python

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def _command(self, words: tuple[str, ...], **values: str) -> list[str]:
        """Fill placeholders; a first word the env has as a script runs from the env."""
        args = [w.format(**values) for w in words]
        for folder in (self.shims, self.env_dir / "bin"):
            if folder is not None and (folder / args[0]).exists():
                args[0] = str(folder / args[0])
                break
        return args

    def _environ(self, template: tuple[tuple[str, str], ...], name: str, **values: str) -> dict[str, str]:
        environ = isolated_environ(dict(template), self.package, self.run_dir / name, values=values,
                                   pycache=self.env_dir / "pycache")
        environ.update(self.exports)
        environ["PATH"] = env_path(self.env_dir, self.shims, environ.get("PATH", ""))
        return environ

    def _spawn(self, name: str, args: list[str], environ: dict[str, str], log_path: Path) -> _Running:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            out.write(f"=== {time.strftime('%H:%M:%S')} starting {name}: {' '.join(args)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                [sys.executable, str(SUPERVISOR), *args],
                cwd=self.cwd or self.run_dir, env=environ, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        running = _Running(name, process, log_path)
        self.running.append(running)
        return running

    def start_server(self, config: ServerConfig, database_url: str = "", restored: bool = False,
                     database_environ: dict[str, str] | None = None) -> str:
        """With `database_url` (the run's PostgreSQL, database.py) the server takes it through `postgres_env`,
        and `database_environ` (libpq's PGHOST, PGPORT) as they are; `restored`: that database is a copy an
        earlier server of this env left migrated (`restored_env`)."""
        port = str(free_port())
        url = config.url.format(host=HOST, port=port)
        values = dict(host=HOST, port=port, url=url, server_key=server_key())
        self.server_log = self.run_dir / "server.log"
        started = time.monotonic()
        environ = self._environ(config.env, "server", **values)
        if database_url:
            environ.update({name: text.format(database_url=database_url) for name, text in config.postgres_env})
            environ.update(database_environ or {})
        if restored:
            environ.update(config.restored_env)
        server = self._spawn("server", self._command(config.command, **values), environ, self.server_log)
        health = config.health.format(**values)
        while time.monotonic() - started < config.timeout:
            STOP.check("the API server's start")
            if server.process.poll() is not None:
                raise ServiceError(
                    f"API server exited with {server.process.returncode} before it was healthy: "
                    f"{_last_lines(self.server_log)}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        server.up = True
                        self.exports[config.export] = url
                        self.api_url = url
                        self.log(f"API server healthy at {url} in {time.monotonic() - started:.1f}s")
                        return url
            except OSError:
                pass
            STOP.sleep(0.25)
        raise ServiceError(
            f"API server not healthy within {config.timeout:.0f}s: {_last_lines(self.server_log)}"
        )

    def start_worker(self, config: WorkerConfig, pool: str) -> None:
        values = dict(pool=pool, url=self.api_url, workdir=str(self.run_dir / "worker"),
                      python=self.python_command or str(self.env_dir / "bin" / "python"),
                      inenv=str(INENV))  # helpers that run in the env: json_set.py
        log_path = self.run_dir / "worker.log"
        environ = self._environ(config.env, "worker", **values)
        started = time.monotonic()
        for step in config.setup:
            self._set_up(self._command(step, **values), environ, log_path, config.timeout)
        STOP.check("the worker's start")
        worker = self._spawn("worker", self._command(config.command, **values), environ, log_path)
        pattern = re.compile(config.ready) if config.ready else None
        while pattern is not None:
            STOP.check("the worker's start")
            if worker.process.poll() is not None:
                raise ServiceError(f"worker exited with {worker.process.returncode}: {_last_lines(log_path)}")
            if pattern.search(log_path.read_text(errors="replace")):
                break
            if time.monotonic() - started > config.timeout:
                raise ServiceError(f"worker not ready within {config.timeout:.0f}s: {_last_lines(log_path)}")
            STOP.sleep(0.25)
        worker.up = True
        self.log(f"worker polling pool {pool!r} ({time.monotonic() - started:.1f}s)")

    def _set_up(self, args: list[str], environ: dict[str, str], log_path: Path, timeout: float) -> None:
        """One set-up command of the worker, in a process group a stop request ends."""
        STOP.check("the worker's set-up")
        with log_path.open("ab") as out:
            out.write(f"=== setup: {' '.join(args)}\n".encode())
            out.flush()
            process = subprocess.Popen(args, cwd=self.cwd or self.run_dir, env=environ, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            with STOP.watching(process.pid):
                try:
                    code = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    kill_group(process.pid, process)
                    raise ServiceError(f"worker set-up `{' '.join(args)}` did not end within {timeout:.0f}s") from None
        STOP.check("the worker's set-up")
        if code != 0:
            raise ServiceError(f"worker set-up `{' '.join(args)}` exited {code}: {_last_lines(log_path)}")

    def pids(self) -> list[int]:
        return [r.process.pid for r in self.running]

    def dead(self) -> str:
        """The services that exited while they should run, with their last log lines ("" when all run)."""
        return "; ".join(f"the {r.name} exited with {r.process.returncode}: {_last_lines(r.log, 4)}"
                         for r in self.running if r.up and r.process.poll() is not None)

    def retire(self, name: str) -> None:
        """Ask a service no demo needs any more to stop, without waiting: `stop_all` waits for it with the others."""
        for running in self.running:
            if running.name == name and not running.retired and running.process.poll() is None:
                running.retired, running.up = True, False  # its exit is not a death
                running.process.send_signal(signal.SIGTERM)

    def stop_all(self) -> None:
        """Each supervisor stops its service's whole group: SIGTERM, a grace; on a stop request SIGINT, a short one."""
        hurry = STOP.requested
        for running in reversed(self.running):
            if running.process.poll() is None and not running.retired:
                running.process.send_signal(signal.SIGINT if hurry else signal.SIGTERM)
        for running in reversed(self.running):
            try:
                running.process.wait(timeout=5 if hurry else 30)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        self.running.clear()
        self.exports.clear()


class BackgroundWorker:
    """The env's worker, started in a thread: the first demos run while it comes up; one that needs it waits.

    It stops once the last of its `users` (the demos to run that need it) has ended: until the session's end its
    polls would cost the API server CPU that no demo uses (benchmarks/worker_idle.py: per 30 s idle, 2.19.9's
    server 1.37-1.52 s of CPU with it, 0.26-0.29 s without, the worker itself 0.2 s).
    """

    def __init__(self, services: Services, config: WorkerConfig, pool: str, log: Log = print, users: int = 0):
        self.error = ""  # why it did not start
        self._services, self._users, self._log, self._lock = services, users, log, threading.Lock()
        self._thread = threading.Thread(target=self._start, args=(services, config, pool, log), name="start-worker",
                                        daemon=True)
        self._thread.start()

    def done_with(self) -> None:
        """A demo that needed the worker has ended; after the last one, the worker stops."""
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            self._thread.join()
            if not self.error:
                self._services.retire("worker")
                self._log("worker stopped: no demo left to run needs it")

    def _start(self, services: Services, config: WorkerConfig, pool: str, log: Log) -> None:
        try:
            services.start_worker(config, pool)
            services.exports["DEMO_WORK_POOL"] = pool
        except (ServiceError, OSError) as exc:
            self.error = f"process worker did not start: {exc}"
            log(self.error)
        except Interrupted as exc:
            self.error = f"process worker did not start: {exc} was interrupted"

    def wait(self) -> str:
        """Once the worker polls its pool (or could not start): "", or why it did not start."""
        self._thread.join()
        return self.error


class WebhookReceiver:
    """A loopback HTTP server that keeps what is POSTed to each path and returns it on GET."""

    def __init__(self):
        self.received: dict[str, list[dict]] = {}
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                item = {"body": body, "content_type": self.headers.get("Content-Type", ""),
                        "headers": {k: v for k, v in self.headers.items() if k.lower() != "authorization"}}
                with lock:
                    received.setdefault(self.path.rstrip("/"), []).append(item)
                self._reply(200, {"ok": True})

            def do_GET(self):
                with lock:
                    items = list(received.get(self.path.rstrip("/"), []))
                self._reply(200, items)

            def _reply(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    def url_for(self, name: str) -> str:
        return f"http://{HOST}:{self.server.server_port}/hooks/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
