"""One matrix session: build the release's env, start its services, run every demo that claims it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import os
import re
import shutil
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

from harness import __version__
from harness.run.bytecode import harvest
from harness.run.envs import BuiltEnv, EnvBuildError, EnvSpec, build_env, run_canary
from harness.config.model import Demo, Matrix
from harness.config.needs import PROVIDED, check_needs, secret_values
from harness.plan.sessions import SessionPlan
from harness.results.records import CellResult, now_iso
from harness.results.store import store_for
from harness.results.outcomes import Outcome, REUSABLE
from harness.run.process import classify, error_summary, isolated_environ, run_process, tail
from harness.run.warm import INTERPRETER_NAMES, WARM_EXEC_VARIABLE, WarmRunner, warm_exec_prefix, write_shims
from harness.run.services import ServiceError, Services, WebhookReceiver, env_path

Log = Callable[[str], None]


BYTECODE_STORE = "bytecode"  # in the state folder: harness.bytecode's store, shared by every env


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def support_hash(folder: Path) -> str:
    """What a demo may read besides itself: helper modules (`_x.py`) and data files in its folder.

    Other scripts (declared demos) and READMEs (prose, and a block the report rewrites) do not count.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc" or path.name == "README.md":
            continue
        if path.suffix == ".py" and not path.name.startswith("_"):
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """A terminated run unwinds like an interrupted one, so services are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_session(matrix: Matrix, plan: SessionPlan, log: Log = print, force: bool = False,
                warm: bool = True, jobs: int | None = None) -> list[CellResult]:
    """Run one session's cells, appending each record as soon as it is known.

    A cell whose inputs match a result recorded on this machine is not run
    again (unless `force`): its record is repeated, marked `reused`.
    """
    state = matrix.resolve(matrix.settings.state_dir)
    run_dir = state / "logs" / plan.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f"{matrix.settings.package} {plan.release.version} ({plan.resolution}): "
        f"{len(plan.demos)} demo(s) claim this release")
    with _sigterm_as_exit(), contextlib.ExitStack() as stack:
        return _Session(matrix, plan, run_dir, log, stack, force, warm, jobs or matrix.settings.jobs).run()


class _Session:
    def __init__(self, matrix: Matrix, plan: SessionPlan, run_dir: Path, log: Log, stack: contextlib.ExitStack,
                 force: bool = False, warm: bool = True, jobs: int = 1):
        self.jobs = jobs
        self.matrix, self.plan, self.run_dir, self.log, self.stack = matrix, plan, run_dir, log, stack
        self.store = store_for(matrix)
        self.bytecode_store = matrix.resolve(matrix.settings.state_dir) / BYTECODE_STORE
        release = plan.release
        self.settings = matrix.env_settings(release.parsed, plan.resolution)
        provided = {"webhook", "local-storage"}
        if self.settings.server is not None:
            provided.add("api-server")
            if self.settings.worker is not None:
                provided.add("process-worker")
        # needs do not depend on the env: decide them first, and build no env when nothing would run
        self.needs = {demo.path: check_needs(demo.needs, provided) for demo in plan.demos}
        self.runnable = [d for d in plan.demos if self.needs[d.path].available]
        self.services: Services | None = None
        self.worker_error = ""
        self.worker_thread: threading.Thread | None = None
        self.receiver: WebhookReceiver | None = None
        self.warm: WarmRunner | None = None
        self.warm_shims: list[str] = []
        self.warm_pending: WarmRunner | None = None
        self.warm_allowed = warm
        self.demo_hashes = {d.path: file_hash(matrix.resolve(d.path)) for d in plan.demos}
        folders = {matrix.resolve(d.path).parent for d in plan.demos}
        self.support_hashes = {folder: support_hash(folder) for folder in folders}
        self.keys = {d.path: self.cache_key(d) for d in plan.demos}
        recorded = {} if force else self.store.load(committed=False).cells
        self.reusable = {}
        for demo in plan.demos:
            earlier = recorded.get((demo.path, release.version, plan.resolution))
            if earlier is not None and earlier.cache_key == self.keys[demo.path] and earlier.outcome in REUSABLE:
                self.reusable[demo.path] = earlier
        self.runnable = [d for d in self.runnable if d.path not in self.reusable]
        self.wanted = {need for d in self.runnable for need in d.needs if need in PROVIDED}
        self.expected = self.expected_seconds()

    def expected_seconds(self) -> dict[str, float]:
        """Each runnable demo's likely duration, from the baseline: this release, else its median elsewhere."""
        baseline = self.store.load_baseline().cells
        expected = {}
        for demo in self.runnable:
            here = baseline.get((demo.path, self.plan.release.version, self.plan.resolution))
            if here is not None and here.duration:
                expected[demo.path] = here.duration
                continue
            others = sorted(c.duration for c in baseline.values() if c.demo == demo.path and c.duration)
            expected[demo.path] = others[len(others) // 2] if others else 5.0
        return expected

    def env_requirements(self) -> tuple[str, ...]:
        """The env's extra requirements: the ranges' plus every claiming demo's (one env serves them all)."""
        extra = sorted({req for demo in self.plan.demos for req in demo.requirements} - set(self.settings.requirements))
        return self.settings.requirements + tuple(extra)

    def cache_key(self, demo: Demo) -> str:
        """Every input that can change the cell's result."""
        settings = self.settings
        canary = self.matrix.resolve(settings.canary).read_bytes() if settings.canary else b""
        parts = [
            __version__, self.matrix.settings.package, self.plan.release.version, self.plan.resolution,
            " ".join(i.version for i in self.plan.candidates), repr(settings.constraints),
            repr(self.env_requirements()), repr(sorted(settings.env.items())), repr(settings.server), repr(settings.worker),
            hashlib.sha256(canary).hexdigest(), self.demo_hashes[demo.path],
            self.support_hashes[self.matrix.resolve(demo.path).parent], repr(demo.timeout or self.matrix.settings.timeout),
            repr(demo.python), repr(demo.xfail_reason(self.plan.release.parsed)), repr(demo.needs),
            repr(sorted(self.needs[demo.path].env or {})),  # which services are enabled, never their secrets
            str(self.needs[demo.path].available),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]

    def record(self, demo: Demo, outcome: str, **fields) -> CellResult:
        cell = CellResult(
            demo=demo.path, story=demo.story, variant=demo.variant, release=self.plan.release.version,
            resolution=self.plan.resolution, outcome=outcome, demo_hash=self.demo_hashes[demo.path],
            harness_version=__version__, started=fields.pop("started", None) or now_iso(),
            cache_key=self.keys[demo.path], matrix_version=self.matrix.version, **fields,
        )
        self.store.append(cell)
        return cell

    def run(self) -> list[CellResult]:
        env, env_error, env_log = None, "", ""
        if self.runnable and not self.plan.candidates:
            env_error = self.plan.missing_interpreter
        elif self.runnable:
            try:
                env = self.build()
            except EnvBuildError as exc:
                env_error = str(exc)
                env_log = self.relative(self.run_dir / f"env-py{self.plan.candidates[0].minor}.log")
        if env is not None and self.warm_pending is not None:
            self.adopt_warm_runner(env)
        if env is not None and "process-worker" in self.wanted:
            # the worker comes up while the first demos run; a demo that needs it waits for it
            self.worker_thread = threading.Thread(target=self.start_worker, name="start-worker", daemon=True)
            self.worker_thread.start()
            self.stack.callback(self.worker_thread.join)
        if env is not None and "webhook" in self.wanted:
            self.receiver = self.stack.enter_context(WebhookReceiver())
        total = len(self.plan.demos)
        done = itertools.count(1)
        log_lock = threading.Lock()
        remaining = dict(self.expected) if env is not None else {}

        def run_one(demo: Demo) -> CellResult:
            cell = self.cell(demo, env, env_error, env_log)
            detail = f" — {cell.error or cell.reason}" if cell.outcome != Outcome.PASS else ""
            timing = "reused: inputs unchanged" if cell.reused else f"{cell.duration:.1f}s"
            with log_lock:
                remaining.pop(demo.path, None)
                left = sum(remaining.values()) / self.jobs
                eta = f" · about {_duration(left)} left" if remaining else ""
                self.log(f"[{next(done)}/{total}] {demo.path} on {self.plan.release.version}: {cell.outcome} "
                         f"({timing}){detail}{eta}")
            return cell

        jobs = self.jobs if env is not None else 1
        if jobs == 1:
            cells = [run_one(demo) for demo in self.plan.demos]
        else:
            # longest first (by the baseline's durations): a long demo started last would be the tail
            order = sorted(self.plan.demos, key=lambda d: -self.expected.get(d.path, 0.0))
            with ThreadPoolExecutor(jobs, thread_name_prefix="cell") as pool:
                done_cells = dict(zip((d.path for d in order), pool.map(run_one, order)))
            cells = [done_cells[d.path] for d in self.plan.demos]
        if env is not None:
            kept = harvest(env.pycache, self.bytecode_store)
            if kept.files:
                self.log(f"bytecode of {kept.files} modules kept for the next env ({kept.seconds:.1f}s)")
        return cells

    def cell(self, demo: Demo, env: BuiltEnv | None, env_error: str, env_log: str) -> CellResult:
        needs = self.needs[demo.path]
        if demo.path in self.reusable:
            cell = dataclasses.replace(self.reusable[demo.path], reused=True, matrix_version=self.matrix.version)
            self.store.append(cell)
            return cell
        if not needs.available:
            return self.record(demo, "skipped", reason=needs.reason)
        if env is None:
            return self.record(demo, "env-error", error=env_error[:2000], log=env_log)
        if "process-worker" in demo.needs and self.worker_thread is not None:
            self.worker_thread.join()
        if "process-worker" in demo.needs and self.worker_error:
            return self.record(demo, "env-error", error=self.worker_error[:2000], log=self.relative(self.run_dir / "worker.log"),
                               python=env.python_version, freeze_hash=env.freeze_hash)
        return self.run_cell(demo, env, needs.env or {})

    def build(self) -> BuiltEnv:
        settings = dataclasses.replace(self.settings, requirements=self.env_requirements())
        spec = EnvSpec(
            package=self.matrix.settings.package, release=self.plan.release, resolution=self.plan.resolution,
            settings=settings, canary=self.matrix.resolve(settings.canary) if settings.canary else None,
        )

        def prepare(env: BuiltEnv) -> None:
            if self.services is not None:
                self.services.stop_all()
            self.spawn_warm_runner(env)  # first: services started through it stop before it does
            self.services = self.stack.enter_context(
                Services(self.matrix.settings.package, env.path, self.run_dir, self.log, cwd=self.matrix.root))
            self.share_warm_commands()  # before the server: it forks from the warm runner too
            if settings.server is not None:
                try:
                    self.services.start_server(settings.server)
                except ServiceError as exc:
                    raise EnvBuildError(str(exc)) from None
            if not env.reused:
                warm = self.warm_pending if self.warm_pending is not None and self.warm_pending.ready else None
                run_canary(env, spec, self.services.exports, self.run_dir / f"env-py{env.minor}.log", warm)

        state = self.matrix.resolve(self.matrix.settings.state_dir)
        env = build_env(spec, self.plan.candidates, state / "envs", self.run_dir, self.matrix.settings.fallbacks,
                        self.log, prepare, bytecode=self.bytecode_store)
        if env.freeze:
            self.store.save_freeze(env.freeze_hash, env.freeze)
        return env

    def spawn_warm_runner(self, env: BuiltEnv) -> None:
        """Pay the package's import once for the env; demos, its commands and its server then fork from it."""
        if self.warm_pending is not None:
            self.warm_pending.close()
            self.warm_pending = None
        if self.settings.warm is None or not self.warm_allowed:
            return
        work = self.run_dir / "warm"
        environ = isolated_environ(self.settings.env, self.matrix.settings.package, work, pycache=env.pycache)
        exec_socket = python_shim = None
        self.warm_shims = []
        if self.settings.warm.commands:
            # a short folder of its own: a socket path must stay under 108 bytes
            folder = tempfile.mkdtemp(prefix="harness-warm-", dir="/tmp" if Path("/tmp").is_dir() else None)
            self.stack.callback(shutil.rmtree, folder, True)
            exec_socket = Path(folder) / "exec.sock"
            self.warm_shims = write_shims(self.run_dir / "shims", env.path / "bin", warm_exec_prefix(env.python),
                                          self.settings.warm.commands)
            python_shim = next((self.run_dir / "shims" / n for n in self.warm_shims if n in INTERPRETER_NAMES), None)
        self.warm_pending = WarmRunner(env.python, self.settings.warm.preload, self.settings.warm.reset, environ,
                                       self.matrix.root, self.run_dir / "warm.log", exec_socket=exec_socket,
                                       python_shim=python_shim)
        self.stack.callback(self.warm_pending.close)

    def share_warm_commands(self) -> None:
        """Once the warm runner is ready, the env's commands (the shims) start forked from it.

        This waits for the runner's imports: the server then forks from it instead
        of importing (and, in a fresh env, compiling) the same modules alongside it.
        """
        warm = self.warm_pending
        if warm is None or not warm.exec_socket or not warm.ready:
            return
        prefix = warm.exec_prefix()
        self.services.shims = self.run_dir / "shims"
        self.services.python_command = " ".join(prefix)
        self.services.exports[WARM_EXEC_VARIABLE] = warm.exec_socket
        self.log(f"{self.ready_message(warm)}; {', '.join(self.warm_shims) or 'no commands'} "
                 "(and worker flow runs) fork from it")

    def ready_message(self, warm: WarmRunner) -> str:
        return f"warm runner ready: {', '.join(self.settings.warm.preload)} imported in {warm.info['seconds']}s"

    def adopt_warm_runner(self, env: BuiltEnv) -> None:
        warm = self.warm_pending
        if not warm.ready:
            why = warm.info.get("error") or f"{warm.info.get('threads')} threads after import: fork is unsafe"
            self.log(f"no warm runner ({why}); demos run as plain subprocesses")
            return
        self.warm = warm
        if self.services is None or self.services.shims is None:  # else share_warm_commands said so
            self.log(self.ready_message(warm))

    def start_worker(self) -> None:
        pool = f"demos-{_slug(self.plan.release.version)}"
        try:
            self.services.start_worker(self.settings.worker, pool)
            self.services.exports["DEMO_WORK_POOL"] = pool
        except (ServiceError, OSError) as exc:
            self.worker_error = f"process worker did not start: {exc}"
            self.log(self.worker_error)

    def run_cell(self, demo: Demo, env: BuiltEnv, need_env: dict[str, str]) -> CellResult:
        """Run a demo; a fail or timeout runs again at once (`retries`), and a pass then makes it flaky."""
        base = dict(python=env.python_version, freeze_hash=env.freeze_hash)
        if demo.python is not None and not demo.python.contains(env.python_version, prereleases=True):
            return self.record(demo, "skipped", reason=f"demo needs Python {demo.python}; this env has {env.python_version}", **base)
        log_path = self.run_dir / f"{_slug(demo.path)}.log"
        timeout = demo.timeout or self.matrix.settings.timeout
        xfail = demo.xfail_reason(self.plan.release.parsed)
        started = now_iso()
        first_error, attempts = "", 0
        while True:
            attempts += 1
            result, runner = self.attempt(demo, env, need_env, log_path, timeout, started)
            outcome = classify(result, xfail)
            error = ""
            if result.timed_out:
                error = f"killed after its time limit of {timeout:.0f}s"
            elif result.exit_code != 0:
                error = error_summary(result.output)
            if outcome not in ("fail", "timeout") or xfail is not None or attempts > self.matrix.settings.retries:
                break
            first_error = first_error or error
            self.log(f"{demo.path} on {self.plan.release.version}: {outcome} ({error}); retrying "
                     f"({attempts}/{self.matrix.settings.retries})")
        if outcome == "pass" and attempts > 1:
            outcome, error = "flaky", f"failed, then passed on attempt {attempts}: {first_error}"
        server_log = ""
        if outcome not in (Outcome.PASS, Outcome.SKIPPED, Outcome.XFAIL) and self.services is not None and self.services.server_log is not None:
            server_log = self.relative(self.services.server_log)
        return self.record(
            demo, outcome, started=started, duration=round(result.duration, 3), exit_code=result.exit_code,
            error=error, reason=xfail or "", output_tail=tail(result.output), log=self.relative(log_path),
            server_log=server_log, runner=runner, attempts=attempts, **base,
        )

    def attempt(self, demo: Demo, env: BuiltEnv, need_env: dict[str, str], log_path: Path, timeout: float,
                started: str):
        """One run of the demo in a fresh work folder: in a child of the warm runner when it can, else a fresh interpreter."""
        with tempfile.TemporaryDirectory(prefix="harness-cell-") as work:
            extra = dict(need_env)
            extra.update(self.services.exports if self.services else {})
            if "webhook" in demo.needs and self.receiver is not None:
                extra["DEMO_WEBHOOK_URL"] = self.receiver.url_for(_slug(f"{demo.path}-{started}"))
            if "local-storage" in demo.needs:
                extra["DEMO_STORAGE_DIR"] = str(Path(work) / "storage")  # isolated_environ makes it
            # as in the activated env; the env's warm shims first, when there are any
            extra["PATH"] = env_path(env.path, self.services.shims if self.services else None, os.environ.get("PATH", ""))
            environ = isolated_environ(self.settings.env, self.matrix.settings.package, Path(work), extra,
                                       pycache=env.pycache)
            script = self.matrix.resolve(demo.path)
            result = None
            if self.warm is not None and demo.warm:
                watch = self.matrix.settings.package.upper().replace("-", "_") + "_"
                result = self.warm.run(script, self.matrix.root, environ, log_path, timeout, secret_values(), watch)
                if result is None and str(script) in self.warm.handed_back:
                    self.log(f"{demo.path} sets {self.warm.handed_back[str(script)]} while it runs: "
                             "rerun as a plain interpreter (declare warm = false to skip the first try)")
            runner = "fork" if result is not None else "process"
            if result is None:
                result = run_process([str(env.python), str(script)], timeout=timeout, cwd=self.matrix.root,
                                     env=environ, log_path=log_path, secrets=secret_values())
        return result, runner

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.matrix.root).as_posix()
        except ValueError:
            return str(path)
