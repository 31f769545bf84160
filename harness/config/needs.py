"""The fixed vocabulary of services a demo may declare under `needs`.

The harness provides some for real (`PROVIDED`): an API server and a worker
where the matrix configures them for the release, a webhook receiver and a
local storage folder everywhere. A need this machine cannot provide makes the cell `skipped`, with the reason
and the environment variables that would enable it. When a user sets those
variables (pointing at a service they have), the cell runs for real and the
variables reach the demos that declare the need (and no other). Their values are secrets: the output
capture (harness/run/capture.py) replaces them as a demo's output is written, so no log, record or
report holds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    name: str
    missing: str  # why it cannot run here by default
    enable: tuple[str, ...]  # variables that, all set, enable it
    secret: tuple[str, ...] = ()  # which of them hold credentials


# provided by the harness; the value says what a demo gets
PROVIDED = {
    "api-server": "the env's API server; its URL in the variable [ranges.server] export names",
    "process-worker": "a process work pool on that server and a worker polling it; its name in DEMO_WORK_POOL",
    "webhook": "a loopback receiver: POST to DEMO_WEBHOOK_URL, GET it back as a JSON list",
    "local-storage": "an empty folder of the demo run's own in DEMO_STORAGE_DIR",
}

NEEDS: dict[str, Need] = {
    need.name: need
    for need in (
        Need("api-server", "the matrix configures no API server ([ranges.server]) for this release", ()),
        Need("process-worker", "the matrix configures no worker ([ranges.worker]) or server for this release", ()),
        Need("webhook", "", ()),
        Need("local-storage", "", ()),
        Need("docker", "needs a Docker engine, which this machine does not run", ("DOCKER_HOST",)),
        Need("kubernetes", "needs a Kubernetes cluster", ("KUBECONFIG",)),
        Need(
            "prefect1-backend",
            "needs a Prefect 1.x Server or Cloud backend (GraphQL API)",
            ("PREFECT1_API_URL",),
            secret=("PREFECT1_API_KEY",),
        ),
        Need(
            "prefect-cloud",
            "needs a Prefect Cloud workspace",
            ("PREFECT_CLOUD_API_URL", "PREFECT_CLOUD_API_KEY"),
            secret=("PREFECT_CLOUD_API_KEY",),
        ),
        Need(
            "cloud-storage",
            "needs a cloud object store bucket and its credentials",
            ("DEMO_BUCKET_URL",),
            secret=("AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
        ),
        Need("network", "needs the internet (public APIs, downloads), which runs here may not reach",
             ("DEMO_NETWORK",)),
        Need("github", "needs access to GitHub", ("GITHUB_TOKEN",), secret=("GITHUB_TOKEN",)),
        Need("slack", "needs a real Slack workspace webhook", ("SLACK_WEBHOOK_URL",), secret=("SLACK_WEBHOOK_URL",)),
    )
}


@dataclass(frozen=True)
class NeedCheck:
    available: bool
    reason: str = ""
    env: dict[str, str] | None = None


def check_needs(
    names: tuple[str, ...], provided: set[str] | frozenset[str] = frozenset(), environ: dict[str, str] | None = None
) -> NeedCheck:
    """Decide whether every declared need is available: provided here, or enabled by the environment."""
    environ = os.environ if environ is None else environ
    passed: dict[str, str] = {}
    for name in names:
        need = NEEDS[name]
        if name in PROVIDED:
            if name not in provided:
                return NeedCheck(False, need.missing)
            continue
        missing = [var for var in need.enable if not environ.get(var)]
        if missing:
            return NeedCheck(False, f"{need.missing}; set {' and '.join(missing)} to run it")
        for var in need.enable + need.secret:
            if environ.get(var):
                passed[var] = environ[var]
    return NeedCheck(True, env=passed)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of every credential variable set in the environment, to redact."""
    environ = os.environ if environ is None else environ
    names = {var for need in NEEDS.values() for var in need.secret}
    return [environ[n] for n in sorted(names) if len(environ.get(n, "")) >= 4]
