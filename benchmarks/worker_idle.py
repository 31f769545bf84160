"""What a process worker costs while no demo needs it: CPU of an idle API server with and without it polling.

    python3 benchmarks/worker_idle.py ENV_DIR [--seconds 30] [--rounds 2]

ENV_DIR is a built env of Prefect 2.10 or later (`.matrix/envs/prefect-2.19.9-…`). The server runs as the
preset has it (`prefect server start`, scheduler and late runs off, PostgreSQL from the harness); the worker polls
each second, as `[ranges.worker] env` sets it. Rounds alternate: server alone, then server and worker. Why the
harness stops the worker once the last demo that needs it has ended.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.run.database import start_postgres, stop_postgres  # noqa: E402
from harness.run.services import free_port, server_key  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(session: int | None = None, name: str = "") -> float:
    """CPU seconds of the processes in a session (or whose command names `name`)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_text() if name else ""
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if (session is not None and int(fields[3]) == session) or (name and name in command):
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def start_server(env_dir: Path, database_url: str, home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environ = dict(os.environ, PREFECT_HOME=home, PREFECT_API_DATABASE_CONNECTION_URL=database_url,
                   PREFECT_UI_ENABLED="false", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_SERVER_ENCRYPTION_KEY=server_key(), PREFECT_API_SERVICES_SCHEDULER_ENABLED="false",
                   PREFECT_API_SERVICES_LATE_RUNS_ENABLED="false")
    server = subprocess.Popen([str(env_dir / "bin" / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=environ, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return server, f"http://127.0.0.1:{port}/api"
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the API server was not healthy within 120 s")


def measure(server: subprocess.Popen, worker: subprocess.Popen | None, seconds: float) -> tuple[float, ...]:
    def sample():
        return (group_cpu(server.pid), group_cpu(name="postgres"), group_cpu(worker.pid) if worker else 0.0)
    before = sample()
    time.sleep(seconds)
    return tuple(after - first for after, first in zip(sample(), before, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_dir", type=Path, help="a built env of Prefect 2.10 or later")
    parser.add_argument("--seconds", type=float, default=30, help="idle time measured per round (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of rounds (default 2)")
    options = parser.parse_args()
    env_dir = options.env_dir.resolve()
    postgres = start_postgres(os.getpid())
    try:
        subprocess.run([f"{postgres.bin}/createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                        "idle"], check=True)
        home = tempfile.mkdtemp(prefix="worker-idle-")
        server, api_url = start_server(env_dir, postgres.url("idle"), home)
        client = dict(os.environ, PREFECT_HOME=home, PREFECT_API_URL=api_url, PREFECT_WORKER_QUERY_SECONDS="1")
        try:
            subprocess.run([str(env_dir / "bin" / "prefect"), "work-pool", "create", "idle", "--type", "process"],
                           env=client, stdout=subprocess.DEVNULL, check=True)
            for _ in range(options.rounds):
                alone = measure(server, None, options.seconds)
                worker = subprocess.Popen([str(env_dir / "bin" / "prefect"), "worker", "start", "--pool", "idle"],
                                          env=client, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
                time.sleep(12)  # past its start-up
                polled = measure(server, worker, options.seconds)
                os.killpg(worker.pid, 15)
                worker.wait()
                for label, (srv, pg, wrk) in (("server alone", alone), ("with a worker", polled)):
                    print(f"{label:14} {options.seconds:.0f} s: server {srv:.2f} s of CPU, PostgreSQL {pg:.2f} s, "
                          f"worker {wrk:.2f} s", flush=True)
        finally:
            os.killpg(server.pid, 15)
            server.wait()
    finally:
        stop_postgres(postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
