"""One matrix session: build the release's env, start its services, run every demo that claims it.

The session orchestrates; each step is a unit of its own: the cells' cache inputs
(cache.py), the env and what it gets before it is accepted (env_setup.py, with the
warm runner of warm_lifecycle.py), one cell with its retries (cell.py), progress
(progress.py), the records (journal.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.config.model import Demo, EnvSettings, Matrix, server_backend
from harness.config.needs import PROVIDED, NeedCheck, check_needs
from harness.plan.sessions import SessionPlan
from harness.results.outcomes import Outcome
from harness.results.records import CellResult
from harness.results.store import schedule_baseline, store_for
from harness.run.bytecode import harvest
from harness.run.cache import cache_inputs
from harness.run.cell import CellRunner, slug
from harness.run.env_setup import EnvSetup
from harness.run.envs import BuiltEnv, EnvBuildError, EnvSpec
from harness.run.guard import tagged_session
from harness.run.journal import Journal
from harness.run.lock import state_lock
from harness.run.progress import Progress, expected_seconds
from harness.run.services import BackgroundWorker, WebhookReceiver
from harness.run.slots import CoreSlots, machine_cores, waiting_demos
from harness.run.stop import STOP, Interrupted
from harness.run.warm_lifecycle import WarmLifecycle

Log = Callable[[str], None]


BYTECODE_STORE = "bytecode"  # in the state folder: harness.run.bytecode's store, shared by every env


def run_session(matrix: Matrix, plan: SessionPlan, log: Log = print, force: bool = False,
                warm: bool = True, jobs: int | None = None, owner: int | None = None) -> list[CellResult]:
    """Run one session's cells, appending each record as soon as it is known.

    A cell whose inputs match a result recorded on this machine is not run
    again (unless `force`): its record is repeated, marked `reused`. The state
    folder is this run's (`owner`: the pid that started the run, see lock.py)
    while it runs, or StateBusy is raised before anything starts. After a stop
    request (stop.py) it returns the cells recorded so far.
    """
    state = matrix.resolve(matrix.settings.state_dir)
    run_dir = state / "logs" / plan.name
    with state_lock(state, owner):
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        log(f"{matrix.settings.package} {plan.release.version} ({plan.resolution}): "
            f"{len(plan.demos)} demo(s) claim this release")
        with tagged_session(), contextlib.ExitStack() as stack:
            session = _Session(matrix, plan, run_dir, log, stack, force, warm, jobs or matrix.settings.jobs, owner)
            try:
                return session.run()
            except Interrupted:  # STOP notes what it stopped; the cells recorded before stand
                return list(session.journal.cells)


def provided_needs(settings: EnvSettings) -> set[str]:
    """What the harness provides on this release: a webhook and local storage always, a server and worker when
    the matrix configures them."""
    provided = {"webhook", "local-storage"}
    if settings.server is not None:
        provided.add("api-server")
        if settings.worker is not None:
            provided.add("process-worker")
    return provided


def env_spec(matrix: Matrix, plan: SessionPlan, settings: EnvSettings) -> EnvSpec:
    """The env's extra requirements are the ranges' only: a demo's own go into its overlay (envs.build_overlay),
    so one demo's package cannot hide another demo's missing import."""
    return EnvSpec(package=matrix.settings.package, release=plan.release, resolution=plan.resolution,
                   settings=settings, canary=matrix.resolve(settings.canary) if settings.canary else None)


@dataclasses.dataclass(frozen=True)
class SessionEnv:
    """The built env the cells share, or why there is none (error, and the log that tells more)."""

    env: BuiltEnv | None
    error: str = ""
    log: str = ""


class _Session:
    """needs → cache → env (+ warm runner, server, canary) → worker, webhook → cells → bytecode kept."""

    def __init__(self, matrix: Matrix, plan: SessionPlan, run_dir: Path, log: Log, stack: contextlib.ExitStack,
                 force: bool = False, warm: bool = True, jobs: int = 1, owner: int | None = None):
        self.matrix, self.plan, self.run_dir, self.log, self.stack, self.jobs = matrix, plan, run_dir, log, stack, jobs
        store = store_for(matrix)
        self.settings = matrix.env_settings(plan.release.parsed, plan.resolution)
        spec = env_spec(matrix, plan, self.settings)
        # needs do not depend on the env: decide them first, and build no env when nothing would run
        provided = provided_needs(self.settings)
        self.needs: dict[str, NeedCheck] = {
            demo.path: NeedCheck(False, f"never run: {demo.skip}") if demo.skip else check_needs(demo.needs, provided)
            for demo in plan.demos}
        inputs = cache_inputs(matrix, plan, spec, self.needs)
        self.backend = server_backend(matrix.settings.backend, self.settings.server)
        self.journal = Journal(store, matrix, plan, inputs, backend=self.backend)
        recorded = {} if force else store.load(committed=False, release=plan.release.version).cells
        self.reusable = inputs.reusable(recorded, plan.release.version, plan.resolution)
        self.runnable = [d for d in plan.demos if self.needs[d.path].available and d.path not in self.reusable]
        self.wanted = {need for d in self.runnable for need in d.needs if need in PROVIDED}
        baseline = schedule_baseline(matrix).cells if self.runnable else {}
        self.expected = expected_seconds(baseline, self.runnable, plan.release.version, plan.resolution)
        self.bytecode_store = matrix.resolve(matrix.settings.state_dir) / BYTECODE_STORE
        self.warm = WarmLifecycle(self.settings.warm if warm else None, self.settings.env, matrix.settings.package,
                                  matrix.root, run_dir, log, stack)
        self.setup = EnvSetup(matrix, spec, plan.candidates, run_dir, log, stack, self.warm, store,
                              self.bytecode_store, owner=owner)
        # with no API server a demo computes rather than waits: the whole run's such demos share the cores
        self.cores = None if self.settings.server is not None else CoreSlots(
            matrix.resolve(matrix.settings.state_dir), owner or os.getpid(),
            matrix.settings.cpu_bound_jobs or machine_cores())
        self.waiting = waiting_demos(baseline, (d.path for d in self.runnable), plan.release.version,
                                     plan.resolution) if self.cores is not None else frozenset()

    def run(self) -> list[CellResult]:
        built = self.build_env()
        runner = self.start_services(built.env) if built.env is not None else None
        cells = self.run_cells(built, runner)
        if built.env is not None and not STOP.requested:
            kept = harvest(built.env.pycache, self.bytecode_store)
            if kept.files:
                self.log(f"bytecode of {kept.files} modules kept for the next env ({kept.seconds:.1f}s)")
        return cells

    def build_env(self) -> SessionEnv:
        """The env with its warm runner, server and canary; none when no demo would run."""
        if not self.runnable:
            return SessionEnv(None)
        if not self.plan.candidates:
            return SessionEnv(None, self.plan.missing_interpreter)
        try:
            env = self.setup.build()
        except EnvBuildError as exc:
            env_log = self.run_dir / f"env-py{self.plan.candidates[0].minor}.log"
            return SessionEnv(None, str(exc), self.journal.link(env_log))
        self.warm.adopt()
        return SessionEnv(env)

    def start_services(self, env: BuiltEnv) -> CellRunner:
        """The worker and the webhook receiver, when a demo wants them; the worker comes up while the first
        demos run, and a demo that needs it waits for it."""
        worker = receiver = None
        if "process-worker" in self.wanted:
            users = sum("process-worker" in demo.needs for demo in self.runnable)
            worker = BackgroundWorker(self.setup.services, self.settings.worker,
                                      f"demos-{slug(self.plan.release.version)}", self.log, users)
            self.stack.callback(worker.wait)
        if "webhook" in self.wanted:
            receiver = self.stack.enter_context(WebhookReceiver())
        return CellRunner(self.matrix, self.plan, self.settings, env, self.setup.services, self.journal, self.run_dir,
                          self.log, warm=self.warm.forking, receiver=receiver, worker=worker, cores=self.cores,
                          waiting=self.waiting)

    def run_cells(self, built: SessionEnv, runner: CellRunner | None) -> list[CellResult]:
        """Every demo's cell, in the plan's order; several at once on a built env, longest first."""
        built_env = built.env is not None
        progress = Progress(len(self.plan.demos), self.expected if built_env else {}, self.jobs, self.log, built_env)

        def run_one(demo: Demo) -> CellResult | None:
            cell = self.cell(demo, built, runner)
            if cell is not None:
                progress.cell_done(cell)
            return cell

        if built.env is None or self.jobs == 1:
            cells = [run_one(demo) for demo in self.plan.demos]
        else:
            # longest first (by the baseline's durations): a long demo started last would be the tail
            order = sorted(self.plan.demos, key=lambda d: -self.expected.get(d.path, 0.0))
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="cell") as pool:
                done = dict(zip((d.path for d in order), pool.map(run_one, order), strict=True))
            cells = [done[d.path] for d in self.plan.demos]
        return [cell for cell in cells if cell is not None]

    def cell(self, demo: Demo, built: SessionEnv, runner: CellRunner | None) -> CellResult | None:
        """A reused record, a skip, an env error, or a run; None once a stop was requested (nothing starts)."""
        if STOP.requested:
            return None
        if demo.path in self.reusable:
            return self.journal.repeat(self.reusable[demo.path])
        needs = self.needs[demo.path]
        if not needs.available:
            return self.journal.record(demo, Outcome.SKIPPED, reason=needs.reason)
        if runner is None:
            return self.journal.record(demo, Outcome.ENV_ERROR, error=built.error[:2000], log=built.log)
        try:
            return runner.run(demo, needs.env or {})
        finally:
            if "process-worker" in demo.needs and runner.worker is not None:
                runner.worker.done_with()
