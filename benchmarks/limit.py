"""The true limit: a time no schedule of the same cells can beat on this machine.

    limit = max(CPU seconds of the work that cannot be skipped / cores,
                the longest critical path: an env's build + its import + its API server's start
                + its longest demo in a warm process)

The work that cannot be skipped, per env: building it from the warm package
cache, one interpreter importing Prefect, the API server (and its database,
restored from the copy its first start migrated, as ours restores it in every
run after its first) with the worker when a demo needs one, and every demo's
body run once in an already warm process. Each env is measured by `python
limit.py ENV_JSON` in a process of its own, so its CPU is that process tree's
(every service and every forked demo is waited for, so the kernel adds its CPU
to ours); the separate `import prefect` that times the import is timed for the
critical path and its CPU taken out again, since the warm process imports
Prefect too.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import log, timed  # noqa: E402

from harness.config.model import server_backend  # noqa: E402
from harness.plan.sessions import load_plan  # noqa: E402
from harness.run.database import (  # noqa: E402
    RunningPostgres,
    env_database,
    keep_template,
    postgres_scope,
    run_postgres,
    template_file,
)
from harness.run.envs import uv_bin  # noqa: E402
from harness.run.process import isolated_environ  # noqa: E402
from harness.run.services import Services, WebhookReceiver  # noqa: E402
from harness.run.warm import WarmRunner  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _migrated_database(services: Services, server, running: RunningPostgres, state: Path, job: dict) -> Path:
    """The env's database as its server migrated it: ours restores that copy in every run after its first, so
    the start the limit times does too (the restore is timed with it)."""
    template = template_file(running, state, f"limit-{job['release']}", "\n".join(job["freeze"]))
    if not template.is_file():
        first = env_database(running, f"limit-{job['release']}-migrate")
        services.start_server(server, database_url=first.url)
        problem = keep_template(running, first.name, template)
        services.stop_all()
        if problem:
            raise RuntimeError(f"could not keep the migrated database of {job['release']}: {problem}")
    return template


def _body(warm: WarmRunner, demo, project: Path, environ: dict, env_dir: Path, log_path: Path) -> float | None:
    """The demo once, as ours runs it: forked from the warm process, or (`warm = false`: it sets Prefect's
    variables before importing it) as a fresh interpreter; None when it did not pass."""
    if demo.warm:
        ran = warm.run(project / demo.path, project, environ, log_path, demo.timeout or 300)
        return ran.duration if ran is not None and ran.exit_code == 0 else None
    started = time.monotonic()
    with log_path.open("wb") as out:
        code = subprocess.run([str(env_dir / "bin" / "python"), str(project / demo.path)], cwd=project, env=environ,
                              stdout=out, stderr=subprocess.STDOUT, timeout=demo.timeout or 300).returncode
    return time.monotonic() - started if code == 0 else None


def measure_env(job: dict) -> dict:
    """One env's build, import, server start and bodies, in this process (run as `limit.py JOB_JSON`)."""
    plan = load_plan(ROOT / "matrix.toml")
    session = plan.session_for(job["release"])
    matrix = plan.matrix
    settings = matrix.env_settings(session.release.parsed, session.resolution)
    demos = [d for d in session.demos if d.path in job["demos"]]
    base, project = Path(job["base"]), Path(job["project"])
    env_dir, constraints = base / "limit" / job["release"], base / "limit" / f"{job['release']}.txt"
    constraints.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text("\n".join(job["freeze"]) + "\n")
    started = time.monotonic()
    subprocess.run([uv_bin(), "venv", "--quiet", "--python", session.candidates[0].path, str(env_dir)], check=True)
    subprocess.run([uv_bin(), "pip", "install", "--quiet", "--python", str(env_dir / "bin" / "python"),
                    f"prefect=={job['release']}", "--constraint", str(constraints)], check=True)
    result = {"release": job["release"], "build": time.monotonic() - started, "server": 0.0, "bodies": {}}
    work, pycache = base / "limit" / f"{job['release']}-work", env_dir / "pycache"
    cpu_before, started = _children_cpu(), time.monotonic()
    subprocess.run([str(env_dir / "bin" / "python"), "-c", "import prefect"], check=True,
                   env=isolated_environ(settings.env, "prefect", work, pycache=pycache))
    result["import"], result["import_cpu"] = time.monotonic() - started, _children_cpu() - cpu_before
    backend = server_backend(matrix.settings.backend, settings.server)
    with (postgres_scope(), Services("prefect", env_dir, work / "run", log=lambda m: None, cwd=project) as services,
          WebhookReceiver() as hook):
        if settings.server is not None:
            running = run_postgres(base / "limit") if backend == "postgres" else None
            template = _migrated_database(services, settings.server, running, base / "limit", job) if running else None
            started = time.monotonic()
            database = env_database(running, f"limit-{job['release']}", template) if running else None
            services.start_server(settings.server, database_url=database.url if database else "",
                                  restored=database is not None and database.restored)  # as ours starts it
            result["server"] = time.monotonic() - started
            if any("process-worker" in d.needs for d in demos):
                services.start_worker(settings.worker, "limit-pool")
                services.exports["DEMO_WORK_POOL"] = "limit-pool"
        warm = WarmRunner(env_dir / "bin" / "python", ("prefect",), settings.warm.reset if settings.warm else "",
                          isolated_environ(settings.env, "prefect", work / "warm", services.exports, pycache=pycache),
                          project, work / "warm.log")
        try:
            for demo in demos:
                cell = work / "cells" / Path(demo.path).stem
                extra = dict(services.exports)
                if "webhook" in demo.needs:
                    extra["DEMO_WEBHOOK_URL"] = hook.url_for(Path(demo.path).stem)
                if "local-storage" in demo.needs:
                    (cell / "storage").mkdir(parents=True, exist_ok=True)
                    extra["DEMO_STORAGE_DIR"] = str(cell / "storage")
                environ = isolated_environ(settings.env, "prefect", cell, extra, pycache=pycache)
                duration = _body(warm, demo, project, environ, env_dir, work / f"{Path(demo.path).stem}.log")
                if duration is not None:  # else it is left out: the limit is, if anything, low
                    result["bodies"][demo.path] = duration
        finally:
            warm.close()
    return result


