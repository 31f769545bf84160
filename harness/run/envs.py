"""The one place that builds environments: uv, one env per (release, Python, resolution).

An env is reused while its inputs (the key) are unchanged. A release whose env
cannot be built, or whose canary fails, on the preferred interpreter is tried on
the next one; if none works, every cell of it is `env-error` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import __version__
from harness.config.model import EnvSettings
from harness.plan.interpreters import Interpreter
from harness.plan.releases import Release
from harness.run.bytecode import cache_tag, seed
from harness.run.guard import temp_prefix
from harness.run.process import ProcessResult, error_summary, isolated_environ, kill_group, run_process
from harness.run.stop import STOP, Interrupted

Log = Callable[[str], None]


@dataclass(frozen=True)
class EnvSpec:
    package: str
    release: Release
    resolution: str
    settings: EnvSettings
    canary: Path | None

    @property
    def exclude_newer(self) -> str | None:
        """As-released resolution: nothing uploaded after the release's day."""
        return self.release.exclude_newer if self.resolution == "as-released" else None

    def key(self, interpreter: Interpreter) -> str:
        canary = self.canary.read_bytes() if self.canary else b""
        parts = [
            __version__, self.package, self.release.version, self.resolution, interpreter.version,
            interpreter.path, repr(self.settings.constraints), repr(self.settings.requirements),
            hashlib.sha256(canary).hexdigest(),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


@dataclass
class BuiltEnv:
    path: Path
    python: Path
    python_version: str
    freeze: list[str]
    reused: bool = False
    attempts: list[str] = field(default_factory=list)

    @property
    def minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    @property
    def pycache(self) -> Path:
        """Where every interpreter of this env keeps compiled bytecode (PYTHONPYCACHEPREFIX)."""
        return self.path / "pycache"

    @property
    def freeze_hash(self) -> str:
        return freeze_hash(self.freeze)


class EnvBuildError(Exception):
    """No interpreter produced a working env; the message says why for each."""


def freeze_hash(freeze: list[str]) -> str:
    return hashlib.sha256("\n".join(freeze).encode()).hexdigest()[:16]


def uv_bin() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise EnvBuildError(
                "uv is not installed; run the README's set-up command (pip install -r requirements.txt)"
            ) from None
        return found


def build_env(
    spec: EnvSpec,
    candidates: list[Interpreter],
    envs_dir: Path,
    log_dir: Path,
    fallbacks: int = 2,
    log: Log = print,
    prepare: Callable[[BuiltEnv], None] | None = None,
    bytecode: Path | None = None,
) -> BuiltEnv:
    """Build (or reuse) the env on the best interpreter that works.

    `prepare` runs on the built env (services, canary) and raises EnvBuildError
    to reject it; the next interpreter is then tried. A new env starts with the
    bytecode earlier envs compiled for the files it shares with them (`bytecode`,
    the store of harness.bytecode).
    """
    attempts: list[str] = []
    for interpreter in candidates[: fallbacks + 1]:
        name = f"{spec.package}-{spec.release.version}-py{interpreter.minor}-{spec.resolution}"
        STOP.check(f"the env build of {name}")
        env_dir = envs_dir / f"{name}-{spec.key(interpreter)}"
        ready = env_dir / "ready.json"
        env = _existing(env_dir, interpreter, attempts, log)
        if env is None:
            log(f"building env {name} with Python {interpreter.version} ({interpreter.source})")
            started = time.monotonic()
            try:
                freeze = _create(spec, interpreter, env_dir, log_dir / f"env-py{interpreter.minor}.log")
            except EnvBuildError as exc:
                attempts.append(f"Python {interpreter.version}: {exc}")
                log(f"env on Python {interpreter.version} failed: {exc}")
                shutil.rmtree(env_dir, ignore_errors=True)
                continue
            log(f"env installed in {time.monotonic() - started:.1f}s ({len(freeze)} packages)")
            env = BuiltEnv(env_dir, _env_python(env_dir), interpreter.version, freeze, attempts=attempts)
            if bytecode is not None:
                # the harness's own helpers run there too
                tags = {cache_tag(interpreter.version), sys.implementation.cache_tag}
                seeded = seed(env_dir, env.pycache, bytecode, tags)
                if seeded.files:
                    log(f"bytecode of {seeded.files} modules from earlier envs ({seeded.seconds:.1f}s)")
        try:
            if prepare is not None:
                prepare(env)
        except EnvBuildError as exc:
            attempts.append(f"Python {interpreter.version}: {exc}")
            log(f"env on Python {interpreter.version} rejected: {exc}")
            ready.unlink(missing_ok=True)
            continue
        _mark_ready(ready, env.freeze, interpreter.version)
        return env
    if not attempts:
        raise EnvBuildError("no interpreter to try")
    raise EnvBuildError("; ".join(attempts))


def _existing(env_dir: Path, interpreter: Interpreter, attempts: list[str], log: Log) -> BuiltEnv | None:
    """The env as built before: ready (reused as it is), or installed ahead (it still gets services and canary)."""
    freeze = reusable_freeze(env_dir, log)
    if freeze is not None:
        log(f"reusing env {env_dir.name} (inputs unchanged)")
        return BuiltEnv(env_dir, _env_python(env_dir), interpreter.version, freeze, reused=True, attempts=attempts)
    ahead = reusable_freeze(env_dir, log, AHEAD_MARKER)
    if ahead is not None:
        log(f"using env {env_dir.name}, installed ahead of its turn")
        return BuiltEnv(env_dir, _env_python(env_dir), interpreter.version, ahead, attempts=attempts)
    return None


AHEAD_MARKER = "installed-ahead.json"  # install_ahead's marker: installed, but its services and canary never ran


def install_ahead(spec: EnvSpec, interpreter: Interpreter, envs_dir: Path, log_file: Path,
                  environ: dict[str, str] | None = None) -> Path:
    """Install a release's env before its session needs it (a bisect's next candidates), so the session
    only waits for what is left. It is not marked ready: build_env still runs its services and canary.
    Raises EnvBuildError, which the session meets again and records. `environ`: uv's environment, fixed
    while the install runs (another thread's session changes this process's own)."""
    name = f"{spec.package}-{spec.release.version}-py{interpreter.minor}-{spec.resolution}"
    env_dir = envs_dir / f"{name}-{spec.key(interpreter)}"
    if (env_dir / "ready.json").is_file() or (env_dir / AHEAD_MARKER).is_file():
        return env_dir
    freeze = _create(spec, interpreter, env_dir, log_file, environ)
    _mark_ready(env_dir / AHEAD_MARKER, freeze, interpreter.version)
    return env_dir


def reusable_freeze(env_dir: Path, log: Log, marker: str = "ready.json") -> list[str] | None:
    """The freeze of a built env that can be reused; None when it must be built (again).

    A ready marker that cannot be read, or an interpreter that is gone (deleted, or a link to
    a Python that was removed), makes the env one to rebuild, not a run that crashes.
    """
    ready = env_dir / marker
    if not ready.is_file():
        return None
    try:
        freeze = json.loads(ready.read_text(encoding="utf-8"))["freeze"]
        if not isinstance(freeze, list) or not all(isinstance(line, str) for line in freeze):
            raise ValueError("freeze is not a list of requirement lines")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"env {env_dir.name}: its marker {ready} is unreadable ({exc}); rebuilding it")
        return None
    python = _env_python(env_dir)
    if not os.access(python, os.X_OK):
        log(f"env {env_dir.name}: its interpreter {python} is missing; rebuilding it")
        return None
    return freeze


