"""One cell on the session's env: the demo in a fresh work folder, forked from the warm runner or as a
fresh interpreter, classified and recorded. A fail or timeout runs again at once (`retries`); a pass
then makes it flaky. A demo a stop request ended is `interrupted` and is not retried; a failure the
harness caused (a service it started died, the cell's log could not be written) is `infra-error`."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.model import Demo, EnvSettings, Matrix
from harness.config.needs import secret_values
from harness.plan.sessions import SessionPlan
from harness.results.outcomes import Outcome
from harness.results.records import CellResult, now_iso
from harness.run.envs import BuiltEnv, EnvBuildError, EnvSpec, build_overlay
from harness.run.guard import cell_token, sweep_cell, temp_prefix
from harness.run.journal import Journal
from harness.run.process import ProcessResult, classify, error_summary, isolated_environ, run_process, tail
from harness.run.services import BackgroundWorker, Services, WebhookReceiver, env_path
from harness.run.slots import CoreSlots
from harness.run.stop import STOP
from harness.run.warm import WarmRunner
from harness.run.watchdog import CELL_VARIABLE

Log = Callable[[str], None]
RETRIED = (Outcome.FAIL, Outcome.TIMEOUT)
SERVER_LOG_NOT_LINKED = (Outcome.PASS, Outcome.SKIPPED, Outcome.XFAIL)  # the server log helps explain the others


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def keep_attempt_log(log_path: Path, attempt: int) -> Path | None:
    """A retried attempt's log, kept beside the cell's: a flaky record's evidence is the failure, which the
    next attempt's log would otherwise overwrite."""
    kept = log_path.with_name(f"{log_path.stem}.attempt{attempt}.log")
    try:
        os.replace(log_path, kept)
    except OSError:  # no log was written, or the folder went: the record says what it can without it
        return None
    return kept


