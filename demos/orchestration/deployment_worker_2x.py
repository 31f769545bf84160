"""Deploy a flow to a work pool and let a worker run it (Prefect 2.10-2.x).

The same story as deployment_worker_modern.py, written the way Prefect 2.x
did it before ``flow.from_source(...).deploy(...)`` could target a local
folder: with ``Deployment.build_from_flow``.

A *deployment* is a record on the Prefect API that says which flow to run
(an *entrypoint*, "_flows.py:sum_squares"), where its code lives, and which
*work pool* runs it. A *worker* polls the pool and starts each run in fresh
infrastructure; for a "process" pool, a new Python subprocess.

What this shows about 2.x deployments:
- ``Deployment.build_from_flow(flow, name, work_pool_name=..., ...)`` builds
  the deployment from a flow object you have imported. With no ``storage``
  block, ``path`` is a local folder: when the worker starts the run, Prefect
  copies that folder into the run's working directory and imports the
  entrypoint from there. (With a storage block such as S3, the folder would
  be uploaded at build time and downloaded at run time.)
- ``deployment.apply()`` registers it with the API and returns its id.
- ``job_variables`` (called ``infra_overrides`` before 2.16) fill in the
  pool's job template; for a process pool, ``env`` is the run's environment.
- ``run_deployment(...)`` creates a flow run and waits for its final state.
- The run's return value comes back through result storage (the flow sets
  ``persist_result=True``); ``state.result(fetch=True)`` reads it from
  there (sync code fetches by default in later 2.x; async code does not).

What changed between eras:
- 2.0-2.9: no workers; the same Deployment targeted a work *queue* served by
  an agent (``prefect agent start -q NAME``), with an infrastructure block
  (Process, DockerContainer, ...) instead of a pool's job template.
- 2.10: work pools and workers; ``work_pool_name=`` on Deployment.
- 2.16: ``Deployment`` is deprecated in favour of ``flow.deploy`` and
  ``prefect deploy``; it still works until the end of 2.x.
- 3.0: ``Deployment`` and agents are gone; see deployment_worker_modern.py.

Needs: a Prefect API (PREFECT_API_URL), a process work pool named in
DEMO_WORK_POOL with a worker polling it, and optionally DEMO_STORAGE_DIR.
"""
import os
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
POOL = os.environ.get("DEMO_WORK_POOL")
STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(
    prefix="prefect-demo-results-"
)
# Prefect reads its settings when it is imported, so this must come first.
# The worker's flow run gets the same value through the job variables below.
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR

from prefect.deployments import run_deployment  # noqa: E402

try:
    from prefect.deployments import Deployment  # 2.x only
except ImportError:
    raise SystemExit(
        "deployment_worker_2x: this Prefect has no Deployment class (removed in "
        "3.0); see deployment_worker_modern.py"
    )

sys.path.insert(0, str(HERE))
from _flows import expected, sum_squares  # noqa: E402

NUMBERS = [1, 2, 3, 4]
LABEL = "from-worker"
WAIT_SECONDS = 90  # worker poll interval + process start-up, with room to spare


def fail(message):
    raise SystemExit("deployment_worker_2x: " + message)


def main():
    if not POOL:
        fail("DEMO_WORK_POOL is not set: name a process work pool with a worker")
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: a worker needs a real Prefect server")

    # The pool's job variables were called infra_overrides until 2.16.
    if "job_variables" in Deployment.__fields__:
        overrides_field = "job_variables"
    else:
        overrides_field = "infra_overrides"
    overrides = {"env": {"PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR}}

    # 1. Build and register the deployment. path + entrypoint say where the
    #    code is; by default they would be the current directory and the
    #    flow file relative to it. build_from_flow also creates an (empty)
    #    ignore file for uploads if there is none: keep it out of the repo.
    deployment_name = "worker-demo-2x-" + uuid.uuid4().hex[:8]
    deployment = Deployment.build_from_flow(
        flow=sum_squares,
        name=deployment_name,
        work_pool_name=POOL,
        path=str(HERE),
        entrypoint="_flows.py:sum_squares",
        ignore_file=os.path.join(STORAGE_DIR, ".prefectignore"),
        **{overrides_field: overrides}
    )
    deployment_id = deployment.apply()
    print("deployed sum-squares/%s (%s) to pool %r" % (deployment_name, deployment_id, POOL))

    # 2. Ask for a run and wait for the worker to pick it up and finish it.
    flow_run = run_deployment(
        name="sum-squares/" + deployment_name,
        parameters={"numbers": NUMBERS, "label": LABEL},
        timeout=WAIT_SECONDS,
        poll_interval=1,
    )
    state = flow_run.state
    print("flow run %s ended %s" % (flow_run.name, state.type.value))

    # 3. Check what happened.
    if str(flow_run.deployment_id) != str(deployment_id):
        fail("run belongs to deployment %s, not %s" % (flow_run.deployment_id, deployment_id))
    if not state.is_final():
        fail(
            "run still %s after %ss: is a worker polling pool %r?"
            % (state.type.value, WAIT_SECONDS, POOL)
        )
    if not state.is_completed():
        fail("run ended %s: %s" % (state.type.value, state.message))

    result = state.result(fetch=True)  # fetch=True: read it from storage
    want = expected(NUMBERS, LABEL)
    got = {k: result.get(k) for k in want} if isinstance(result, dict) else result
    if got != want:
        fail("result is %r, expected %r" % (got, want))
    if result["pid"] == os.getpid():
        fail("the flow ran in this process; it should have run in the worker's")
    print(
        "deployment_worker_2x: ok, worker ran it in pid %s, total %s"
        % (result["pid"], result["total"])
    )


if __name__ == "__main__":
    main()
