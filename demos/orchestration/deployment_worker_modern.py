"""Deploy a flow to a work pool and let a worker run it (Prefect 2.19.6+/3.x).

Calling a flow function runs it right here, in this process. A *deployment*
is how you run it somewhere else, later, or on request: it is a record on the
Prefect API that says which flow to run (an *entrypoint* such as
"_flows.py:sum_squares"), where its code lives, and which *work pool* should
run it. A *worker* polls that pool, and for each scheduled run it starts the
flow in fresh infrastructure; for a "process" pool, that is a new Python
subprocess on the worker's machine.

What this shows (the newest way to deploy, 3.x and late 2.x):
- ``flow.from_source(source=<folder>, entrypoint="file.py:fn")`` loads the
  flow from a code location. Here the location is a local folder, so the
  worker must share this file system (in production it is a git repo or a
  bucket the worker can pull from).
- ``.deploy(name=..., work_pool_name=...)`` registers the deployment. No
  Docker image is needed for a process pool when the code has a source.
- ``job_variables`` fill in the pool's job template for this deployment;
  for a process pool, ``env`` is the flow run process's environment.
- ``run_deployment(...)`` creates a flow run and, by default, waits for it
  to finish, then returns the FlowRun with its final state.
- The run happens in another process, so its return value reaches us only
  through *result storage*: the flow sets ``persist_result=True`` and both
  sides point PREFECT_LOCAL_STORAGE_PATH at the same folder.
  ``state.result()`` then reads the value back from there.

What changed between eras:
- 2.0-2.9 had agents and ``Deployment.build_from_flow``; workers arrived in
  2.10. ``flow.from_source`` (2.13.5) first took only git URLs, and
  ``flow.deploy`` (2.13.8) insisted on building a Docker image until 2.14.
  A plain local folder as the source works from 2.19.6 (``LocalStorage``;
  before it, a path was treated as remote storage to copy from, and failed).
  See deployment_worker_2x.py for 2.10-2.x.
- ``state.result()`` had a ``fetch`` argument in 2.x and early 3.x
  (``fetch=True`` reads a persisted result from storage whatever the
  calling context); newer 3.x releases removed it and always fetch.
  read_result() below copes with both.

Needs: a Prefect API (PREFECT_API_URL), a process work pool named in
DEMO_WORK_POOL with a worker polling it, and optionally DEMO_STORAGE_DIR
(a folder for results). By hand:

    prefect server start &                      # then set PREFECT_API_URL
    prefect work-pool create demo-pool --type process
    prefect worker start --pool demo-pool &
    DEMO_WORK_POOL=demo-pool python demos/orchestration/deployment_worker_modern.py
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
# The worker's flow run gets the same value through job_variables below.
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR

from prefect import flow  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402

sys.path.insert(0, str(HERE))
from _flows import expected  # noqa: E402

NUMBERS = [1, 2, 3, 4]
LABEL = "from-worker"
WAIT_SECONDS = 90  # worker poll interval + process start-up, with room to spare


def fail(message):
    raise SystemExit("deployment_worker_modern: " + message)


def read_result(state):
    """A finished run's return value, read back from result storage."""
    try:
        return state.result(fetch=True)  # 2.x: fetch=True reads persisted data
    except TypeError as exc:
        if "fetch" not in str(exc):
            raise
        return state.result()  # newer 3.x: no fetch argument, always fetches


def main():
    if not POOL:
        fail("DEMO_WORK_POOL is not set: name a process work pool with a worker")
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: a worker needs a real Prefect server")

    # 1. Load the flow from its code location and register a deployment.
    #    A unique name keeps repeated or concurrent runs apart.
    deployment_name = "worker-demo-" + uuid.uuid4().hex[:8]
    remote_flow = flow.from_source(
        source=str(HERE), entrypoint="_flows.py:sum_squares"
    )
    deployment_id = remote_flow.deploy(
        name=deployment_name,
        work_pool_name=POOL,
        job_variables={"env": {"PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR}},
        print_next_steps=False,
    )
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

    result = read_result(state)
    want = expected(NUMBERS, LABEL)
    got = {k: result.get(k) for k in want} if isinstance(result, dict) else result
    if got != want:
        fail("result is %r, expected %r" % (got, want))
    if result["pid"] == os.getpid():
        fail("the flow ran in this process; it should have run in the worker's")
    print(
        "deployment_worker_modern: ok, worker ran it in pid %s, total %s"
        % (result["pid"], result["total"])
    )


if __name__ == "__main__":
    main()
