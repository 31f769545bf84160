"""Querying and changing runs through the GraphQL API (Prefect 1.x).

Prefect 1.x (and 0.x) kept the state of registered flows and their runs in a
backend: Prefect Server (self-hosted: Hasura + Postgres + Apollo) or Prefect
Cloud. Everything the UI showed came from one GraphQL API, and
``prefect.Client`` is the Python way to call it:

- ``client.graphql(query, variables=...)`` runs any query or mutation and
  returns the JSON as attribute-friendly dicts (``result.data.flow[0].id``).
- Queries are Hasura-style: ``table(where: {...}, order_by: {...},
  limit: N)``, with operators such as ``_eq``, ``_gte``, ``_in`` and nested
  relations (``flow_run(where: {flow: {name: {_eq: $name}}})``), plus
  ``<table>_aggregate { aggregate { count } }`` for counts.
- Common mutations have helpers: ``create_flow_run``, ``set_flow_run_state``,
  ``get_flow_run_info``, ``write_run_logs``, ``create_project``; the rest
  (``set_flow_run_labels``, ``delete_flow_run``, ...) are plain GraphQL.

What it does: registers a tiny flow in a new project, creates three runs and
moves them through states itself (Running, then Success, Success, Failed;
no agent is needed for that), writes a log line, then queries flows by name,
failed runs, the last N runs, the last successful run, task runs created in
a time window, and a run's logs; then creates one more run, cancels it,
relabels it, deletes it, and finally deletes the project. Every answer is
checked.

Prefect 2.0 replaced all of this with a REST API and a Python client with
typed filters: see client_queries_modern.py for the same questions there.

Needs a 1.x backend (``prefect1-backend``): PREFECT1_API_URL, the GraphQL
endpoint (for Server, e.g. http://localhost:4200/graphql, with a tenant
created by ``prefect server create-tenant``), and PREFECT1_API_KEY for Cloud.
"""
import os
import sys
import tempfile
import time
import uuid

API_URL = os.environ.get("PREFECT1_API_URL")
API_KEY = os.environ.get("PREFECT1_API_KEY")


def fail(message):
    raise SystemExit("graphql_classic: " + message)


if not API_URL:
    fail(
        "PREFECT1_API_URL is not set: this demo needs a Prefect 1.x Server or "
        "Cloud GraphQL endpoint (and PREFECT1_API_KEY for Cloud)"
    )

# Prefect 1.x reads its configuration when it is imported, from config.toml
# files and PREFECT__* environment variables. Every Client() that Prefect
# creates internally (flow.register() makes its own) must see the backend,
# so it is set here, before the import, rather than only on our Client.
os.environ["PREFECT__BACKEND"] = "cloud" if API_KEY else "server"
os.environ["PREFECT__CLOUD__API"] = API_URL
os.environ["PREFECT__SERVER__ENDPOINT"] = API_URL
if API_KEY:
    os.environ["PREFECT__CLOUD__API_KEY"] = API_KEY

import pendulum  # noqa: E402  (a Prefect 1.x dependency)
import prefect  # noqa: E402
from prefect import Client, Flow, task  # noqa: E402
from prefect.engine.state import Cancelled, Failed, Running, Success  # noqa: E402
from prefect.exceptions import ClientError  # noqa: E402
from prefect.storage import Local  # noqa: E402

TOKEN = uuid.uuid4().hex[:8]
PROJECT = "graphql-demo-" + TOKEN
FLOW_NAME = "graphql-demo-flow-" + TOKEN
FINAL_STATES = [Success, Success, Failed]  # what the three runs end in
LOG_LINE = "rows loaded: 42 (" + TOKEN + ")"


@task
def extract():
    return [1, 2, 3]


@task
def transform(rows):
    return [r * 10 for r in rows]


@task
def load(rows):
    return len(rows)


with Flow(FLOW_NAME) as flow:
    load(transform(extract()))


FLOWS_BY_NAME = """
query($name: String!) {
  flow(where: {name: {_eq: $name}}, order_by: {version: desc}) {
    id name version project { name }
  }
}"""

RUNS_IN_STATE = """
query($name: String!, $state: String!) {
  flow_run(where: {flow: {name: {_eq: $name}}, state: {_eq: $state}},
           order_by: {created: desc}) {
    id name state
  }
}"""

LAST_RUNS = """
query($name: String!, $n: Int!) {
  flow_run(where: {flow: {name: {_eq: $name}}},
           order_by: {created: desc}, limit: $n) {
    id name state created
  }
}"""

LAST_SUCCESS = """
query($name: String!) {
  flow_run(where: {flow: {name: {_eq: $name}}, state: {_eq: "Success"}},
           order_by: [{end_time: desc_nulls_last}, {created: desc}], limit: 1) {
    id name state end_time
  }
}"""

TASK_RUNS_SINCE = """
query($name: String!, $since: timestamptz!) {
  task_run_aggregate(where: {flow_run: {flow: {name: {_eq: $name}}},
                             created: {_gte: $since}}) {
    aggregate { count }
  }
}"""

RUN_LOGS = """
query($id: uuid!) {
  flow_run(where: {id: {_eq: $id}}) {
    logs(order_by: {timestamp: asc}) { level message timestamp }
  }
}"""

RUN_BY_ID = """
query($id: uuid!) {
  flow_run(where: {id: {_eq: $id}}) { id name state labels }
}"""

SET_LABELS = """
mutation($input: set_flow_run_labels_input!) {
  set_flow_run_labels(input: $input) { success }
}"""

DELETE_RUN = """
mutation($input: delete_flow_run_input!) {
  delete_flow_run(input: $input) { success }
}"""


