"""Turn the plan into nox sessions: one per (release, Python), tagged by the profiles that select it."""

from __future__ import annotations

import os
from pathlib import Path

import nox

from harness.cli import jobs_from_environ, peak_memory_mb
from harness.matrix import MatrixError
from harness.plan import SessionPlan, load_plan, longest_first
from harness.releases import SnapshotError
from harness.session import BAD, run_session


def register_release_sessions(matrix_path: Path, resolution: str | None = None) -> str | None:
    """Register every planned session; return the reason when nothing could be planned."""
    try:
        plan = load_plan(matrix_path, resolution)
    except (MatrixError, SnapshotError) as exc:
        return str(exc)
    default = plan.matrix.settings.default_profile
    baseline = plan.matrix.resolve(plan.matrix.settings.reports_dir) / "results.json"
    for session_plan in longest_first(plan, baseline):  # --parallel starts them in this order
        nox.session(
            name=session_plan.name,
            tags=session_plan.tags,
            default=default in session_plan.profiles,
            venv_backend="none",
            allow_parallel=True,  # own env, own services on free ports, records appended atomically
        )(_release_session(plan.matrix, session_plan))
    return None


def _release_session(matrix, session_plan: SessionPlan):
    def release_session(session: nox.Session) -> None:
        force = "--force" in session.posargs or os.environ.get("MATRIX_FORCE") == "1"
        warm = "--no-warm" not in session.posargs and os.environ.get("MATRIX_WARM") != "0"
        cells = run_session(matrix, session_plan, log=session.log, force=force, warm=warm, jobs=jobs_from_environ())
        session.log(f"harness peak memory: {peak_memory_mb():.0f} MB")
        bad = [c for c in cells if c.outcome in BAD]
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

