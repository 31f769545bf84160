"""Evolving ETL, level 4: failure hooks and scheduled deployments (2.x/3.x).

Level 3 (etl_level3_modern.py) made the pipeline robust. Level 4 makes it
operable: it tells someone when it breaks, and it runs on a schedule.

- **State-change hooks.** ``@flow(on_failure=[...])`` and
  ``@task(on_failure=[...])`` take plain functions that Prefect calls when
  the run ends Failed, as ``hook(flow, flow_run, state)`` /
  ``hook(task, task_run, state)``, in the run's own process. Here they post
  a JSON message to a webhook (a chat channel or paging service in real
  life). There are also ``on_completion`` (and, for flows, ``on_crashed``,
  ``on_cancellation``). Classic 1.x used ``state_handlers``, which saw every
  state change and had to pick out the failures themselves.
- **A deployment with schedules.** ``flow.to_deployment(name=..., ...)``
  describes how the server should run the flow, and ``.apply()`` registers
  it. Its schedules tell the server's scheduler to create runs, with the
  deployment's parameters. What one deployment can hold grew over time:
  * 2.16.1+: several schedules (``interval=[...]`` or ``schedules=[...]``),
    all sharing the deployment's parameters;
  * 3.2+: each schedule can carry its own parameter values
    (``prefect.schedules.Interval(..., parameters={...})``), so one
    deployment runs "eu hourly, us every 4 hours";
  * before 2.16.1: one schedule per deployment, so one parameter set.
  The demo uses the richest form the installed Prefect offers and says
  which. It reads the deployment back through the client to check it, and
  does not wait for the scheduled runs (nothing polls for them here).
  Classic 1.x attached a ``Schedule`` (with ``clocks``, each able to carry
  ``parameter_defaults``) to the Flow itself and registered it.

``flow.to_deployment`` arrived in 2.12 (2.x before it used
``Deployment.build_from_flow``); task and flow hooks arrived in 2.8.3.

Needs: DEMO_WEBHOOK_URL (POST stores a message, GET lists what arrived) and
a Prefect API server in PREFECT_API_URL (the deployment is stored there).
"""
import asyncio
import datetime
import inspect
import os
import uuid

import httpx
from prefect import flow, get_client, task

try:  # 3.2+: schedule objects that carry their own parameters
    from prefect.schedules import Interval
except ImportError:
    Interval = None

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
TOKEN = uuid.uuid4().hex[:8]  # tells this run's messages and deployment apart

REGIONS = {"eu": [("E-1", 7.5), ("E-2", 19.99)], "us": [("U-1", 9.0), ("U-2", 0.5)]}
HOURLY = datetime.timedelta(hours=1)
EVERY_4H = datetime.timedelta(hours=4)


def post(payload):
    payload["token"] = TOKEN
    httpx.post(WEBHOOK_URL, json=payload, timeout=10).raise_for_status()


# --- hooks: plain functions, called with the run and its final state -------


def task_failed(task, task_run, state):
    post({"kind": "task-failed", "task": task.name, "run": task_run.name,
          "flow_run_id": str(task_run.flow_run_id), "message": state.message})


def flow_failed(flow, flow_run, state):
    post({"kind": "flow-failed", "flow": flow.name, "run": flow_run.name,
          "flow_run_id": str(flow_run.id), "region": flow_run.parameters.get("region"),
          "message": state.message})


@task(on_failure=[task_failed])
def extract(region):
    if region not in REGIONS:
        raise KeyError("no orders API for region %r" % region)
    return REGIONS[region]


@task
def load(rows, min_total):
    return {order_id: total for order_id, total in rows if total >= min_total}


@flow(name="etl-level4-modern", on_failure=[flow_failed])
def etl(region: str = "eu", min_total: float = 0.0):
    return load(extract(region), min_total)


# --- the deployment ---------------------------------------------------------


