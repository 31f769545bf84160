"""Evolving ETL, level 4: notifications and schedules (Prefect "Core" API).

Level 3 recovered from failures it expected. Level 4 tells someone about the
ones it could not recover from, and says when the pipeline should run.

What changed from level 3:
- State handlers: ``Flow(state_handlers=[fn])`` / ``@task(state_handlers=[fn])``
  call ``fn(obj, old_state, new_state)`` on *every* state change (Pending ->
  Running -> Success/Failed ...); the handler picks out the changes it cares
  about and must return the new state. Here ``alert_on_failure`` POSTs JSON
  to a webhook when the flow run ends Failed.
- Prefect shipped ready-made handlers: ``slack_notifier`` (in
  ``prefect.utilities.notifications``) posts a Slack-formatted message to the
  URL stored in the ``SLACK_WEBHOOK_URL`` *Secret*; ``only_states=[Failed]``
  limits it to failures (it is curried: calling it with options returns the
  handler). Locally that Secret comes from the environment
  variable ``PREFECT__CONTEXT__SECRETS__SLACK_WEBHOOK_URL``, pointed here at
  the demo's webhook receiver instead of Slack.
- Schedules: ``Schedule(clocks=[...])`` combines clocks; each
  ``IntervalClock`` can carry ``parameter_defaults``, so an hourly clock can
  refresh one store and a daily clock all of them, with one flow.
  ``schedule.next(n, return_events=True)`` lists upcoming ClockEvents with
  their parameters. With a backend, its scheduler creates the runs; locally
  ``flow.run()`` would sleep until each event, so the demo passes
  ``run_on_schedule=False`` and checks the events instead of waiting.

Needs DEMO_WEBHOOK_URL (a receiver: POST stores, GET on the same URL lists
what arrived); the demo checks both notifications arrived, and only for the
failing run.

Run it with:  DEMO_WEBHOOK_URL=http://... python demos/core/etl_level4_classic.py
"""
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
if not WEBHOOK_URL:
    sys.exit("etl_level4_classic: DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
# A local Secret: must be in the environment before Prefect reads its config.
os.environ["PREFECT__CONTEXT__SECRETS__SLACK_WEBHOOK_URL"] = WEBHOOK_URL

import requests  # noqa: E402  (a Prefect 0.x/1.x dependency)
from prefect import Flow, Parameter, task  # noqa: E402
from prefect.engine.state import Failed  # noqa: E402
from prefect.schedules import Schedule  # noqa: E402
from prefect.schedules.clocks import IntervalClock  # noqa: E402
from prefect.utilities.notifications import slack_notifier  # noqa: E402

RUN_TOKEN = uuid.uuid4().hex[:8]  # tells this script's messages apart
ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}


def alert_on_failure(flow, old_state, new_state):
    # Called for every state change of the flow run: act only on failure.
    if new_state.is_failed():
        payload = {
            "text": "flow %s is %s: %s" % (flow.name, type(new_state).__name__, new_state.message),
            "token": RUN_TOKEN,
        }
        requests.post(WEBHOOK_URL, json=payload, timeout=10).raise_for_status()
    return new_state


@task
def extract(stores):
    return {store: ORDERS[store] for store in stores}


@task
def transform(orders):
    return {store: round(sum(amounts), 2) for store, amounts in orders.items()}


# backend_info=False (0.13.2+): no link to the run in a backend UI (there is
# none here, and looking the link up would call the Cloud API: a minute's
# timeout per notification on a machine without internet).
@task(state_handlers=[slack_notifier(only_states=[Failed], backend_info=False)])
def publish(totals, destination):
    if destination != "warehouse":
        raise ValueError("unknown destination %r (run %s)" % (destination, RUN_TOKEN))
    return sorted(totals)


# Two clocks, one schedule: hourly for the busiest store, daily for all.
START = datetime(2021, 6, 1, tzinfo=timezone.utc)
schedule = Schedule(
    clocks=[
        IntervalClock(timedelta(hours=1), start_date=START, parameter_defaults={"stores": ["north"]}),
        IntervalClock(
            timedelta(days=1),
            start_date=START + timedelta(minutes=30),
            parameter_defaults={"stores": ["north", "south", "east"]},
        ),
    ]
)

with Flow("etl-level4-classic", schedule=schedule, state_handlers=[alert_on_failure]) as flow:
    stores = Parameter("stores", default=["north"])
    destination = Parameter("destination", default="warehouse")
    published = publish(transform(extract(stores)), destination)


def fail(message):
    raise SystemExit("etl_level4_classic: " + message)


def received():
    response = requests.get(WEBHOOK_URL, timeout=10)
    response.raise_for_status()
    return response.json()


def check_schedule():
    after = datetime(2021, 6, 1, 22, 10, tzinfo=timezone.utc)
    events = flow.schedule.next(5, after=after, return_events=True)
    got = [(e.start_time.strftime("%d %H:%M"), e.parameter_defaults.get("stores")) for e in events]
    hourly, daily = ["north"], ["north", "south", "east"]
    expected = [
        ("01 23:00", hourly),
        ("02 00:00", hourly),
        ("02 00:30", daily),
        ("02 01:00", hourly),
        ("02 02:00", hourly),
    ]
    if got != expected:
        fail("next 5 events %r, expected %r" % (got, expected))
    for when, stores_default in got:
        print("scheduled: June %s UTC with stores=%s" % (when, stores_default))


def main():
    check_schedule()

    # Run now, not on the schedule. A good run must not notify anyone.
    good = flow.run(parameters={"stores": ["north", "south"]}, run_on_schedule=False)
    if not good.is_successful() or good.result[published].result != ["north", "south"]:
        fail("the good run ended %r" % (good,))
    print("a run that is meant to fail comes next (a traceback is expected)")
    bad = flow.run(parameters={"destination": "lake"}, run_on_schedule=False)
    if not bad.is_failed():
        fail("the bad run ended %r, expected Failed" % (bad,))

    mine = [item for item in received() if RUN_TOKEN in item["body"]]
    bodies = [json.loads(item["body"]) for item in mine]
    ours = [b for b in bodies if b.get("token") == RUN_TOKEN]
    slack = [b for b in bodies if "attachments" in b]
    if len(ours) != 1 or not ours[0]["text"].startswith("flow etl-level4-classic is Failed"):
        fail("expected 1 message from alert_on_failure, got %r" % (ours,))
    if len(slack) != 1:
        fail("expected 1 message from slack_notifier, got %r" % (slack,))
    attachment = slack[0]["attachments"][0]
    if attachment.get("title") != "Failed" or "publish" not in attachment.get("text", ""):
        fail("slack_notifier sent %r" % (attachment,))
    if len(mine) != 2:
        fail("expected 2 notifications for run %s, got %d" % (RUN_TOKEN, len(mine)))
    print("received: %s" % ours[0]["text"])
    print("received (slack format): %s" % attachment["text"])
    print("etl_level4_classic: ok, 2 failure notifications, none for the good run")


if __name__ == "__main__":
    main()