def work_area(work: Path, root: Path, demo_path: str, cwd: str = "matrix") -> tuple[Path, Path]:
    """The cell's working folder and the demo's path from it.

    A cell runs as a user would run it by hand, but from a scratch folder of its own. With `cwd = "matrix"`
    the demo's top folder is linked into it, as from the project (`python demos/core/x.py`: a path relative to
    the working folder means what it means from the project; Prefect 2.x's `to_deployment` wants the flow's
    file below it). With `cwd = "script"` every entry of the script's own folder is linked into it, as from
    that folder (`python x.py`). Anything the demo creates there stays in the scratch folder and goes with it.
    """
    scratch = work / "cwd"
    scratch.mkdir()
    parts = Path(demo_path).parts
    if Path(demo_path).is_absolute() or ".." in parts:  # `check` refuses these; run them from outside
        return scratch, root / demo_path
    if cwd == "script":
        folder = (root / demo_path).parent
        for entry in sorted(folder.iterdir()):
            (scratch / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        return scratch, scratch / parts[-1]
    (scratch / parts[0]).symlink_to(root / parts[0], target_is_directory=len(parts) > 1)
    return scratch, scratch / demo_path


def judge(result: ProcessResult, xfail: str | None, timeout: float) -> tuple[str, str]:
    """The attempt's outcome and, when it did not exit cleanly, its error in one line."""
    outcome = classify(result, xfail)
    error = ""
    if result.timed_out:
        error = f"killed after its time limit of {timeout:.0f}s"
    elif result.exit_code != 0:
        error = error_summary(result.output)
    if result.log_error:  # the harness's own side failed, whatever the demo did
        error = f"{result.log_error}; {error}" if error else result.log_error
    return outcome, error


@dataclass
class CellRunner:
    """Runs the session's demos on its built env, with the services it started."""

    matrix: Matrix
    plan: SessionPlan
    settings: EnvSettings
    env: BuiltEnv
    services: Services
    journal: Journal
    run_dir: Path
    log: Log
    warm: WarmRunner | None = None  # the adopted warm runner: demos fork from it
    receiver: WebhookReceiver | None = None
    worker: BackgroundWorker | None = None
    cores: CoreSlots | None = None  # an env with no API server: each demo holds one of the run's core slots
    waiting: frozenset[str] = frozenset()  # ... except these, which mostly wait (slots.waiting_demos)
    _overlay_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, demo: Demo, need_env: dict[str, str]) -> CellResult | None:
        """The demo's cell, once what it needs is up: skipped on a Python it does not support; None when a
        stop request came before its demo started (nothing was measured, nothing is recorded)."""
        base = dict(python=self.env.python_version, freeze_hash=self.env.freeze_hash)
        if "process-worker" in demo.needs and self.worker is not None:
            worker_error = self.worker.wait()
            if STOP.requested:
                return None
            if worker_error:
                return self.journal.record(demo, Outcome.ENV_ERROR, error=worker_error[:2000],
                                           log=self.journal.link(self.run_dir / "worker.log"), **base)
        if demo.python is not None and not demo.python.contains(self.env.python_version, prereleases=True):
            reason = f"demo needs Python {demo.python}; this env has {self.env.python_version}"
            return self.journal.record(demo, Outcome.SKIPPED, reason=reason, **base)
        if STOP.requested:
            return None
        if demo.requirements:
            try:
                overlay = self.overlay(demo)
            except EnvBuildError as exc:
                return self.journal.record(demo, Outcome.ENV_ERROR, error=f"its own requirements: {exc}"[:2000],
                                           log=self.journal.link(self.run_dir / "overlays.log"), **base)
            need_env = {**need_env, "PYTHONPATH": str(overlay / "site")}
        if self.cores is None or demo.path in self.waiting:
            return self.run_with_retries(demo, need_env, base)
        with self.cores.held() as holding:
            return self.run_with_retries(demo, need_env, base) if holding else None

    def overlay(self, demo: Demo) -> Path:
        """The demo's own requirements beside the env, built once per session for each set of them."""
        with self._overlay_lock:
            spec = EnvSpec(self.matrix.settings.package, self.plan.release, self.plan.resolution, self.settings, None)
            return build_overlay(self.env, spec, demo.requirements, self.run_dir / "overlays.log")

    def run_with_retries(self, demo: Demo, need_env: dict[str, str], base: dict[str, str]) -> CellResult:
        log_path = self.run_dir / f"{slug(demo.path)}.log"
        timeout = demo.timeout or self.matrix.settings.timeout
        declared = demo.xfail_entry(self.plan.release.parsed)
        # an intermittent entry runs as a demo with none (retried; a pass is a pass) until its fail is recorded
        intermittent = declared is not None and declared.intermittent
        xfail = declared.reason if declared is not None and not intermittent else None
        retries = self.matrix.settings.retries
        started = now_iso()
        first_error, attempts = "", 0
        for stale in log_path.parent.glob(f"{log_path.stem}.attempt*.log"):  # an earlier run's: not this cell's
            stale.unlink(missing_ok=True)
        while True:
            attempts += 1
            try:
                result, runner = self.attempt(demo, need_env, log_path, timeout, started)
            except OSError as exc:  # its work folder or log: the harness's side, not the demo's
                return self.journal.record(demo, Outcome.INFRA_ERROR, started=started, attempts=attempts,
                                           error=f"the harness could not run the cell: {exc}"[:2000], **base)
            if result.interrupted:
                STOP.note(f"{demo.path} on {self.plan.release.version}")
                outcome, error = Outcome.INTERRUPTED, f"stopped by {STOP.signal_name} after {result.duration:.1f}s"
                break
            outcome, error = judge(result, xfail, timeout)
            if result.log_error:  # whatever the demo did, its record would not be true
                outcome = Outcome.INFRA_ERROR
                break
            dead = self.services.dead() if result.timed_out or result.exit_code != 0 else ""
            if dead:
                outcome, error = Outcome.INFRA_ERROR, f"a service of the env died: {dead}"[:2000]
                break
            if outcome not in RETRIED or xfail is not None or attempts > retries:
                break
            if STOP.requested:  # its retry would have decided: the cell did not finish
                STOP.note(f"{demo.path} on {self.plan.release.version}")
                outcome, error = Outcome.INTERRUPTED, f"stopped by {STOP.signal_name} before its retry ({error})"
                break
            kept = keep_attempt_log(log_path, attempts)
            first_error = first_error or (f"{error} (its log: {self.journal.link(kept)})" if kept else error)
            self.log(f"{demo.path} on {self.plan.release.version}: {outcome} ({error}); retrying "
                     f"({attempts}/{retries})")
        if outcome == Outcome.PASS and attempts > 1:
            outcome, error = Outcome.FLAKY, f"failed, then passed on attempt {attempts}: {first_error}"
        if intermittent and outcome == Outcome.FAIL:
            outcome, xfail = Outcome.XFAIL, declared.reason
        return self._record(demo, outcome, error, result, xfail, log_path, started, runner, attempts, base)

    def _record(self, demo: Demo, outcome: str, error: str, result: ProcessResult, xfail: str | None,
                log_path: Path, started: str, runner: str, attempts: int, base: dict[str, str]) -> CellResult:
        server_log = ""
        if outcome not in SERVER_LOG_NOT_LINKED and self.services.server_log is not None:
            server_log = self.journal.link(self.services.server_log)
        return self.journal.record(
            demo, outcome, started=started, duration=round(result.duration, 3),
            exit_code=None if result.interrupted else result.exit_code, error=error,
            reason=xfail or "", output_tail=tail(result.output), log=self.journal.link(log_path),
            server_log=server_log, runner=runner, attempts=attempts, cpu=result.cpu, **base,
        )

    def attempt(self, demo: Demo, need_env: dict[str, str], log_path: Path, timeout: float,
                started: str) -> tuple[ProcessResult, str]:
        """One run in a fresh work folder: in a child of the warm runner when it can, else a fresh interpreter.

        What the demo started outside its process group (a setsid daemon) is killed when it ends."""
        token = cell_token()
        with tempfile.TemporaryDirectory(prefix=temp_prefix("cell")) as folder:
            try:
                work = Path(folder).resolve()  # the paths a demo sees are real ones, as os.getcwd() reports them
                environ = self.environ(demo, need_env, work, started)
                environ[CELL_VARIABLE] = token
                cwd, script = work_area(work, self.matrix.root, demo.path, self.matrix.settings.cwd)
                result = self.forked(demo, script, cwd, environ, log_path, timeout)
                runner = "fork" if result is not None else "process"
                if result is None:
                    result = run_process([str(self.env.python), str(script)], timeout=timeout, cwd=cwd,
                                         env=environ, log_path=log_path, secrets=secret_values())
            finally:
                sweep_cell(token)
        return result, runner

    def environ(self, demo: Demo, need_env: dict[str, str], work: Path, started: str) -> dict[str, str]:
        """The demo's environment: isolated, plus its services' variables and the env's scripts on PATH."""
        extra = dict(need_env)
        extra.update(self.settings.need_variables(demo.needs, need_env))  # in the era's own names
        extra.update(self.services.exports)
        if "webhook" in demo.needs and self.receiver is not None:
            extra["DEMO_WEBHOOK_URL"] = self.receiver.url_for(slug(f"{demo.path}-{started}"))
        if "local-storage" in demo.needs:
            extra["DEMO_STORAGE_DIR"] = str(work / "storage")  # isolated_environ makes it
        # as in the activated env; the env's warm shims first, when there are any
        extra["PATH"] = env_path(self.env.path, self.services.shims, os.environ.get("PATH", ""))
        return isolated_environ(self.settings.env, self.matrix.settings.package, work, extra, pycache=self.env.pycache)

    def forked(self, demo: Demo, script: Path, cwd: Path, environ: dict[str, str], log_path: Path,
               timeout: float) -> ProcessResult | None:
        """The demo in a child of the warm runner; None when it runs as a fresh interpreter instead."""
        if self.warm is None or not demo.warm:
            return None
        watch = self.matrix.settings.package.upper().replace("-", "_") + "_"
        result = self.warm.run(script, cwd, environ, log_path, timeout, secret_values(), watch)
        if result is None and str(script) in self.warm.handed_back:
            self.log(f"{demo.path} sets {self.warm.handed_back[str(script)]} while it runs: "
                     "rerun as a plain interpreter (declare warm = false to skip the first try)")
        return result
