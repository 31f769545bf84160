"""The env's warm runner from spawn to adoption: the package's import is paid once per env, and demos,
the env's commands (through shims) and its server then fork from it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from harness.config.model import WarmConfig
from harness.run.envs import BuiltEnv
from harness.run.guard import temp_prefix
from harness.run.process import isolated_environ
from harness.run.services import Services
from harness.run.warm import INTERPRETER_NAMES, WARM_EXEC_VARIABLE, WarmRunner, warm_exec_prefix, write_shims

Log = Callable[[str], None]


class WarmState(StrEnum):
    OFF = "off"  # the release's ranges configure none, or the run is cold (--no-warm)
    STARTING = "starting"  # spawned for the candidate env being prepared; importing in the background
    ADOPTED = "adopted"  # the accepted env's runner is ready: demos fork from it
    FALLEN_BACK = "fallen back"  # it could not get ready: demos run as plain subprocesses


class WarmLifecycle:
    """The warm runner of the env being prepared.

    Each candidate env gets a fresh runner (a rejected candidate's is closed). Once
    it is ready its commands are shared through shims, so the server forks from it
    too; the accepted env's runner is then adopted, or the session falls back.
    """

    def __init__(self, config: WarmConfig | None, template: dict[str, str], package: str, root: Path,
                 run_dir: Path, log: Log, stack: contextlib.ExitStack):
        """`config` None: no runner at all (none configured, or the run is cold)."""
        self.config, self.template, self.package, self.root = config, template, package, root
        self.run_dir, self.log, self.stack = run_dir, log, stack
        self.state = WarmState.OFF
        self.runner: WarmRunner | None = None  # the current candidate's
        self.shims: list[str] = []  # the commands that fork from it
        self.shared = False  # the current candidate's services start their commands through it

    @property
    def forking(self) -> WarmRunner | None:
        """The runner demos fork from: the adopted one, else None."""
        return self.runner if self.state is WarmState.ADOPTED else None

    def spawn(self, env: BuiltEnv) -> None:
        """Start importing in the candidate env, in the background."""
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        self.shared = False
        if self.config is None:
            return
        environ = isolated_environ(self.template, self.package, self.run_dir / "warm", pycache=env.pycache)
        exec_socket = python_shim = None
        self.shims = []
        if self.config.commands:
            # a short folder of its own: a socket path must stay under 108 bytes
            folder = tempfile.mkdtemp(prefix=temp_prefix("warm"), dir="/tmp" if Path("/tmp").is_dir() else None)
            self.stack.callback(shutil.rmtree, folder, True)
            exec_socket = Path(folder) / "exec.sock"
            self.shims = write_shims(self.run_dir / "shims", env.path / "bin", warm_exec_prefix(env.python),
                                     self.config.commands)
            python_shim = next((self.run_dir / "shims" / n for n in self.shims if n in INTERPRETER_NAMES), None)
        self.runner = WarmRunner(env.python, self.config.preload, self.config.reset, environ, self.root,
                                 self.run_dir / "warm.log", exec_socket=exec_socket, python_shim=python_shim)
        self.stack.callback(self.runner.close)
        self.state = WarmState.STARTING

    def share(self, services: Services) -> None:
        """Once the runner is ready, the env's commands (the shims) start forked from it.

        This waits for the runner's imports: the server then forks from it instead
        of importing (and, in a fresh env, compiling) the same modules alongside it.
        """
        runner = self.runner
        if runner is None or not runner.exec_socket or not runner.ready:
            return
        services.shims = self.run_dir / "shims"
        services.python_command = " ".join(runner.exec_prefix())
        services.exports[WARM_EXEC_VARIABLE] = runner.exec_socket
        self.shared = True
        self.log(f"{self.ready_message()}; {', '.join(self.shims) or 'no commands'} "
                 "(and worker flow runs) fork from it")

    def ready_runner(self) -> WarmRunner | None:
        """The candidate's runner once it is ready (the canary forks from it), else None."""
        return self.runner if self.runner is not None and self.runner.ready else None

    def adopt(self) -> None:
        """The accepted env's runner: demos fork from it when it is ready, else they run as plain subprocesses."""
        runner = self.runner
        if runner is None:
            return
        if not runner.ready:
            why = runner.info.get("error") or f"{runner.info.get('threads')} threads after import: fork is unsafe"
            self.log(f"no warm runner ({why}); demos run as plain subprocesses")
            self.state = WarmState.FALLEN_BACK
            return
        self.state = WarmState.ADOPTED
        if not self.shared:  # else share() said so
            self.log(self.ready_message())

    def ready_message(self) -> str:
        return f"warm runner ready: {', '.join(self.config.preload)} imported in {self.runner.info['seconds']}s"