CANARY_TRIES = 2  # a canary that fails, then passes at once, met a race of the release, not a broken env
CANARY_SECONDS = 300  # its time limit


def run_canary(env: BuiltEnv, spec: EnvSpec, extra: dict[str, str], log_file: Path, warm=None) -> None:
    """The era's built-in check: import, version, a flow with mapped tasks. Raises EnvBuildError.

    With a ready warm runner (harness.run.warm.WarmRunner) it runs forked from it, as the demos will. One
    that exits non-zero runs once more before the interpreter is turned away: a race in the release's own
    client (2.6.9 with httpcore 0.16.1 crashed a task run in 2 of 5 canaries, on every Python alike) is not
    the interpreter's doing, and the demos' records show it. A timed-out canary is not run again.
    """
    if spec.canary is None:
        return
    for attempt in range(1, CANARY_TRIES + 1):
        result = _canary_once(env, spec, extra, warm)
        if result.interrupted:
            STOP.note(f"the canary of {spec.package} {spec.release.version}")
            raise Interrupted("the canary")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as log:
            how = "forked from the warm runner" if warm is not None else "a fresh interpreter"
            log.write(f"$ canary {spec.canary.name} {spec.release.version} ({how}, try {attempt} of "
                      f"{CANARY_TRIES})\n{result.output}")
        if not result.timed_out and result.exit_code == 0:
            return
        if result.timed_out or attempt == CANARY_TRIES:
            why = "timed out" if result.timed_out else error_summary(result.output)
            raise EnvBuildError(f"canary failed{'' if attempt == 1 else f' {attempt} times'}: {why}")


