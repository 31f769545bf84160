"""Showcase: label routing with real agents and a Prefect 1.x backend.

labels_routing_classic.py works the rule out on configuration objects. Here
the backend applies it: three flows with different run-config labels, two
Local agents with different labels, one run per flow, and the demo checks
which agent ran which run -- and that the run whose labels no agent has is
never picked up.

    flow            run labels          agent "etl-agent" [etl]   agent "ml-agent" [ml, gpu]
    routing-etl     [etl]               runs it                   -
    routing-train   [ml, gpu]           -                         runs it
    routing-infer   [gpu]               -                         runs it ({gpu} within {ml, gpu})
    routing-orphan  [spark]             -                         -   (stays Scheduled)

Labels carry a random suffix so that other agents on a shared backend
ignore these runs; the agents start with ``--no-hostname-label`` and the
flows use Local storage with ``add_default_labels=False``, so only the
labels above count. Each flow run records the agent that submitted it
(``flow_run.agent``), which is what the demo reads back.

Needs ``prefect1-backend``: PREFECT1_API_URL (and PREFECT1_API_KEY for Cloud).
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid

API_URL = os.environ.get("PREFECT1_API_URL")
API_KEY = os.environ.get("PREFECT1_API_KEY")


def fail(message):
    raise SystemExit("labels_routing_agents_classic: " + message)


if not API_URL:
    fail("PREFECT1_API_URL is not set: this demo needs a Prefect 1.x Server or Cloud API "
         "(and PREFECT1_API_KEY for Cloud)")
BASE_URL = API_URL.rstrip("/")
if BASE_URL.endswith("/graphql"):
    BASE_URL = BASE_URL[: -len("/graphql")]
if API_KEY:
    os.environ.update(PREFECT__BACKEND="cloud", PREFECT__CLOUD__ENDPOINT=BASE_URL, PREFECT__CLOUD__API_KEY=API_KEY)
else:
    os.environ.update(PREFECT__BACKEND="server", PREFECT__SERVER__ENDPOINT=BASE_URL)

import prefect  # noqa: E402
from prefect import Client, Flow, task  # noqa: E402
from prefect.run_configs import LocalRun  # noqa: E402
from prefect.storage import Local  # noqa: E402

TOKEN = uuid.uuid4().hex[:6]
PROJECT = "routing-" + TOKEN
WORKDIR = tempfile.mkdtemp(prefix="routing-")


def label(name):
    return "%s-%s" % (name, TOKEN)


AGENTS = {"etl-agent": [label("etl")], "ml-agent": [label("ml"), label("gpu")]}
FLOWS = {  # flow name -> (run labels, the agent that must run it, or None)
    "routing-etl": ([label("etl")], "etl-agent"),
    "routing-train": ([label("ml"), label("gpu")], "ml-agent"),
    "routing-infer": ([label("gpu")], "ml-agent"),
    "routing-orphan": ([label("spark")], None),
}
RUN_QUERY = """
query($id: uuid!) {
  flow_run(where: {id: {_eq: $id}}) { state labels agent { name labels } }
}"""


@task
def work():
    return prefect.context.get("flow_name")


def start_agent(name, labels):
    args = [os.path.join(os.path.dirname(sys.executable), "prefect"), "agent", "local", "start",
            "--name", name + "-" + TOKEN, "--no-hostname-label"]
    for lab in labels:
        args += ["--label", lab]
    log = open(os.path.join(WORKDIR, name + ".log"), "w")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def main():
    client = Client()
    print("backend %s (%s), prefect %s" % (BASE_URL, prefect.config.backend, prefect.__version__))
    client.create_project(project_name=PROJECT)
    agents = []
    try:
        run_ids = {}
        for name, (labels, _) in FLOWS.items():
            with Flow(name + "-" + TOKEN) as flow:
                work()
            flow.storage = Local(directory=os.path.join(WORKDIR, "flows"), add_default_labels=False)
            flow.run_config = LocalRun(labels=labels)
            flow_id = flow.register(project_name=PROJECT, no_url=True)
            run_ids[name] = client.create_flow_run(flow_id=flow_id)
        agents = [start_agent(name, labels) for name, labels in AGENTS.items()]

        deadline = time.monotonic() + 240
        pending = {n for n, (_, agent) in FLOWS.items() if agent}
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                if client.get_flow_run_info(run_ids[name]).state.is_finished():
                    pending.discard(name)
            time.sleep(3)
        if pending:
            fail("runs %s did not finish (agent logs in %s)" % (sorted(pending), WORKDIR))

        for name, (labels, agent) in FLOWS.items():
            [run] = client.graphql(RUN_QUERY, variables={"id": run_ids[name]}).data.flow_run
            if sorted(run.labels) != sorted(labels):
                fail("%s run has labels %r, expected %r" % (name, run.labels, labels))
            if agent is None:
                if run.state != "Scheduled" or run.agent is not None:
                    fail("%s should stay Scheduled with no agent: %s, agent %r" % (name, run.state, run.agent))
                print("%-15s %-22s -> no agent has these labels: still Scheduled" % (name, sorted(labels)))
                continue
            if run.state != "Success" or run.agent is None or run.agent.name != agent + "-" + TOKEN:
                fail("%s: %s by %r, expected Success by %s" % (name, run.state, run.agent, agent))
            print("%-15s %-22s -> %s %s: %s" % (name, sorted(labels), agent, sorted(run.agent.labels), run.state))
    finally:
        for proc in agents:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        client.delete_project(project_name=PROJECT)
    print("labels_routing_agents_classic: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        if type(exc).__module__.startswith(("requests", "urllib3")):
            fail("cannot reach the 1.x backend at %s: %s" % (BASE_URL, exc))
        if type(exc).__name__ == "ClientError":
            fail("the backend rejected a request: %s" % (exc,))
        raise
