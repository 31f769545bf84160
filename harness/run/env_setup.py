"""The session's env, and what each candidate gets before it is accepted: a warm runner, services, the canary."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from harness.config.model import Matrix, ServerConfig, server_backend
from harness.plan.interpreters import Interpreter
from harness.results.store import ResultStore
from harness.run.database import TEMPLATES, EnvDatabase, env_database, keep_template, run_postgres, template_file
from harness.run.envs import BuiltEnv, EnvBuildError, EnvSpec, build_env, run_canary
from harness.run.services import ServiceError, Services
from harness.run.warm_lifecycle import WarmLifecycle

Log = Callable[[str], None]


class EnvSetup:
    """Builds (or reuses) the env on the best interpreter that works, with its services.

    build_env prepares each candidate; an EnvBuildError (the server did not come up,
    the canary failed) rejects it, and the next one starts afresh: the rejected
    candidate's services are stopped and its warm runner closed.
    """

    def __init__(self, matrix: Matrix, spec: EnvSpec, candidates: list[Interpreter], run_dir: Path, log: Log,
                 stack: contextlib.ExitStack, warm: WarmLifecycle, store: ResultStore, bytecode_store: Path,
                 owner: int | None = None):
        self.matrix, self.spec, self.candidates = matrix, spec, candidates
        self.run_dir, self.log, self.stack = run_dir, log, stack
        self.warm, self.store, self.bytecode_store = warm, store, bytecode_store
        self.services: Services | None = None  # the current candidate's; after build(), the accepted env's
        self.owner = owner  # the run's owner: whose PostgreSQL server (run.database) the env's server uses
        self.postgres = server_backend(matrix.settings.backend, spec.settings.server) == "postgres"

    def build(self) -> BuiltEnv:
        """Raises EnvBuildError naming why each interpreter tried was not usable."""
        state = self.matrix.resolve(self.matrix.settings.state_dir)
        env = build_env(self.spec, self.candidates, state / "envs", self.run_dir, self.matrix.settings.fallbacks,
                        self.log, self.prepare, bytecode=self.bytecode_store)
        if env.freeze:
            self.store.save_freeze(env.freeze_hash, env.freeze)
        return env

    def prepare(self, env: BuiltEnv) -> None:
        if self.services is not None:
            self.services.stop_all()
        self.warm.spawn(env)  # first: services started through it stop before it does
        self.services = self.stack.enter_context(
            Services(self.matrix.settings.package, env.path, self.run_dir, self.log, cwd=self.matrix.root))
        self.warm.share(self.services)  # before the server: it forks from the warm runner too
        server = self.spec.settings.server
        if server is not None:
            try:
                database = self._database(env, server) if self.postgres else None
                self.services.start_server(server, database_url=database.url if database else "",
                                           restored=database is not None and database.restored,
                                           database_environ=database.server.client_environ() if database else None)
                if database is not None and database.template is not None and not database.restored:
                    self._keep_database(database)
            except ServiceError as exc:
                raise EnvBuildError(str(exc)) from None
        if not env.reused:
            run_canary(env, self.spec, self.services.exports, self.run_dir / f"env-py{env.minor}.log",
                       self.warm.ready_runner())

    def _database(self, env: BuiltEnv, server: ServerConfig) -> EnvDatabase:
        """The server's database: a new one per candidate (a rejected one's server may not have let go of its
        own yet), restored from the copy an earlier run kept of this env's migrated database when there is one."""
        state = self.matrix.resolve(self.matrix.settings.state_dir)
        running = run_postgres(state, self.owner)
        template = template_file(running, state, env.path.name, f"{env.freeze_hash}\0{server!r}")
        database = env_database(running, f"{self.run_dir.name}-on-py{env.minor}", template)
        if database.problem:
            self.log(database.problem)
        if database.restored:
            self.log(f"database restored from {TEMPLATES}/{template.name}: migrated by an earlier run")
        return database

    def _keep_database(self, database: EnvDatabase) -> None:
        """Keep the database the server just migrated for the next run's server of this env."""
        problem = keep_template(database.server, database.name, database.template)
        self.log(f"could not keep the migrated database: {problem}" if problem
                 else f"kept the migrated database for the next run: {TEMPLATES}/{database.template.name}")