def build_deployment(name):
    """The richest schedule set this Prefect supports; returns (deployment, form)."""
    if Interval is not None and "parameters" in inspect.signature(Interval).parameters:
        form = "per-schedule-parameters"
        deployment = etl.to_deployment(
            name=name,
            schedules=[
                Interval(HOURLY, parameters={"region": "eu"}),
                Interval(EVERY_4H, parameters={"region": "us", "min_total": 1.0}),
            ],
            parameters={"min_total": 5.0},
        )
    elif "schedules" in inspect.signature(etl.to_deployment).parameters:
        form = "multiple-schedules"
        deployment = etl.to_deployment(
            name=name, interval=[HOURLY, EVERY_4H], parameters={"region": "eu", "min_total": 5.0}
        )
    else:
        form = "one-schedule"
        deployment = etl.to_deployment(
            name=name, interval=HOURLY, parameters={"region": "eu", "min_total": 5.0}
        )
    return deployment, form


async def read_back(deployment_id):
    async with get_client() as client:
        return await client.read_deployment(deployment_id)


def schedules_of(deployment):
    """[(interval, schedule parameters)] from a deployment read back."""
    if getattr(deployment, "schedules", None):  # 2.16+
        return [
            (s.schedule.interval, dict(getattr(s, "parameters", None) or {}))
            for s in deployment.schedules
        ]
    return [(deployment.schedule.interval, {})] if deployment.schedule else []


def fail(message):
    raise SystemExit("etl_level4_modern: " + message)


def main():
    if not WEBHOOK_URL:
        fail("DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: the deployment needs a real Prefect server")

    # 1. Hooks: a clean run stays quiet, a broken one sends two messages.
    if etl("eu", 5.0) != {"E-1": 7.5, "E-2": 19.99}:
        fail("the clean run loaded the wrong rows")
    print("a run that is meant to fail comes next (a traceback is expected)")
    bad = etl("mars", return_state=True)
    if not bad.is_failed():
        fail("the run for region 'mars' ended %s, not Failed" % bad.name)
    bad_run_id = str(bad.state_details.flow_run_id)

    response = httpx.get(WEBHOOK_URL, timeout=10)
    response.raise_for_status()
    messages = []
    for item in response.json():
        try:
            body = httpx.Response(200, content=item["body"]).json()
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("token") == TOKEN:
            messages.append(body)
    kinds = sorted(m["kind"] for m in messages)
    if kinds != ["flow-failed", "task-failed"]:
        fail("webhook got %r, expected one task-failed and one flow-failed" % messages)
    for m in messages:
        if m["flow_run_id"] != bad_run_id:
            fail("a %s message names flow run %s, not %s" % (m["kind"], m["flow_run_id"], bad_run_id))
        if "mars" not in (m.get("message") or ""):
            fail("the %s message does not carry the error: %r" % (m["kind"], m))
    print("webhook received: %s" % ", ".join("%s (%s)" % (m["kind"], m["run"]) for m in messages))

    # 2. A deployment with schedules, read back from the server.
    name = "nightly-" + TOKEN
    deployment, form = build_deployment(name)
    deployment_id = deployment.apply()
    stored = asyncio.run(read_back(deployment_id))
    if stored.name != name:
        fail("deployment read back as %r" % stored.name)
    got = schedules_of(stored)
    want = {
        "per-schedule-parameters": [(HOURLY, {"region": "eu"}),
                                    (EVERY_4H, {"region": "us", "min_total": 1.0})],
        "multiple-schedules": [(HOURLY, {}), (EVERY_4H, {})],
        "one-schedule": [(HOURLY, {})],
    }[form]
    if sorted(got, key=lambda s: s[0]) != want:
        fail("%s: schedules read back as %r, expected %r" % (form, got, want))
    want_params = {"min_total": 5.0} if form == "per-schedule-parameters" else {"region": "eu", "min_total": 5.0}
    if stored.parameters != want_params:
        fail("deployment parameters %r, expected %r" % (stored.parameters, want_params))
    print("deployment %s (%s): parameters %r, schedules %s" % (
        name, form, stored.parameters,
        ", ".join("every %s %r" % (interval, params) for interval, params in got)))
    print("etl_level4_modern: ok")


if __name__ == "__main__":
    main()
