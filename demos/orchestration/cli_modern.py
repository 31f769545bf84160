"""The Prefect CLI for day-to-day orchestration (2.10+/3.x).

Everything the UI does is also a ``prefect`` command talking to the API in
PREFECT_API_URL. This demo registers one deployment (with the Python API, as
in deployment_worker_modern.py), then drives it only through the CLI, the way
an operator would from a terminal or a cron job:

    prefect work-pool ls                       # which pools exist
    prefect work-pool inspect <pool>           # type, status, job template
    prefect deployment ls                      # which deployments exist
    prefect deployment run <flow>/<deployment> --param label=... --params '{...}'
    prefect flow-run ls --flow-name <flow>     # recent runs and their states
    prefect flow-run inspect <id>              # one run in full

Each command runs as a subprocess: the ``prefect`` on PATH, as an operator
would type it (the env's own script when the env is activated), and
the demo checks what it printed and, through the Python client, that the run
it started really completed with the parameters given on the command line.

Classic (1.x) equivalents: ``prefect register``, ``prefect run --name ...
--param k=v``, ``prefect get flows`` / ``prefect get flow-runs``, ``prefect
agent local start --label ...``. In 2.x/3.x the nouns changed (deployment,
work-pool, flow-run, worker) and ``prefect deployment run`` only *creates* the
run: a worker polling the pool executes it.

Needs: PREFECT_API_URL, DEMO_WORK_POOL with a worker, DEMO_STORAGE_DIR.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POOL = os.environ.get("DEMO_WORK_POOL")
STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(
    prefix="prefect-demo-results-"
)
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR  # before importing prefect

from prefect import get_client  # noqa: E402
from prefect.utilities.asyncutils import sync_compatible  # noqa: E402

sys.path.insert(0, str(HERE))
from _deploy import deploy_to_pool  # noqa: E402

PREFECT = shutil.which("prefect") or os.path.join(os.path.dirname(sys.executable), "prefect")
WAIT_SECONDS = 120
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fail(message):
    raise SystemExit("cli_modern: " + message)


def cli(*args):
    """Run `prefect ARGS...`, echo it, return its output; fail on non-zero."""
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1")  # wide tables, no ANSI
    print("$ prefect " + " ".join(args))
    proc = subprocess.run(
        [PREFECT] + list(args), env=env, capture_output=True, text=True, timeout=120
    )
    out = proc.stdout + proc.stderr
    print("  " + "\n  ".join(out.strip().splitlines()[:25]))
    if proc.returncode != 0:
        fail("`prefect %s` exited %s" % (" ".join(args), proc.returncode))
    return out


@sync_compatible
async def read_run(run_id):
    async with get_client() as client:
        return await client.read_flow_run(run_id)


def main():
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: the CLI needs a server to talk to")
    if not POOL:
        fail("DEMO_WORK_POOL is not set: name a process work pool with a worker")
    full_name, deployment_id = deploy_to_pool(
        "sum_squares", POOL, {"PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR}, "cli"
    )
    deployment_name = full_name.split("/", 1)[1]

    # Work pools: the one the worker polls is listed, and it is a process pool.
    if POOL not in cli("work-pool", "ls"):
        fail("`work-pool ls` does not list %s" % POOL)
    inspected = cli("work-pool", "inspect", POOL)
    if "process" not in inspected or POOL not in inspected:
        fail("`work-pool inspect` does not show a process pool named %s" % POOL)

    # Deployments: ours is listed.
    if deployment_name not in cli("deployment", "ls"):
        fail("`deployment ls` does not list %s" % deployment_name)

    # Run it with parameters from the command line: one with --param (a
    # string), the list as JSON with --params.
    out = cli(
        "deployment", "run", full_name,
        "--param", "label=from-cli",
        "--params", json.dumps({"numbers": [2, 3]}),
    )
    ids = UUID_RE.findall(out)
    if not ids:
        fail("`deployment run` printed no flow run id")
    run_id = ids[-1]

    # The worker picks it up; watch it through the API until it is final.
    deadline = time.time() + WAIT_SECONDS
    run = read_run(run_id)
    while not (run.state and run.state.is_final()) and time.time() < deadline:
        time.sleep(1)
        run = read_run(run_id)
    if not run.state.is_completed():
        fail("run %s is %s after %ss" % (run_id, run.state.type.value, WAIT_SECONDS))
    if str(run.deployment_id) != str(deployment_id):
        fail("run %s belongs to deployment %s" % (run_id, run.deployment_id))
    if run.parameters != {"label": "from-cli", "numbers": [2, 3]}:
        fail("run got parameters %r" % (run.parameters,))

    # Flow runs: listed (this flow's, newest first; other work on the same
    # server must not push ours off the page), and inspect shows it completed.
    flow_name = full_name.split("/", 1)[0]
    if run.name not in cli("flow-run", "ls", "--flow-name", flow_name, "--limit", "100"):
        fail("`flow-run ls --flow-name %s` does not list %s" % (flow_name, run.name))
    inspected = cli("flow-run", "inspect", run_id)
    if run_id not in inspected or "COMPLETED" not in inspected.upper():
        fail("`flow-run inspect` does not show %s as completed" % run_id)
    print("cli_modern: ok, run %s (%s) completed with CLI parameters" % (run.name, run_id))


if __name__ == "__main__":
    main()
