"""Automations in Prefect Cloud 1.x: an SLA that cancels a late run, a failure hook.

State handlers (etl_level4_classic.py) run inside the flow run, so they
cannot react to a run that never starts. Prefect Cloud 1.x added
*automations*, evaluated by the backend: an **event** (a flow run changed
state; a run missed its SLA; agents went unhealthy) is paired with an
**action** (webhook, Slack, email, PagerDuty, Teams, Twilio; cancel the
run, pause the schedule) through a **hook**. The UI builds them; this demo
does it through the GraphQL API, which is what the UI calls:

- ``create_action(input: {name, config: {cancel_flow_run: {message}}})``
  and ``config: {webhook: {url, payload, headers}}`` (payload/headers as JSON
  strings, templated with event fields such as ``{flow_run_name}``).
- ``create_flow_run_state_changed_hook(input: {action_id, flow_group_ids,
  states})``: fire the action when runs of these flows enter these states.
- SLAs (Standard plan and above): ``create_flow_sla_config(input: {kind:
  SCHEDULED_NOT_STARTED | STARTED_NOT_FINISHED, duration_seconds})``,
  attached to a flow group with ``create_flow_group_sla(input:
  {flow_sla_config_id, flow_group_id})``, and hooked to an action with
  ``create_flow_sla_failed_hook(input: {action_id, sla_config_ids})``.
- ``hook(where: ...)`` lists hooks; ``delete_hook(input: {hook_id})``.

What it does: registers a flow in a new project; adds a webhook action on
Failed runs (checked as configured, not triggered); adds a "not started
within 20 s -> cancel the run" SLA; creates a run with a label no agent has,
so it stays Scheduled; waits until Cloud cancels it; checks the state and
message; then deletes its hooks and project.

Automations are a Prefect **Cloud** feature: Prefect Server has none of these
mutations. Needs ``prefect1-backend`` with Cloud: PREFECT1_API_URL
(https://api.prefect.io) and PREFECT1_API_KEY.
"""
import json
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backend1 import configure, explain_connection_errors  # noqa: E402

BASE_URL, API_KEY = configure("automation_classic")
if not API_KEY:
    sys.exit("automation_classic: automations are a Prefect Cloud feature: set PREFECT1_API_KEY "
             "(and PREFECT1_API_URL=https://api.prefect.io); Prefect Server has no automations API")

import prefect  # noqa: E402
from prefect import Client, Flow, task  # noqa: E402
from prefect.run_configs import LocalRun  # noqa: E402
from prefect.storage import Local  # noqa: E402

TOKEN = uuid.uuid4().hex[:8]
PROJECT = "automation-demo-" + TOKEN
SLA_SECONDS = 20
CANCEL_MESSAGE = "cancelled by the SLA automation " + TOKEN
WAIT_FOR_CANCEL = 420  # Cloud evaluates SLAs periodically, not to the second


@task
def nightly_load():
    return "loaded"


with Flow("automation-demo-" + TOKEN) as flow:
    nightly_load()

flow.storage = Local(directory=tempfile.mkdtemp(prefix="automation-demo-"), add_default_labels=False)
flow.run_config = LocalRun(labels=["automation-demo-" + TOKEN])


def fail(message):
    raise SystemExit("automation_classic: " + message)


def gql(client, query, **variables):
    return client.graphql(query, variables=variables).data


def main():
    client = Client()
    print("Prefect Cloud at %s, prefect %s" % (BASE_URL, prefect.__version__))
    client.create_project(project_name=PROJECT)
    hooks = []
    try:
        flow_id = flow.register(project_name=PROJECT, no_url=True)
        [row] = gql(client, "query($id: uuid!) { flow(where: {id: {_eq: $id}}) { flow_group_id } }",
                    id=flow_id).flow
        group = row.flow_group_id

        # 1. a webhook on Failed runs of this flow (configured, not triggered here)
        payload = json.dumps({"text": "Run {flow_run_name} of {flow_name} is {state}: {state_message}"})
        webhook = gql(client, """
            mutation($input: create_action_input!) { create_action(input: $input) { id } }""",
            input={"name": "notify-on-failure-" + TOKEN,
                   "config": {"webhook": {"url": "https://hooks.example.com/prefect",
                                          "payload": payload}}}).create_action.id
        hook = gql(client, """
            mutation($input: create_flow_run_state_changed_hook_input!) {
              create_flow_run_state_changed_hook(input: $input) { id } }""",
            input={"action_id": webhook, "flow_group_ids": [group], "states": ["Failed"]},
        ).create_flow_run_state_changed_hook.id
        hooks.append(hook)
        [found] = gql(client, "query($id: uuid!) { hook(where: {id: {_eq: $id}}) { id event_type event_tags } }",
                      id=hook).hook
        if found.event_tags.get("state") != ["Failed"] or group not in found.event_tags.get("flow_group_id", []):
            fail("the state-changed hook was stored as %r" % (found,))
        print("hook %s: %s %s -> webhook" % (hook, found.event_type, dict(found.event_tags)))

        # 2. an SLA: not started within SLA_SECONDS -> cancel the run
        sla = gql(client, """
            mutation($input: create_flow_sla_config_input!) { create_flow_sla_config(input: $input) { id } }""",
            input={"kind": "SCHEDULED_NOT_STARTED", "duration_seconds": SLA_SECONDS}).create_flow_sla_config.id
        gql(client, """
            mutation($input: create_flow_group_sla_input!) { create_flow_group_sla(input: $input) { id } }""",
            input={"flow_sla_config_id": sla, "flow_group_id": group})
        cancel = gql(client, """
            mutation($input: create_action_input!) { create_action(input: $input) { id } }""",
            input={"name": "cancel-late-" + TOKEN,
                   "config": {"cancel_flow_run": {"message": CANCEL_MESSAGE}}}).create_action.id
        hooks.append(gql(client, """
            mutation($input: create_flow_sla_failed_hook_input!) {
              create_flow_sla_failed_hook(input: $input) { id } }""",
            input={"action_id": cancel, "sla_config_ids": [sla]}).create_flow_sla_failed_hook.id)
        print("SLA %s: SCHEDULED_NOT_STARTED after %ds -> cancel_flow_run" % (sla, SLA_SECONDS))

        # 3. a run that no agent will pick up (no agent has this label)
        run_id = client.create_flow_run(flow_id=flow_id, labels=["no-agent-" + TOKEN])
        deadline = time.monotonic() + WAIT_FOR_CANCEL
        while time.monotonic() < deadline:
            state = client.get_flow_run_info(run_id).state
            if state.is_finished():
                break
            time.sleep(10)
        else:
            fail("run %s still %s after %ds: the SLA automation did not cancel it" % (run_id, state, WAIT_FOR_CANCEL))
        if type(state).__name__ != "Cancelled":
            fail("run %s ended %r, expected Cancelled by the automation" % (run_id, state))
        print("run %s: %s (%s)" % (run_id, type(state).__name__, state.message))
    finally:
        for hook_id in hooks:
            try:
                gql(client, "mutation($input: delete_hook_input!) { delete_hook(input: $input) { success } }",
                    input={"hook_id": hook_id})
            except Exception as exc:  # report, but do not hide the demo's own result
                print("could not delete hook %s: %s" % (hook_id, exc))
        client.delete_project(project_name=PROJECT)
    print("automation_classic: ok")


if __name__ == "__main__":
    explain_connection_errors("automation_classic", BASE_URL, main)