def _canary_once(env: BuiltEnv, spec: EnvSpec, extra: dict[str, str], warm) -> ProcessResult:
    with tempfile.TemporaryDirectory(prefix=temp_prefix("canary")) as work:
        environ = isolated_environ(spec.settings.env, spec.package, Path(work), extra, pycache=env.pycache)
        result = None
        if warm is not None:
            result = warm.run(spec.canary, Path(work), environ, Path(work) / "canary.log", CANARY_SECONDS,
                              args=[spec.release.version])
        if result is None:
            result = run_process([str(env.python), str(spec.canary), spec.release.version], CANARY_SECONDS,
                                 Path(work), environ)
        return result


def build_overlay(env: BuiltEnv, spec: EnvSpec, requirements: tuple[str, ...], log_file: Path) -> Path:
    """A demo's own extra requirements, installed beside the env (not into it), for that demo alone: a folder
    the demo gets on its PYTHONPATH. The env's own versions constrain it, so what they share stays as the env
    has it. Reused while the env and the requirements are the same; raises EnvBuildError."""
    key = hashlib.sha256("\0".join(sorted(requirements)).encode()).hexdigest()[:12]
    overlay = env.path / "overlays" / key
    if (overlay / "ready").is_file():
        return overlay
    shutil.rmtree(overlay, ignore_errors=True)
    overlay.mkdir(parents=True)
    (overlay.parent / f"{key}.constraints.txt").write_text("\n".join(env.freeze) + "\n")
    install = [uv_bin(), "pip", "install", "--python", str(env.python), "--target", str(overlay / "site"),
               *requirements, "--constraint", str(overlay.parent / f"{key}.constraints.txt")]
    if spec.exclude_newer:
        install += ["--exclude-newer", spec.exclude_newer]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a", encoding="utf-8") as log:
        _uv(log, install, f"installing {', '.join(requirements)} for one demo")
    (overlay / "ready").write_text("\n".join(requirements) + "\n")
    return overlay


def _mark_ready(ready: Path, freeze: list[str], python_version: str) -> None:
    """Whole or absent: the marker is written beside and moved in place, so a killed write leaves none."""
    written = ready.with_name(ready.name + ".tmp")
    written.write_text(json.dumps({"freeze": freeze, "python": python_version}), encoding="utf-8")
    written.replace(ready)


def _env_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _create(spec: EnvSpec, interpreter: Interpreter, env_dir: Path, log_file: Path,
            environ: dict[str, str] | None = None) -> list[str]:
    uv = uv_bin()
    shutil.rmtree(env_dir, ignore_errors=True)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    python = str(_env_python(env_dir))
    with log_file.open("w", encoding="utf-8") as log:
        _uv(log, [uv, "venv", "--quiet", "--python", interpreter.path, str(env_dir)], "creating the venv", environ)
        install = [uv, "pip", "install", "--python", python, f"{spec.package}=={spec.release.version}"]
        install += list(spec.settings.requirements)
        if spec.settings.constraints:
            constraints = env_dir / "constraints.txt"
            constraints.write_text("\n".join(spec.settings.constraints) + "\n")
            install += ["--constraint", str(constraints)]
        if spec.exclude_newer:
            install += ["--exclude-newer", spec.exclude_newer]
        _uv(log, install, "installing", environ)
        freeze = _uv(log, [uv, "pip", "freeze", "--python", python], "freezing", environ).splitlines()
    return [line for line in freeze if line.strip()]


def _uv(log, args: list[str], doing: str, environ: dict[str, str] | None = None) -> str:
    """One uv command, in a process group of its own that a stop request ends (Interrupted, not an env error)."""
    STOP.check(f"the env build (uv: {doing})")
    log.write("$ " + " ".join(args) + "\n")
    log.flush()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True, env=environ)
    with STOP.watching(proc.pid) as running:
        try:
            stdout, stderr = proc.communicate()
            running.done = True
        finally:
            kill_group(proc.pid, proc)
    log.write(stdout + stderr)
    log.flush()
    if running.stopped:
        STOP.note(f"the env build (uv: {doing})")
        raise Interrupted(f"the env build (uv: {doing})")
    if proc.returncode != 0:
        lines = [l for l in stderr.splitlines() if l.strip()]
        detail = " ".join(lines[-3:])[-400:]
        raise EnvBuildError(f"{doing} failed (uv exit {proc.returncode}): {detail}")
    return stdout
