"""Running chosen demos on chosen releases, in or outside their declared ranges: what bisect and `ranges --bisect`
need. One session per release (harness.run.session, so a probe is recorded like any other cell); the envs of
the releases that may come next are installed ahead, in the background, while the current one runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from harness.config.model import Demo, Matrix
from harness.plan.releases import Release
from harness.plan.sessions import SessionPlan, session_plan, state_interpreters
from harness.results.records import CellResult
from harness.run.envs import EnvBuildError, install_ahead
from harness.run.guard import tagged_session
from harness.run.session import env_spec, run_session
from harness.run.stop import Interrupted
from harness.run.watchdog import TOKEN_VARIABLE

Log = Callable[[str], None]
AHEAD = 2  # envs installed ahead at once: both possible next midpoints of a bisect, on a 2-core machine


def probe_label(demos: list[Demo]) -> str:
    """Names a probe session's log folder apart from the release's profile session and other probes."""
    if len(demos) == 1:
        return "probe-" + Path(demos[0].path).stem
    digest = hashlib.sha256("\0".join(sorted(d.path for d in demos)).encode()).hexdigest()[:8]
    return f"probe-{len(demos)}-demos-{digest}"


class ProbeRunner:
    """Sessions of a few demos on one release at a time, with envs installed ahead.

    Use as a context manager: it tags everything it starts (harness.run.guard), and on leaving it waits for
    (or, after a stop request, abandons and kills) the installs still running.
    """

    def __init__(self, matrix: Matrix, resolution: str, log: Log = print, jobs: int | None = None):
        self.matrix, self.resolution, self.log, self.jobs = matrix, resolution, log, jobs
        self.interpreters = state_interpreters(matrix)
        self.ahead: dict[str, Future] = {}
        self.ahead_done: list[str] = []  # releases whose env was installed ahead, in the order they finished
        self._pool = ThreadPoolExecutor(AHEAD, thread_name_prefix="ahead")
        self._stack = contextlib.ExitStack()
        self._environ: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProbeRunner:
        token = self._stack.enter_context(tagged_session())
        self._environ = dict(os.environ, **{TOKEN_VARIABLE: token})  # this runner's token, not a session's
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stack.close()

    def session(self, release: Release, demos: list[Demo]) -> SessionPlan:
        return session_plan(self.matrix, release, self.resolution, self.interpreters, demos, {"probe"},
                            label=probe_label(demos))

    def run(self, release: Release, demos: list[Demo], force: bool = False) -> list[CellResult]:
        """The demos' cells on the release (a recorded cell with unchanged inputs is reused unless `force`)."""
        pending = self.ahead.pop(release.version, None)
        if pending is not None and not pending.done():
            self.log(f"waiting for the env of {release.version}, installing ahead")
        if pending is not None:
            with contextlib.suppress(EnvBuildError, Interrupted):
                pending.result()  # the session meets a failed install again, and records it
        plan = self.session(release, demos)
        return run_session(self.matrix, plan, log=self.log, force=force, jobs=self.jobs)

    def install_ahead(self, release: Release, demos: list[Demo]) -> None:
        """Start installing the release's env in the background (at most AHEAD at once; more wait their turn)."""
        if release.version in self.ahead:
            return
        plan = self.session(release, demos)
        if not plan.candidates:
            return
        settings = self.matrix.env_settings(release.parsed, self.resolution)
        spec = env_spec(self.matrix, plan, settings)
        state = self.matrix.resolve(self.matrix.settings.state_dir)
        log_file = state / "logs" / "installed-ahead" / f"{plan.name}.log"  # a session clears its own folder

        def install() -> None:
            install_ahead(spec, plan.candidates[0], state / "envs", log_file, self._environ)
            with self._lock:
                self.ahead_done.append(release.version)

        self.ahead[release.version] = self._pool.submit(install)
