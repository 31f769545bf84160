"""One matrix session: build the release's env, then run every demo that claims it."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from harness import __version__
from harness.envs import BuiltEnv, EnvBuildError, EnvSpec, build_env
from harness.matrix import Demo, Matrix
from harness.needs import check_needs, secret_values
from harness.plan import SessionPlan
from harness.results import CellResult, ResultStore, now_iso
from harness.runner import classify, error_summary, isolated_environ, run_process, tail

Log = Callable[[str], None]
BAD = ("fail", "timeout", "env-error", "xpass")


def store_for(matrix: Matrix) -> ResultStore:
    return ResultStore(matrix.resolve(matrix.settings.state_dir), matrix.resolve(matrix.settings.reports_dir))


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def run_session(matrix: Matrix, plan: SessionPlan, log: Log = print) -> list[CellResult]:
    """Run one session's cells, appending each record as soon as it is known."""
    store = store_for(matrix)
    state = matrix.resolve(matrix.settings.state_dir)
    log_dir = state / "logs" / plan.name
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    release = plan.release
    total = len(plan.demos)
    log(f"{matrix.settings.package} {release.version} ({plan.resolution}): {total} demo(s) claim this release")

    def record(demo: Demo, outcome: str, **fields) -> CellResult:
        cell = CellResult(
            demo=demo.path, story=demo.story, variant=demo.variant, release=release.version,
            resolution=plan.resolution, outcome=outcome, demo_hash=file_hash(matrix.resolve(demo.path)),
            harness_version=__version__, started=fields.pop("started", None) or now_iso(), **fields,
        )
        store.append(cell)
        return cell

    # needs do not depend on the env: decide them first, and build no env when nothing would run
    need_checks = {demo.path: check_needs(demo.needs) for demo in plan.demos}
    runnable = [d for d in plan.demos if need_checks[d.path].available]
    env, env_error, env_log = None, "", ""
    if runnable and not plan.candidates:
        env_error = plan.missing_interpreter
    elif runnable:
        settings = matrix.env_settings(release.parsed, plan.resolution)
        # one env serves every demo of the release, so it carries all their extra requirements
        extra = sorted({req for demo in runnable for req in demo.requirements} - set(settings.requirements))
        settings = dataclasses.replace(settings, requirements=settings.requirements + tuple(extra))
        spec = EnvSpec(
            package=matrix.settings.package, release=release, resolution=plan.resolution, settings=settings,
            canary=matrix.resolve(settings.canary) if settings.canary else None,
        )
        try:
            env = build_env(spec, plan.candidates, state / "envs", log_dir, matrix.settings.fallbacks, log)
            if env.freeze:
                store.save_freeze(env.freeze_hash, env.freeze)
        except EnvBuildError as exc:
            env_error = str(exc)
            env_log = _relative(matrix, log_dir / f"env-py{plan.candidates[0].minor}.log")

    cells = []
    for number, demo in enumerate(plan.demos, 1):
        needs = need_checks[demo.path]
        if not needs.available:
            cell = record(demo, "skipped", reason=needs.reason)
        elif env is None:
            cell = record(demo, "env-error", error=env_error[:2000], log=env_log)
        else:
            cell = _run_cell(matrix, plan, demo, env, needs.env or {}, log_dir, record)
        cells.append(cell)
        detail = f" — {cell.error or cell.reason}" if cell.outcome in BAD + ("skipped", "xfail") else ""
        log(f"[{number}/{total}] {demo.path} on {release.version}: {cell.outcome} ({cell.duration:.1f}s){detail}")
    return cells


def _run_cell(
    matrix: Matrix, plan: SessionPlan, demo: Demo, env: BuiltEnv, need_env: dict[str, str], log_dir: Path, record
) -> CellResult:
    release = plan.release
    base = dict(python=env.python_version, freeze_hash=env.freeze_hash)
    if demo.python is not None and not demo.python.contains(env.python_version, prereleases=True):
        return record(demo, "skipped", reason=f"demo needs Python {demo.python}; this env has {env.python_version}", **base)
    settings = matrix.env_settings(release.parsed, plan.resolution)
    log_path = log_dir / f"{_slug(demo.path)}.log"
    started = now_iso()
    with tempfile.TemporaryDirectory(prefix="harness-cell-") as work:
        environ = isolated_environ(settings.env, matrix.settings.package, Path(work), need_env)
        result = run_process(
            [str(env.python), str(matrix.resolve(demo.path))],
            timeout=demo.timeout or matrix.settings.timeout,
            cwd=matrix.root,
            env=environ,
            log_path=log_path,
            secrets=secret_values(),
        )
    xfail = demo.xfail_reason(release.parsed)
    outcome = classify(result, xfail)
    error = ""
    if result.timed_out:
        error = f"killed after its time limit of {demo.timeout or matrix.settings.timeout:.0f}s"
    elif result.exit_code != 0:
        error = error_summary(result.output)
    return record(
        demo, outcome, started=started, duration=round(result.duration, 3), exit_code=result.exit_code,
        error=error, reason=xfail or "", output_tail=tail(result.output), log=_relative(matrix, log_path), **base,
    )


def _relative(matrix: Matrix, path: Path) -> str:
    try:
        return path.relative_to(matrix.root).as_posix()
    except ValueError:
        return str(path)
