"""Flow of flows: a parent flow that starts registered child flows (Prefect 0.15 - 1.x).

In the classic API a flow cannot call another flow directly. The
"orchestrator" pattern registers the child with a backend and has tasks in
the parent create and watch the child's *runs*, which an agent executes:

- ``create_flow_run(flow_name=..., project_name=..., parameters={...})``
  (0.15+) creates a child run and returns its id; parameters are passed as
  a dict, and the child's run labels route it to an agent.
- ``wait_for_flow_run(run_id)`` streams the child's states into the
  parent's logs until it finishes and returns a ``FlowRunView``.
- ``get_task_run_result(run_id, task_slug)`` loads one task's result from
  the child run (from the child's Result location, so it must be reachable
  from the parent: here both use Local results on this machine).
- All three can be ``.map``ped: one child run per parameter set.
- ``StartFlowRun(flow_name=..., project_name=..., wait=True)`` is the older
  (0.14-era) task, still in 1.x: one task creates the run and, with
  ``wait=True``, ends in the child's final state, but returns no results.
  (2.x replaced all of this with calling a ``@flow`` inside a ``@flow``, or
  ``run_deployment``; see flow_of_flows_modern.py.)

What it does: registers a child flow in a new project, starts a Local agent
for it, runs the parent locally with ``flow.run()`` (one child with
parameters, three mapped children, one StartFlowRun child) and checks every
child's parameters, state and returned value; then removes the project and
stops the agent.

Needs ``prefect1-backend`` (PREFECT1_API_URL, and PREFECT1_API_KEY for Cloud).
"""
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backend1 import configure, explain_connection_errors, start_local_agent, stop, tail  # noqa: E402

BASE_URL, API_KEY = configure("orchestrator_classic")

import prefect  # noqa: E402
from prefect import Client, Flow, Parameter, task, unmapped  # noqa: E402
from prefect.run_configs import LocalRun  # noqa: E402
from prefect.storage import Local  # noqa: E402

try:
    from prefect.tasks.prefect import StartFlowRun, create_flow_run, get_task_run_result, wait_for_flow_run
except ImportError:
    sys.exit("orchestrator_classic: prefect %s has no create_flow_run/wait_for_flow_run/get_task_run_result "
             "(added in 0.15.0; 0.14 had only StartFlowRun)" % prefect.__version__)

TOKEN = uuid.uuid4().hex[:8]
PROJECT = "orchestrator-" + TOKEN
LABEL = "orchestrator-" + TOKEN
WORKDIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(prefix="orchestrator-")
ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}
PARAMETER_SETS = [{"store": "north"}, {"store": "south", "scale": 0.5}, {"store": "east", "scale": 3}]


def expected_total(parameters):
    return round(sum(ORDERS[parameters["store"]]) * parameters.get("scale", 1), 2)


# --- the child flow: registered with the backend, run by the agent ----------
@task
def store_total(store, scale):
    return round(sum(ORDERS[store]) * scale, 2)


with Flow("orchestrator-child-" + TOKEN) as child:
    total = store_total(Parameter("store"), Parameter("scale", default=1))

child.storage = Local(directory=os.path.join(WORKDIR, "flows"))
child.run_config = LocalRun(labels=[LABEL])
CHILD_SLUG = child.slugs[total]  # e.g. "store_total-1": how the parent names the child's task

# --- the parent flow: run here, with flow.run() ----------------------------
with Flow("orchestrator-parent-" + TOKEN) as parent:
    # one child run, parameters in, result out
    one_id = create_flow_run(flow_name=child.name, project_name=PROJECT,
                             parameters={"store": "north", "scale": 2}, run_name="north-x2-" + TOKEN)
    one_done = wait_for_flow_run(one_id)
    one_result = get_task_run_result(one_id, CHILD_SLUG, upstream_tasks=[one_done])

    # one child run per parameter set
    ids = create_flow_run.map(flow_name=unmapped(child.name), project_name=unmapped(PROJECT),
                              parameters=PARAMETER_SETS)
    dones = wait_for_flow_run.map(ids)
    results = get_task_run_result.map(ids, task_slug=unmapped(CHILD_SLUG), upstream_tasks=[dones])

    # the 0.14-era task: create and wait in one, no result back
    legacy = StartFlowRun(flow_name=child.name, project_name=PROJECT, wait=True, name="start-flow-run")(
        parameters={"store": "east"})


def fail(message):
    raise SystemExit("orchestrator_classic: " + message)


def main():
    client = Client()
    print("backend %s (%s), prefect %s" % (BASE_URL, prefect.config.backend, prefect.__version__))
    client.create_project(project_name=PROJECT)
    agent_log = os.path.join(WORKDIR, "agent.log")
    agent = None
    try:
        child.register(project_name=PROJECT, no_url=True)
        agent = start_local_agent([LABEL], agent_log)
        state = parent.run()
        if not state.is_successful():
            fail("parent run ended %r: %r" % (state, {t.name: s for t, s in state.result.items()
                                                      if not s.is_successful()}))

        got = state.result[one_result].result
        if got != expected_total({"store": "north", "scale": 2}):
            fail("single child returned %r" % (got,))
        view = state.result[one_done].result
        if not view.state.is_successful() or view.parameters != {"store": "north", "scale": 2}:
            fail("single child run %s: %r with %r" % (view.flow_run_id, view.state, view.parameters))
        print("child %s (%s): parameters %r -> %r" % (view.name, type(view.state).__name__, view.parameters, got))

        mapped = state.result[results].result
        expected = [expected_total(p) for p in PARAMETER_SETS]
        if mapped != expected:
            fail("mapped children returned %r, expected %r" % (mapped, expected))
        for view, params in zip(state.result[dones].result, PARAMETER_SETS):
            if not view.state.is_successful() or any(view.parameters.get(k) != v for k, v in params.items()):
                fail("mapped child %s: %r with %r, expected %r" % (view.name, view.state, view.parameters, params))
        print("mapped children over %d parameter sets -> %r" % (len(PARAMETER_SETS), mapped))

        legacy_state = state.result[legacy]
        if not legacy_state.is_successful():
            fail("StartFlowRun ended %r" % (legacy_state,))
        print("StartFlowRun(wait=True): %s, %s" % (type(legacy_state).__name__, legacy_state.message))
    except SystemExit:
        print("--- agent log (tail) ---\n" + tail(agent_log))
        raise
    finally:
        stop(agent)
        client.delete_project(project_name=PROJECT)
    print("orchestrator_classic: ok")


if __name__ == "__main__":
    explain_connection_errors("orchestrator_classic", BASE_URL, main)
