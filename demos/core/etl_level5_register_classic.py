"""Evolving ETL, level 5 with a backend: registering and running through an agent.

etl_level5_classic.py built the flow's storage, run config and executor
and ran the stored copy itself. Here the flow goes the whole way of the
classic orchestration model (Prefect 0.14 - 1.x, Server or Cloud):

1. ``client.create_project(...)``: flows live in projects.
2. ``flow.register(project_name=..., idempotency_key=...)`` builds the
   storage (Local: a pickle on this machine), sends the flow's metadata to
   the backend and returns the flow id. Registration also adds the
   storage's default labels to the run config: for Local storage, this
   machine's hostname, so only an agent on this machine picks its runs up.
   Registering again with the same ``idempotency_key`` (the CLI uses
   ``flow.serialized_hash()``) returns the same flow, no new version.
3. A Local agent (``prefect agent local start --label ...``; it adds its
   hostname label itself) polls the backend, finds the scheduled run whose
   labels are a subset of its own, loads the flow from storage and runs it
   in a subprocess with the run config's env.
4. ``client.create_flow_run(flow_id, parameters=...)`` schedules a run; the
   demo polls ``client.get_flow_run_info`` until it is finished.

Checks: what the backend stored (run config, labels, storage, parameters),
idempotent re-registration, and that the agent ran the flow to Success
with the given parameters. Cleans up its project and its agent.

Needs ``prefect1-backend``: PREFECT1_API_URL (Server: e.g.
http://localhost:4200, after ``prefect server create-tenant``; Cloud:
https://api.prefect.io with PREFECT1_API_KEY, 0.15+) and ``local-storage``.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

API_URL = os.environ.get("PREFECT1_API_URL")
API_KEY = os.environ.get("PREFECT1_API_KEY")
STORAGE = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(prefix="etl-level5-")


def fail(message):
    raise SystemExit("etl_level5_register_classic: " + message)


if not API_URL:
    fail("PREFECT1_API_URL is not set: this demo needs a Prefect 1.x Server or Cloud API "
         "(and PREFECT1_API_KEY for Cloud)")

# Prefect 0.x/1.x reads its configuration at import time, and the agent and
# flow-run subprocesses inherit it: configure the backend here, first.
BASE_URL = API_URL.rstrip("/")
if BASE_URL.endswith("/graphql"):
    BASE_URL = BASE_URL[: -len("/graphql")]
if API_KEY:
    os.environ["PREFECT__BACKEND"] = "cloud"
    os.environ["PREFECT__CLOUD__ENDPOINT"] = BASE_URL
    os.environ["PREFECT__CLOUD__API_KEY"] = API_KEY
else:
    os.environ["PREFECT__BACKEND"] = "server"
    os.environ["PREFECT__SERVER__ENDPOINT"] = BASE_URL

import prefect  # noqa: E402
from prefect import Client, Flow, Parameter, task  # noqa: E402
from prefect.executors import LocalDaskExecutor  # noqa: E402
from prefect.run_configs import LocalRun  # noqa: E402
from prefect.storage import Local  # noqa: E402

try:  # 0.15+
    from prefect.exceptions import ClientError
except ImportError:  # 0.14
    from prefect.utilities.exceptions import ClientError

if API_KEY and prefect.__version__.startswith("0.14."):
    fail("API keys need Prefect 0.15+; 0.14 used API tokens")

TOKEN = uuid.uuid4().hex[:8]
PROJECT = "etl-level5-" + TOKEN
LABEL = "etl-level5-" + TOKEN  # only our agent has it
ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}


@task
def store_total(store):
    return round(sum(ORDERS[store]), 2)


@task
def load(totals):
    prefect.context.get("logger").info("loaded %d store totals", len(totals))
    return sum(totals)


with Flow("etl-level5-register-" + TOKEN) as flow:
    stores = Parameter("stores", default=["north", "south", "east"])
    load(store_total.map(stores))

flow.storage = Local(directory=os.path.join(STORAGE, "flows"))  # adds the hostname label
flow.run_config = LocalRun(env={"SALES_REGION": "eu"}, labels=[LABEL])
flow.executor = LocalDaskExecutor()

FLOW_QUERY = """
query($id: uuid!) {
  flow(where: {id: {_eq: $id}}) {
    id name version project { name } run_config storage parameters
  }
}"""


def start_agent(log_path):
    exe = os.path.join(os.path.dirname(sys.executable), "prefect")
    log = open(log_path, "w")
    return subprocess.Popen([exe, "agent", "local", "start", "--label", LABEL, "--show-flow-logs"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_finished(client, flow_run_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get_flow_run_info(flow_run_id)
        if info.state.is_finished():
            return info
        time.sleep(2)
    fail("flow run %s not finished after %ds (is the agent running?)" % (flow_run_id, timeout))


def main():
    client = Client()
    print("backend %s (%s), prefect %s" % (BASE_URL, prefect.config.backend, prefect.__version__))
    client.create_project(project_name=PROJECT)
    agent = None
    agent_log = os.path.join(STORAGE, "agent.log")
    try:
        key = flow.serialized_hash()
        flow_id = flow.register(project_name=PROJECT, idempotency_key=key, no_url=True)
        again = flow.register(project_name=PROJECT, idempotency_key=key, no_url=True)
        if again != flow_id:
            fail("re-registering with the same idempotency key made a new flow %s (first %s)" % (again, flow_id))
        print("registered %s as %s (again: same id)" % (flow.name, flow_id))

        [stored] = client.graphql(FLOW_QUERY, variables={"id": flow_id}).data.flow
        expected_labels = sorted([LABEL, socket.gethostname()])
        if stored.project.name != PROJECT or stored.version != 1:
            fail("stored flow: project %s, version %s" % (stored.project.name, stored.version))
        if stored.run_config["type"] != "LocalRun" or sorted(stored.run_config["labels"]) != expected_labels:
            fail("stored run config %r, expected LocalRun with labels %r" % (stored.run_config, expected_labels))
        if stored.run_config.get("env") != {"SALES_REGION": "eu"}:
            fail("stored run config env %r" % (stored.run_config.get("env"),))
        if stored.storage["type"] != "Local" or flow.name not in stored.storage["flows"]:
            fail("stored storage %r" % (stored.storage,))
        if [p["name"] for p in stored.parameters] != ["stores"]:
            fail("stored parameters %r" % (stored.parameters,))
        print("backend has: run_config LocalRun %s, storage %s" % (expected_labels, stored.storage["type"]))

        agent = start_agent(agent_log)
        run_id = client.create_flow_run(flow_id=flow_id, parameters={"stores": ["north", "east"]})
        info = wait_finished(client, run_id)
        if not info.state.is_successful():
            fail("flow run ended %r" % (info.state,))
        if info.parameters != {"stores": ["north", "east"]}:
            fail("flow run parameters %r" % (info.parameters,))
        print("agent ran %s: %s with %r" % (run_id, type(info.state).__name__, info.parameters))
    except SystemExit:
        if os.path.exists(agent_log):
            print("--- agent log (tail) ---\n" + open(agent_log).read()[-3000:])
        raise
    finally:
        if agent is not None:
            agent.terminate()
            try:
                agent.wait(timeout=20)
            except subprocess.TimeoutExpired:
                agent.kill()
        client.delete_project(project_name=PROJECT)
    print("etl_level5_register_classic: ok")


if __name__ == "__main__":
    try:
        main()
    except ClientError as exc:
        fail("the backend rejected a request: %s" % (exc,))
    except Exception as exc:
        if type(exc).__module__.startswith(("requests", "urllib3")):
            fail("cannot reach the 1.x backend at %s: %s" % (BASE_URL, exc))
        raise