def main():
    client = Client(api_server=API_URL, api_key=API_KEY)
    print("backend %s (%s), prefect %s" % (API_URL, prefect.config.backend, prefect.__version__))

    # --- something to query -------------------------------------------------
    client.create_project(project_name=PROJECT)
    flow.storage = Local(directory=tempfile.mkdtemp(prefix="prefect1-flows-"))
    flow_id = flow.register(project_name=PROJECT, labels=["graphql-demo"], no_url=True)
    print("registered %s as %s in project %s" % (FLOW_NAME, flow_id, PROJECT))

    since = pendulum.now("UTC").subtract(seconds=5)
    run_ids = []
    for i, final in enumerate(FINAL_STATES):
        run_id = client.create_flow_run(flow_id=flow_id, run_name="%s-run-%d" % (TOKEN, i))
        # No agent will pick these up: we move them through states ourselves.
        client.set_flow_run_state(run_id, Running(message="started by the demo"))
        client.set_flow_run_state(run_id, final(message="set by the demo"))
        run_ids.append(run_id)
    client.write_run_logs([
        {
            "flow_run_id": run_ids[0],
            "name": "graphql-demo",
            "level": "INFO",
            "message": LOG_LINE,
            "timestamp": pendulum.now("UTC").isoformat(),
        }
    ])

    # --- queries -------------------------------------------------------------
    flows = client.graphql(FLOWS_BY_NAME, variables={"name": FLOW_NAME}).data.flow
    if len(flows) != 1 or flows[0].id != flow_id or flows[0].project.name != PROJECT:
        fail("flows named %s: %r" % (FLOW_NAME, flows))
    print("flow by name: %s v%s in %s" % (flows[0].name, flows[0].version, flows[0].project.name))

    failed = client.graphql(
        RUNS_IN_STATE, variables={"name": FLOW_NAME, "state": "Failed"}
    ).data.flow_run
    if [r.id for r in failed] != [run_ids[2]]:
        fail("failed runs: %r, expected only %s" % (failed, run_ids[2]))
    print("failed runs: %s" % [r.name for r in failed])

    last_two = client.graphql(LAST_RUNS, variables={"name": FLOW_NAME, "n": 2}).data.flow_run
    if [r.id for r in last_two] != run_ids[:0:-1]:
        fail("last 2 runs: %r, expected %r" % ([r.id for r in last_two], run_ids[:0:-1]))
    print("last 2 runs: %s" % [(r.name, r.state) for r in last_two])

    last_ok = client.graphql(LAST_SUCCESS, variables={"name": FLOW_NAME}).data.flow_run
    if [r.id for r in last_ok] != [run_ids[1]]:
        fail("last successful run: %r, expected %s" % (last_ok, run_ids[1]))
    print("last successful run: %s" % last_ok[0].name)

    # The backend creates a task run per task when a flow run is created.
    counted = client.graphql(
        TASK_RUNS_SINCE, variables={"name": FLOW_NAME, "since": since.isoformat()}
    ).data.task_run_aggregate.aggregate.count
    if counted != len(run_ids) * len(flow.tasks):
        fail("%s task runs since %s, expected %d" % (counted, since, len(run_ids) * len(flow.tasks)))
    print("task runs created since %s: %d" % (since.to_time_string(), counted))

    logs = []
    for _ in range(20):  # logs are written asynchronously by some backends
        logs = client.graphql(RUN_LOGS, variables={"id": run_ids[0]}).data.flow_run[0].logs
        if any(LOG_LINE in entry.message for entry in logs):
            break
        time.sleep(0.5)
    else:
        fail("log line %r not found among %r" % (LOG_LINE, logs))
    print("logs of run 0: %d lines" % len(logs))

    # --- mutations -----------------------------------------------------------
    run_id = client.create_flow_run(
        flow_id=flow_id, run_name=TOKEN + "-extra", labels=["graphql-demo"]
    )
    info = client.get_flow_run_info(run_id)
    print("created %s: %s" % (info.name, type(info.state).__name__))

    client.set_flow_run_state(run_id, Cancelled(message="not needed after all"))
    info = client.get_flow_run_info(run_id)
    if not isinstance(info.state, Cancelled):
        fail("cancelling left the run %r" % (info.state,))
    print("cancelled %s: %s" % (info.name, type(info.state).__name__))

    labels = ["graphql-demo", "reviewed"]
    done = client.graphql(
        SET_LABELS, variables={"input": {"flow_run_id": run_id, "labels": labels}}
    ).data.set_flow_run_labels
    found = client.graphql(RUN_BY_ID, variables={"id": run_id}).data.flow_run
    if not done.success or sorted(found[0].labels) != labels:
        fail("labels after update: %r" % (found,))
    print("relabelled %s: %s" % (info.name, sorted(found[0].labels)))

    done = client.graphql(
        DELETE_RUN, variables={"input": {"flow_run_id": run_id}}
    ).data.delete_flow_run
    found = client.graphql(RUN_BY_ID, variables={"id": run_id}).data.flow_run
    if not done.success or found:
        fail("flow run %s still there after delete: %r" % (run_id, found))
    print("deleted %s" % info.name)

    client.delete_project(project_name=PROJECT)
    print("graphql_classic: ok")


if __name__ == "__main__":
    try:
        main()
    except ClientError as exc:
        fail("the backend rejected a request: %s" % (exc,))
    except Exception as exc:  # connection refused, bad URL, auth: say so plainly
        if type(exc).__module__.startswith(("requests", "urllib3")):
            fail("cannot reach the 1.x backend at %s: %s" % (API_URL, exc))
        raise
    sys.exit(0)
