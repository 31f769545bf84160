"""Turn the plan into nox sessions: one per (release, Python), tagged by the profiles that select it
and by its release, so `nox -t 2.14.3` runs that release."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nox

from harness.cli import peak_memory_mb
from harness.config.environ import Environ
from harness.config.model import MatrixError
from harness.options import OptionsError, session_options
from harness.plan.releases import SnapshotError
from harness.plan.sessions import Plan, SessionPlan, load_plan
from harness.plan.shards import assign_shards, longest_first
from harness.results.outcomes import GATING, Outcome
from harness.results.store import StoreError
from harness.run.lock import StateBusy
from harness.run.stop import STOP, stop_on_signals


def register_release_sessions(matrix_path: Path, environ: Environ) -> str | None:
    """Register every planned session; return the reason when nothing could be planned."""
    try:
        plan = load_plan(matrix_path, environ.resolution)
    except (MatrixError, SnapshotError, StoreError) as exc:
        return str(exc)
    default = plan.matrix.settings.default_profile
    for session_plan in longest_first(plan):  # --parallel starts them in this order
        nox.session(
            name=session_plan.name,
            tags=session_plan.tags,
            default=default in session_plan.profiles,
            venv_backend="none",
            allow_parallel=True,  # own env, own services on free ports, records appended atomically
        )(_release_session(plan, session_plan, environ))
    return None


def options_of(session: nox.Session, environ: Environ) -> argparse.Namespace:
    """The session's options after `--` (the same parser as `python -m harness run/report`); a wrong one fails it."""
    try:
        return session_options(session.posargs, environ)
    except OptionsError as exc:
        session.error(str(exc))


def shard_of(plan: Plan, profile: str, count: int) -> dict[str, int]:
    """Session name → its shard (1-based) among the profile's sessions."""
    shards = assign_shards(plan.by_profile(profile), plan.seconds, count)
    return {s.name: number for number, shard in enumerate(shards, 1) for s in shard}


def shard_list(noxfile: Path, matrix_path: Path, environ: Environ, count: int, profile: str) -> dict:
    """The CI matrix: which sessions each of `count` runners runs, from `nox -l --json -t PROFILE`."""
    listed = subprocess.run([sys.executable, "-m", "nox", "-f", str(noxfile), "-l", "--json", "-t", profile],
                            capture_output=True, text=True, check=True, env=os.environ)
    names = {entry["name"] for entry in json.loads(listed.stdout) if entry["name"].startswith("release-")}
    plan = load_plan(matrix_path, environ.resolution)
    seconds = plan.seconds
    sessions = [s for s in plan.sessions if s.name in names]
    shards = assign_shards(sessions, seconds, count)
    return {"include": [
        {"shard": f"{number}/{count}", "profile": profile, "sessions": " ".join(s.name for s in shard),
         "expected_seconds": round(sum(seconds.get(s.name, 0.0) for s in shard))}
        for number, shard in enumerate(shards, 1)
    ]}


def _watch_parallel_parent() -> int | None:
    """Under `nox --parallel` (a worker process): the run's owner, nox's parent process; its death stops
    this session as a SIGHUP would (else the session would outlive the run). None when nox runs in-process."""
    if "--parallel-worker" not in sys.argv:
        return None
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent and not STOP.requested:
            time.sleep(0.5)
        STOP.request(signal.SIGHUP)

    threading.Thread(target=watch, name="watch-nox-parent", daemon=True).start()
    return parent


def _release_session(plan: Plan, session_plan: SessionPlan, environ: Environ):
    matrix = plan.matrix

    def release_session(session: nox.Session) -> None:
        options = options_of(session, environ)
        if options.shard:
            index, count = options.shard
            profile = options.profile or matrix.settings.default_profile
            mine = shard_of(plan, profile, count).get(session_plan.name)
            if mine != index:
                where = f"shard {mine}/{count}" if mine else f"no shard of profile {profile!r}"
                session.skip(f"{session_plan.name} is in {where}, not {index}/{count}")
        from harness.run.session import run_session  # not imported by `nox -l` nor the report's process

        with stop_on_signals() as stop:
            owner = _watch_parallel_parent()
            try:
                cells = run_session(matrix.with_backend(options.backend), session_plan, log=session.log,
                                    force=options.force, warm=not options.no_warm, jobs=options.jobs, owner=owner)
            except (StateBusy, StoreError) as exc:  # a busy state folder; a full disk (the message names the file)
                session.error(str(exc))
        if stop.requested:  # nox ends the whole run: no later session starts
            session.log(stop.summary(sum(c.outcome != Outcome.INTERRUPTED for c in cells)))
            raise SystemExit(stop.exit_code)
        session.log(f"harness peak memory: {peak_memory_mb():.0f} MB")
        bad = [c for c in cells if c.outcome in GATING]
        if bad:
            session.error(
                f"{len(bad)} of {len(cells)} cells did not pass: "
                + "; ".join(f"{c.demo} {c.outcome}" for c in bad[:5])
            )

    release_session.__doc__ = (
        f"{len(session_plan.demos)} demo(s) on {matrix.settings.package} {session_plan.release.version} "
        f"({session_plan.release.date}), Python {session_plan.python}"
    )
    return release_session

