"""The names each templated value of a range may use ({home}, {port}…), declared once.

The run fills exactly these names (harness/run/process.py's `isolated_environ`
for every `env` table, harness/run/services.py for the server and the worker);
`check` rejects any other, so a misspelt `{hom}` is a check error, not a
KeyError in the middle of a run.
"""

from __future__ import annotations

import string
from pathlib import Path

# Every `env` table: the run's fresh HOME, its temp folder, an empty folder for its results, and
# harness/inenv/ (files the harness hands to processes in the env) (all paths).
ENV_NAMES = ("home", "tmp", "storage", "inenv")
# [ranges.server]: where the server listens, the URL that reaches its API, and a random key of this
# server's own (32 random bytes, URL-safe base64: a Fernet key), new at each start.
SERVER_NAMES = ("host", "port", "url", "server_key")
# [ranges.worker]: the work pool, the server's URL, the worker's folder, the env's python
# (through the warm runner when there is one) and harness/inenv/ (helpers that run in the env).
WORKER_NAMES = ("pool", "url", "workdir", "python", "inenv")
# [ranges.server] postgres_env: the env's own database on the run's PostgreSQL server (backend = "postgres").
DATABASE_NAMES = ("database_url",)

TEMPLATE_NAMES: dict[str, tuple[str, ...]] = {
    "env": ENV_NAMES,
    "server.command": SERVER_NAMES,
    "server.env": ENV_NAMES + SERVER_NAMES,
    "server.url": ("host", "port"),
    "server.health": SERVER_NAMES,
    "server.postgres_env": DATABASE_NAMES,
    "server.restored_env": (),  # plain values
    "worker.command": WORKER_NAMES,
    "worker.setup": WORKER_NAMES,
    "worker.env": tuple(dict.fromkeys(ENV_NAMES + WORKER_NAMES)),
}


def _fields(text: str) -> list[str]:
    """The names a template's fields start with ("home" for {home.parent}), nested specs included."""
    names = []
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is not None:
            names.append(field.split(".", 1)[0].split("[", 1)[0])
        if spec:
            names += _fields(spec)
    return names


def template_problem(text: str, key: str) -> str | None:
    """Why `text` cannot be filled for `key` (a TEMPLATE_NAMES key); None when it can."""
    allowed = TEMPLATE_NAMES[key]
    expected = (f"expected only {', '.join('{' + name + '}' for name in allowed)}" if allowed
                else "expected a plain value") + " (write {{ and }} for a brace)"
    try:
        unknown = [name for name in _fields(text) if name not in allowed]
        if unknown:
            shown = "a positional {}" if unknown[0] == "" else "{" + unknown[0] + "}"
            return f"{text!r} uses {shown}; {expected}"
        text.format(**{name: Path("/x") if name in ENV_NAMES else "x" for name in allowed})
    except (ValueError, AttributeError, IndexError, KeyError, TypeError) as exc:
        return f"{text!r} is not a valid template ({exc}); {expected}"
    return None