def measure_limit(base: Path, project: Path, sessions, freezes: dict[str, list[str]]) -> dict:
    """Every env measured alone, one after the other; the limit and what decides it."""
    envs = []
    for session, _, demos in sessions:
        job = {"release": session.release.version, "demos": [d.path for d in demos], "base": str(base),
               "project": str(project), "freeze": freezes[session.release.version]}
        seconds, _, code, output, cpu = timed([sys.executable, str(Path(__file__)), json.dumps(job)],
                                              log_file=base / "logs" / f"limit-{job['release']}.log")
        if code != 0:
            raise SystemExit(f"limit: measuring {job['release']} failed (exit {code}): {output[-800:]}")
        measured = json.loads(output.strip().splitlines()[-1])
        measured["cpu"] = cpu - measured["import_cpu"]
        measured["path"] = measured["build"] + measured["import"] + measured["server"] + max(
            measured["bodies"].values(), default=0.0)
        envs.append(measured)
        log(f"limit {measured['release']}: build {measured['build']:.1f}s, import {measured['import']:.1f}s, "
            f"server {measured['server']:.1f}s, {len(measured['bodies'])} bodies "
            f"(longest {max(measured['bodies'].values(), default=0):.1f}s), cpu {measured['cpu']:.1f}s")
    cores = os.cpu_count() or 1
    cpu = sum(e["cpu"] for e in envs)
    longest = max(envs, key=lambda e: e["path"])
    return {"envs": envs, "cpu": cpu, "cores": cores, "cpu_bound": cpu / cores, "path_bound": longest["path"],
            "path_env": longest["release"], "limit": max(cpu / cores, longest["path"]),
            "counted": sum(len(e["bodies"]) for e in envs)}


if __name__ == "__main__":
    print(json.dumps(measure_env(json.loads(sys.argv[1]))))
