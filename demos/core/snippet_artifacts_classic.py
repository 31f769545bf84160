"""Snippet: link and markdown artifacts (Prefect "Core" API, 0.13.15+).

Artifacts are small pieces of output -- a link to a dashboard, a markdown
report -- that a task attaches to its task run, for the backend's UI to
show next to the run.

What this shows:
- 0.13.15 added ``prefect.artifacts.create_link(url)`` and
  ``create_markdown(text)``. 0.15 moved them to ``prefect.backend`` as
  ``create_link_artifact`` / ``create_markdown_artifact`` (the old names
  still work in 1.x, with a warning). The demo uses whichever exists.
- They only *record to a backend*: in a plain ``flow.run()`` (context
  ``running_with_backend`` unset) they do nothing and return ``None``, so
  the same task code runs locally and under an agent unchanged.
- What they record: with ``running_with_backend=True`` in the context
  (``flow.run()`` gives every task run a ``task_run_id``), each call is one
  GraphQL mutation,
  ``create_task_run_artifact(input: {task_run_id, kind, data})``. The demo
  points the Prefect client at the webhook receiver (as a stand-in "server"
  that only records requests) to capture the exact mutations and check
  them. The receiver's reply is not a GraphQL answer, so the client fails
  to read an artifact id back: that error is expected and checked.

Needs DEMO_WEBHOOK_URL (a receiver: POST stores, GET on the same URL lists
what arrived).
"""
import json
import os
import sys

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
if not WEBHOOK_URL:
    sys.exit("snippet_artifacts_classic: DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
# The stand-in backend: every GraphQL request Prefect's Client makes goes here.
# (1.x reads cloud.api, which defaults to server.endpoint; 0.13/0.14 read cloud.graphql.)
os.environ["PREFECT__BACKEND"] = "server"
os.environ["PREFECT__SERVER__ENDPOINT"] = WEBHOOK_URL
os.environ["PREFECT__CLOUD__GRAPHQL"] = WEBHOOK_URL
# Runs "with a backend" also ship their logs there; keep only the artifacts.
os.environ["PREFECT__CLOUD__SEND_FLOW_RUN_LOGS"] = "false"

import requests  # noqa: E402
from prefect import Flow, task  # noqa: E402

try:  # 0.15+
    from prefect.backend import create_link_artifact, create_markdown_artifact
except ImportError:  # 0.13.15 - 0.14
    from prefect.artifacts import create_link as create_link_artifact
    from prefect.artifacts import create_markdown as create_markdown_artifact

TOTALS = {"north": 50.0, "south": 45.01, "east": 19.99}
DASHBOARD = "https://dashboards.example.com/sales/2021-06-01"


def report_markdown(totals):
    lines = ["# Sales 2021-06-01", "", "| store | total |", "|---|---:|"]
    lines += ["| %s | %.2f |" % (store, total) for store, total in sorted(totals.items())]
    return "\n".join(lines)


@task
def publish_report(totals):
    outcome = {}
    for kind, make, value in (("link", create_link_artifact, DASHBOARD),
                              ("markdown", create_markdown_artifact, report_markdown(totals))):
        try:
            outcome[kind] = make(value)
        except Exception as exc:  # only when "talking" to the stand-in backend
            outcome[kind] = "error: %s" % type(exc).__name__
    return outcome


with Flow("snippet-artifacts-classic") as flow:
    published = publish_report(TOTALS)


def fail(message):
    raise SystemExit("snippet_artifacts_classic: " + message)


def received():
    response = requests.get(WEBHOOK_URL, timeout=10)
    response.raise_for_status()
    return response.json()


def main():
    # 1. Locally: artifacts are no-ops returning None; nothing is sent.
    state = flow.run()
    if not state.is_successful() or state.result[published].result != {"link": None, "markdown": None}:
        fail("local run: %r -> %r" % (state, state.result[published].result))
    if received():
        fail("a local run sent requests: %r" % (received(),))
    print("local flow.run(): create_link/create_markdown returned None, nothing sent")

    # 2. As if run by an agent: the context says a backend is there.
    state = flow.run(context={"running_with_backend": True})
    outcome = state.result[published].result
    if not state.is_successful() or not all(str(v).startswith("error") for v in outcome.values()):
        fail("backend-style run: %r -> %r (expected the stand-in's reply to be rejected)" % (state, outcome))
    sent = [json.loads(item["body"]) for item in received()]
    mutations = [s for s in sent if "create_task_run_artifact" in s.get("query", "")]
    if len(mutations) != 2:
        fail("expected 2 create_task_run_artifact mutations, got %r" % (sent,))
    # The client sends the variables as a JSON string.
    variables = [json.loads(m["variables"]) if isinstance(m["variables"], str) else m["variables"]
                 for m in mutations]
    inputs = {v["input"]["kind"]: v["input"] for v in variables}
    if inputs.get("link", {}).get("data") != {"link": DASHBOARD}:
        fail("link artifact sent %r" % (inputs.get("link"),))
    if inputs.get("markdown", {}).get("data") != {"markdown": report_markdown(TOTALS)}:
        fail("markdown artifact sent %r" % (inputs.get("markdown"),))
    run_ids = {i.get("task_run_id") for i in inputs.values()}
    if len(run_ids) != 1 or not all(run_ids):
        fail("both artifacts should be attached to publish_report's task run: %r" % (inputs,))
    print("with a backend each call sends: %s" % mutations[0]["query"].split("{")[0].strip())
    for kind in ("link", "markdown"):
        print("  kind=%s data=%s" % (kind, json.dumps(inputs[kind]["data"])[:70]))
    print("snippet_artifacts_classic: ok")


if __name__ == "__main__":
    main()
