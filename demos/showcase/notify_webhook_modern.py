"""Notify a webhook when a flow run completes or fails (Prefect 2.8+/3.x).

A team wants a chat message when the nightly report finishes, and a louder
one when it breaks. Prefect 2.8 added *state hooks* for exactly this: you
give ``@flow`` lists of functions to call when the run reaches a final state,

    @flow(on_completion=[...], on_failure=[...])

and each hook is called as ``hook(flow=..., flow_run=..., state=...)`` in the
flow's own process, after the final state is recorded. A hook that raises
is logged; it does not change the run's state.

The message is sent with a *notification block*:
``CustomWebhookNotificationBlock`` posts any JSON to any URL, with
``{{subject}}``, ``{{body}}`` and ``{{name}}`` filled in by ``notify()``. Blocks
are usually saved once (``block.save("team-chat")``, or in the UI) and loaded
by name in flows (``CustomWebhookNotificationBlock.load("team-chat")``); here
the block is built in code so that the demo has no set-up step. Its JSON has
the shape of a Slack incoming webhook (``{"text": ...}``).

This script runs the flow twice, once cleanly and once with a forced error,
then asks the webhook receiver what it got (GET on the same URL) and checks
that both messages arrived, as JSON, naming the right run, state and error.

What changed between eras:
- 1.x: state handlers (``Flow(state_handlers=[...])``) saw every state change
  and had to pick out the ones they cared about.
- 2.8: ``on_completion``/``on_failure`` hooks (2.x later added
  ``on_crashed``/``on_cancellation``).
- ``CustomWebhookNotificationBlock`` arrived during 2.10; before that the
  notification blocks were service-specific (Slack, Teams, PagerDuty, ...)
  and sent through Apprise, so this demo falls back to posting the same JSON
  with httpx (which Prefect depends on).

Needs: DEMO_WEBHOOK_URL (POST stores a message; GET lists what arrived). It
runs against PREFECT_API_URL if set, or Prefect's temporary local API.
"""
import json
import os
import uuid

import httpx
from prefect import flow, task

try:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
except ImportError:  # before 2.10.x
    CustomWebhookNotificationBlock = None

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
REPORT_ID = uuid.uuid4().hex[:8]  # tells this run's messages apart
ERROR_TEXT = "warehouse connection refused"


def fail(message):
    raise SystemExit("notify_webhook_modern: " + message)


def send(subject, body):
    """Post one chat-style message to the webhook."""
    if CustomWebhookNotificationBlock is not None:
        block = CustomWebhookNotificationBlock(
            name="report-bot",
            url=WEBHOOK_URL,
            json_data={"text": "{{subject}}\n{{body}}", "username": "{{name}}"},
        )
        block.notify(body, subject=subject)
    else:
        payload = {"text": subject + "\n" + body, "username": "report-bot"}
        httpx.post(WEBHOOK_URL, json=payload, timeout=10).raise_for_status()


# State hooks: called with the flow, the flow run and its final state.
def announce(flow, flow_run, state):
    send(
        "%s: run %s %s" % (flow.name, flow_run.name, state.name),
        "report %s, flow run id %s%s"
        % (
            flow_run.parameters.get("report_id"),
            flow_run.id,
            ", " + state.message.strip() if state.message else "",
        ),
    )


@task
def build_report(rows):
    return {"rows": rows, "total": sum(rows)}


@task
def publish(report, break_it):
    if break_it:
        raise ConnectionError(ERROR_TEXT)
    return report["total"]


@flow(name="nightly-report", on_completion=[announce], on_failure=[announce])
def nightly_report(report_id, break_it=False):
    report = build_report([3, 4, 5])
    return publish(report, break_it)


def received():
    response = httpx.get(WEBHOOK_URL, timeout=10)
    response.raise_for_status()
    return response.json()


def main():
    if not WEBHOOK_URL:
        fail("DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")

    ok_state = nightly_report(REPORT_ID, return_state=True)
    print("a run that is meant to fail comes next (a traceback is expected)")
    bad_state = nightly_report(REPORT_ID, break_it=True, return_state=True)
    if not ok_state.is_completed():
        fail("the clean run ended %s" % ok_state.name)
    if not bad_state.is_failed():
        fail("the broken run ended %s" % bad_state.name)

    messages = []
    for item in received():
        if "json" not in item.get("content_type", ""):
            fail("a notification arrived as %r, not JSON" % item.get("content_type"))
        payload = json.loads(item["body"])
        if REPORT_ID not in payload.get("text", ""):
            continue
        headers = {k.lower(): v for k, v in item.get("headers", {}).items()}
        agent = headers.get("user-agent", "")
        if CustomWebhookNotificationBlock is not None and agent != "Prefect Notifications":
            fail("the notification came from %r, not from the Prefect block" % agent)
        messages.append(payload)
    if len(messages) != 2:
        fail("expected 2 notifications for report %s, got %r" % (REPORT_ID, messages))

    for state, word in ((ok_state, "Completed"), (bad_state, "Failed")):
        run_id = str(state.state_details.flow_run_id)
        mine = [m for m in messages if run_id in m["text"]]
        if len(mine) != 1:
            fail("expected 1 notification for run %s, got %r" % (run_id, messages))
        text = mine[0]["text"]
        if word not in text.split("\n")[0]:
            fail("notification for the %s run says %r" % (word.lower(), text))
        if word == "Failed" and ERROR_TEXT not in text:
            fail("the failure notification does not carry the error: %r" % text)
        if mine[0].get("username") != "report-bot":
            fail("notification sent as %r" % mine[0].get("username"))
        print("received: %s" % text.replace("\n", " | "))

    print("notify_webhook_modern: ok, 2 notifications received")


if __name__ == "__main__":
    main()
