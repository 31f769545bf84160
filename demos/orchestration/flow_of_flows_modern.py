"""Flow of flows: an orchestrator flow that runs child flows (2.10+/3.x).

One parent flow drives the work of several child flows and collects their
results. Prefect 2.x/3.x offers two kinds of child:

- A *subflow*: calling a ``@flow`` function from inside another flow. It runs
  right there, in the parent's process, with the parameters you pass, and
  the call returns its result. Prefect records it as its own flow run,
  linked to the parent (the run's ``parent_task_run_id`` points at a task
  run inside the parent).
- A *deployed* child: ``run_deployment(name, parameters=...)`` asks the API
  for a run of a deployment. A worker picks it up and runs it in its own
  infrastructure (here a new process), and ``run_deployment`` waits and
  returns the finished FlowRun. Called inside a flow it is linked to the
  parent the same way. Its result comes back through result storage.

What this shows, in order:
  (a) one subflow, parameters in, result out;
  (b) the same child "mapped" over several parameter sets. Flows have no
      ``.map()``; a loop starts one child run per parameter set (async
      flows could run them concurrently with asyncio.gather);
  (c) a deployed child triggered with ``run_deployment`` and its result read
      back with ``state.result()``.
Then it checks every result, that (a)/(b) ran in this process while (c) ran
in the worker's, and that the API links all the children to the parent.

In Prefect 1.x the same story used ``create_flow_run``/``wait_for_flow_run``
tasks against a registered flow; there were no in-process subflows.

What changed between eras: setting up the child deployment (see _deploy.py:
``Deployment.build_from_flow`` before 2.19.6, ``flow.from_source().deploy()``
after), and ``state.result()``, whose ``fetch`` argument newer 3.x removed.

Needs: a Prefect API (PREFECT_API_URL), a process work pool named in
DEMO_WORK_POOL with a worker polling it, and optionally DEMO_STORAGE_DIR.
"""
import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
POOL = os.environ.get("DEMO_WORK_POOL")
STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(
    prefix="prefect-demo-results-"
)
# Prefect reads its settings when it is imported, so this must come first.
# The deployed child gets the same value through its job variables.
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR

from prefect import flow, get_client  # noqa: E402
from prefect.context import get_run_context  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402

sys.path.insert(0, str(HERE))
from _deploy import deploy_to_pool  # noqa: E402
from _flows import expected, sum_squares  # noqa: E402

SINGLE = ([1, 2, 3], "single")
PARAMETER_SETS = [([1, 2], "set-a"), ([3, 4, 5], "set-b"), ([10], "set-c")]
DEPLOYED = ([6, 7], "deployed")
WAIT_SECONDS = 90  # for the worker to pick up and finish the deployed run


def fail(message):
    raise SystemExit("flow_of_flows_modern: " + message)


def read_result(state):
    """A finished run's return value, read back from result storage."""
    try:
        return state.result(fetch=True)  # 2.x: fetch=True reads persisted data
    except TypeError as exc:
        if "fetch" not in str(exc):
            raise
        return state.result()  # newer 3.x: no fetch argument, always fetches


@flow(name="flow-of-flows")
def orchestrator(child_deployment):
    # (a) A subflow: a plain call, parameters in, return value out.
    single = sum_squares(SINGLE[0], label=SINGLE[1])

    # (b) One child run per parameter set.
    mapped = [sum_squares(numbers, label=label) for numbers, label in PARAMETER_SETS]

    # (c) A deployed child: the worker runs it; we wait for its final state.
    child_run = run_deployment(
        name=child_deployment,
        parameters={"numbers": DEPLOYED[0], "label": DEPLOYED[1]},
        timeout=WAIT_SECONDS,
        poll_interval=1,
    )
    if not child_run.state.is_completed():
        raise RuntimeError(
            "deployed child %s ended %s (is a worker polling the pool?)"
            % (child_run.name, child_run.state.type.value)
        )
    deployed = read_result(child_run.state)

    return {
        "parent": str(get_run_context().flow_run.id),
        "single": single,
        "mapped": mapped,
        "deployed": deployed,
        "deployed_run_deployment_id": str(child_run.deployment_id),
    }


async def parent_of(flow_run_ids):
    """For each child flow run id, the id of the flow run it is nested in."""
    parents = {}
    async with get_client() as client:
        for run_id in flow_run_ids:
            child = await client.read_flow_run(run_id)
            if child.parent_task_run_id is None:
                parents[run_id] = None
                continue
            link = await client.read_task_run(child.parent_task_run_id)
            parents[run_id] = str(link.flow_run_id)
    return parents


def main():
    if not POOL:
        fail("DEMO_WORK_POOL is not set: name a process work pool with a worker")
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: a worker needs a real Prefect server")

    child_deployment, deployment_id = deploy_to_pool(
        "sum_squares", POOL, {"PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR}, "child"
    )
    print("child deployment %s (%s) on pool %r" % (child_deployment, deployment_id, POOL))

    out = orchestrator(child_deployment)

    # Every child returned the right numbers.
    checks = [(out["single"], SINGLE)]
    checks += list(zip(out["mapped"], PARAMETER_SETS))
    checks.append((out["deployed"], DEPLOYED))
    for result, (numbers, label) in checks:
        want = expected(numbers, label)
        got = {k: result.get(k) for k in want} if isinstance(result, dict) else result
        if got != want:
            fail("child %r returned %r, expected %r" % (label, got, want))

    # Subflows ran here; the deployed child ran in a process the worker started.
    for result in [out["single"]] + out["mapped"]:
        if result["pid"] != os.getpid():
            fail("subflow %r ran in pid %s, not here" % (result["label"], result["pid"]))
    if out["deployed"]["pid"] == os.getpid():
        fail("the deployed child ran in this process, not in the worker's")
    if out["deployed_run_deployment_id"] != str(deployment_id):
        fail("deployed child belongs to deployment %s" % out["deployed_run_deployment_id"])

    # The API records every child as nested in the orchestrator's run.
    children = [result["flow_run_id"] for result, _ in checks]
    parents = asyncio.run(parent_of(children))
    strays = {c: p for c, p in parents.items() if p != out["parent"]}
    if strays:
        fail("child runs not linked to parent %s: %r" % (out["parent"], strays))

    print(
        "flow_of_flows_modern: ok, %d child runs (%d in-process, 1 on the worker), "
        "totals %s"
        % (
            len(children),
            len(children) - 1,
            [result["total"] for result, _ in checks],
        )
    )


if __name__ == "__main__":
    main()
