"""Automations: the server reacts to a failed flow run by calling a webhook (3.x).

An *automation* is a rule that lives on the Prefect server: a **trigger**
(which events, how many, within what time) and **actions** (what to do when
it fires). Flow-run state changes are events on the server
(``prefect.flow-run.Failed``, ``prefect.flow-run.Completed``, ...), so "tell
me when this flow fails" is an automation with an event trigger and, here, a
``CallWebhook`` action that posts a templated payload through a saved
``Webhook`` block.

What this shows:
- saving a ``Webhook`` block (the URL to call) and an ``AutomationCore`` with
  an ``EventTrigger`` (expect ``prefect.flow-run.Failed``, matched to this
  demo's flow by its related resource) and a ``CallWebhook`` action whose
  payload is a Jinja template (``{{ flow_run.id }}``, ``{{ flow.name }}``);
- creating it with ``client.create_automation`` and reading it back;
- failing a flow on purpose, then waiting until the *server* (not this
  script) has posted to DEMO_WEBHOOK_URL a payload naming that flow run;
- a run that completes does not fire it; the automation is deleted at the end.

What changed between eras: 1.x had *automations* only in Prefect Cloud (and
flow-level state handlers in code); 2.x open-source servers had state hooks
and notification policies, with automations a Cloud feature; the open-source
server gained events and automations in 3.0.

Needs: PREFECT_API_URL (a server that evaluates automations) and
DEMO_WEBHOOK_URL (POST stores a message; GET lists what arrived).
"""
import json
import os
import time
import uuid

import httpx
from prefect import flow, get_client
from prefect.blocks.webhook import Webhook
from prefect.events.actions import CallWebhook
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.utilities.asyncutils import sync_compatible

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
MARK = uuid.uuid4().hex[:8]
FLOW_NAME = "fragile-load-" + MARK  # unique, so the trigger matches only this demo
WAIT_SECONDS = 90


def fail(message):
    raise SystemExit("automation_modern: " + message)


@flow(name=FLOW_NAME)
def fragile_load(break_it):
    if break_it:
        raise RuntimeError("the warehouse went away")
    return "loaded"


def automation_definition(block_id):
    return AutomationCore(
        name="page-on-failure-" + MARK,
        description="Post to the team webhook when %s fails" % FLOW_NAME,
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "flow",
                "prefect.resource.name": FLOW_NAME,
            },
            posture=Posture.Reactive,  # fire when the event happens
            threshold=1,
        ),
        actions=[
            CallWebhook(
                block_document_id=block_id,
                payload=json.dumps(
                    {
                        "mark": MARK,
                        "flow": "{{ flow.name }}",
                        "flow_run_id": "{{ flow_run.id }}",
                        "state": "{{ flow_run.state.name }}",
                    }
                ),
            )
        ],
    )


@sync_compatible
async def create_and_read(automation):
    async with get_client() as client:
        automation_id = await client.create_automation(automation)
        stored = await client.read_automation(automation_id)
    return automation_id, stored


@sync_compatible
async def delete(automation_id):
    async with get_client() as client:
        await client.delete_automation(automation_id)


def posts_for_this_demo():
    response = httpx.get(WEBHOOK_URL, timeout=10)
    response.raise_for_status()
    found = []
    for item in response.json():
        try:
            body = json.loads(item["body"])
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("mark") == MARK:
            found.append(body)
    return found


def main():
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: automations run on a server")
    if not WEBHOOK_URL:
        fail("DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")

    # 1. The webhook block: where the server should post.
    fields = {"method": "POST", "url": WEBHOOK_URL}
    if "allow_private_urls" in getattr(Webhook, "model_fields", {}):
        fields["allow_private_urls"] = True  # the receiver is on loopback
    block_id = Webhook(**fields).save("team-hook-" + MARK)

    # 2. The automation, created and read back.
    automation_id, stored = create_and_read(automation_definition(block_id))
    if stored is None or stored.name != "page-on-failure-" + MARK or not stored.enabled:
        fail("automation read back as %r" % (stored,))
    if stored.trigger.expect != {"prefect.flow-run.Failed"}:
        fail("trigger read back as %r" % (stored.trigger,))
    if [a.type for a in stored.actions] != ["call-webhook"]:
        fail("actions read back as %r" % (stored.actions,))
    print("automation %s created: on %s failure -> call-webhook" % (automation_id, FLOW_NAME))

    try:
        # 3. One clean run (must not fire), one failing run (must fire).
        ok = fragile_load(False, return_state=True)
        print("a run that is meant to fail comes next (a traceback is expected)")
        bad = fragile_load(True, return_state=True)
        if not ok.is_completed() or not bad.is_failed():
            fail("runs ended %s and %s" % (ok.name, bad.name))
        bad_id = str(bad.state_details.flow_run_id)

        # 4. The server evaluates the trigger and posts; wait for it.
        deadline = time.time() + WAIT_SECONDS
        posts = []
        while time.time() < deadline:
            posts = posts_for_this_demo()
            if posts:
                break
            time.sleep(2)
        if not posts:
            fail(
                "no webhook call from the automation within %ss; the server's log"
                " says why ('Action failed: ...')" % WAIT_SECONDS
            )
        time.sleep(3)  # let a wrongly-fired second call arrive, if any
        posts = posts_for_this_demo()
        if len(posts) != 1:
            fail("expected 1 webhook call, got %r" % posts)
        post = posts[0]
        if post["flow_run_id"] != bad_id or post["flow"] != FLOW_NAME or post["state"] != "Failed":
            fail("webhook payload %r does not describe failed run %s" % (post, bad_id))
        print("the server called the webhook: %r" % post)
    finally:
        delete(automation_id)
    print("automation_modern: ok, a failed run fired the automation once")


if __name__ == "__main__":
    main()
