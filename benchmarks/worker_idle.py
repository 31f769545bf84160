"""What a process worker costs while no demo needs it: CPU of an idle API server with and without it polling.

    python3 benchmarks/worker_idle.py ENV_DIR [--seconds 30] [--rounds 2]

ENV_DIR is a built env of Prefect 2.10 or later (`.matrix/envs/prefect-2.19.9-…`). The server and the worker
start as the harness starts them (`[ranges.server]` and `[ranges.worker]` of matrix.toml and its preset, through
`Services`, the server on its own database of the harness's PostgreSQL), without the warm runner. Rounds
alternate: the server alone, then the server and the worker. Why the harness stops the worker once the last demo
that needs it has ended.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.config.parse import load_matrix  # noqa: E402
from harness.run.database import env_database, postgres_scope, run_postgres  # noqa: E402
from harness.run.services import Services  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants (a service under its supervisor)."""
    parents, ticks = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(pid)], ticks[int(pid)] = int(fields[1]), int(fields[11]) + int(fields[12])
    wanted, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                grew = True
    return sum(ticks.get(pid, 0) for pid in wanted) / TICKS


def service_pid(services: Services, name: str) -> int:
    return next(r.process.pid for r in services.running if r.name == name)


def measure(services: Services, postgres: int, seconds: float) -> tuple[float, ...]:
    def sample():
        worker = [tree_cpu(service_pid(services, "worker"))] if len(services.running) > 1 else [0.0]
        return (tree_cpu(service_pid(services, "server")), tree_cpu(postgres), *worker)
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
    release = Version(env_dir.name.split("-")[1])  # prefect-2.19.9-py3.12-…
    settings = load_matrix(ROOT / "matrix.toml").env_settings(release, "as-released")
    work = Path(tempfile.mkdtemp(prefix="worker-idle-"))
    with postgres_scope():
        running = run_postgres(work / "state")
        for _ in range(options.rounds):
            measured = []
            for with_worker in (False, True):
                with Services("prefect", env_dir, work / "run", log=lambda m: None, cwd=ROOT) as services:
                    services.start_server(settings.server, env_database(running, "idle").url)
                    if with_worker:
                        services.start_worker(settings.worker, "idle")
                        time.sleep(12)  # past its start-up
                    measured.append(measure(services, running.supervisor, options.seconds))
            for label, (server, postgres, worker) in zip(("server alone", "with a worker"), measured, strict=True):
                print(f"{label:14} {options.seconds:.0f} s: server {server:.2f} s of CPU, PostgreSQL {postgres:.2f} s, "
                      f"worker {worker:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
