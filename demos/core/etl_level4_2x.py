"""Evolving ETL, level 4 in Prefect 2.x: failure hooks and a Deployment class.

The same story as etl_level4_modern.py (tell someone when the pipeline
breaks; run it on a schedule), told with the deployment API that 2.x had
from its first releases and that 3.0 removed:

- **State-change hooks**, as in the modern telling: ``@task(on_failure=[...])``
  and ``@flow(on_failure=[...])`` call plain functions with the run and its
  final state (2.8.3+); here they post JSON to a webhook.
- **``Deployment.build_from_flow(flow, name, schedule=..., parameters=...)``**
  builds a deployment object from a flow; ``.apply()`` registers it with the
  API. It also takes where the flow's code lives (``path`` +
  ``entrypoint``, or a ``storage`` block to upload it to) and which
  infrastructure or work queue runs it. Schedules are schedule objects:
  ``IntervalSchedule(interval=timedelta(hours=1))``, ``CronSchedule``,
  ``RRuleSchedule``. From 2.16 a deployment can have several
  (``schedules=[MinimalDeploymentSchedule(schedule=..., active=True), ...]``),
  all sharing the deployment's parameters; before that, one
  (``schedule=..., is_schedule_active=True``). The class was deprecated in
  2.16.4 in favour of ``flow.to_deployment``/``flow.deploy`` and removed in
  3.0.
- The schedule classes moved with the rest of the schemas:
  ``prefect.orion.schemas.schedules`` (to early 2.8.x),
  ``prefect.server.schemas.schedules`` (to early 2.10.x),
  ``prefect.client.schemas.schedules`` (later 2.x and 3.x).

The deployment is read back through the client and checked; the demo does
not wait for the scheduled runs.

Needs: DEMO_WEBHOOK_URL (POST stores a message, GET lists what arrived) and
a Prefect API server in PREFECT_API_URL (the deployment is stored there).
"""
import asyncio
import datetime
import os
import tempfile
import uuid
import warnings
from pathlib import Path

import httpx
from prefect import flow, get_client, task
from prefect.deployments import Deployment

try:  # later 2.10.x and 3.x
    from prefect.client.schemas.schedules import IntervalSchedule
except ImportError:
    try:  # later 2.8.x to early 2.10.x
        from prefect.server.schemas.schedules import IntervalSchedule
    except ImportError:  # 2.0 to early 2.8.x
        from prefect.orion.schemas.schedules import IntervalSchedule

HERE = Path(__file__).resolve().parent
WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
TOKEN = uuid.uuid4().hex[:8]

REGIONS = {"eu": [("E-1", 7.5), ("E-2", 19.99)], "us": [("U-1", 9.0), ("U-2", 0.5)]}
HOURLY = datetime.timedelta(hours=1)
EVERY_4H = datetime.timedelta(hours=4)
PARAMETERS = {"region": "eu", "min_total": 5.0}


def post(payload):
    payload["token"] = TOKEN
    httpx.post(WEBHOOK_URL, json=payload, timeout=10).raise_for_status()


def task_failed(task, task_run, state):
    post({"kind": "task-failed", "run": task_run.name,
          "flow_run_id": str(task_run.flow_run_id), "message": state.message})


def flow_failed(flow, flow_run, state):
    post({"kind": "flow-failed", "run": flow_run.name,
          "flow_run_id": str(flow_run.id), "message": state.message})


@task(on_failure=[task_failed])
def extract(region):
    if region not in REGIONS:
        raise KeyError("no orders API for region %r" % region)
    return REGIONS[region]


@task
def load(rows, min_total):
    return {order_id: total for order_id, total in rows if total >= min_total}


@flow(name="etl-level4-2x", on_failure=[flow_failed])
def etl(region: str = "eu", min_total: float = 0.0):
    return load(extract(region), min_total)


def build_deployment(name):
    """A Deployment with as many schedules as this 2.x allows."""
    many = "schedules" in Deployment.__fields__  # 2.16+
    if many:
        from prefect.client.schemas.objects import MinimalDeploymentSchedule

        schedules = {"schedules": [
            MinimalDeploymentSchedule(schedule=IntervalSchedule(interval=every), active=True)
            for every in (HOURLY, EVERY_4H)
        ]}
    else:
        schedules = {"schedule": IntervalSchedule(interval=HOURLY), "is_schedule_active": True}
    with warnings.catch_warnings():
        # 2.16.4+ warns that Deployment is deprecated (it is gone in 3.0).
        warnings.simplefilter("ignore", DeprecationWarning)
        deployment = Deployment.build_from_flow(
            flow=etl,
            name=name,
            parameters=PARAMETERS,
            # The code stays where it is: no storage block, no upload.
            path=str(HERE),
            entrypoint="etl_level4_2x.py:etl",
            # build_from_flow creates this file if it is missing: keep it out of the repo.
            ignore_file=os.path.join(tempfile.mkdtemp(prefix="prefect-demo-"), ".prefectignore"),
            **schedules
        )
        deployment_id = deployment.apply()
    return deployment_id, ("multiple-schedules" if many else "one-schedule")


async def read_back(deployment_id):
    async with get_client() as client:
        return await client.read_deployment(deployment_id)


def intervals_of(deployment):
    if getattr(deployment, "schedules", None):  # 2.16+
        return sorted(s.schedule.interval for s in deployment.schedules)
    return [deployment.schedule.interval] if deployment.schedule else []


def fail(message):
    raise SystemExit("etl_level4_2x: " + message)


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
    if sorted(m["kind"] for m in messages) != ["flow-failed", "task-failed"]:
        fail("webhook got %r, expected one task-failed and one flow-failed" % messages)
    for m in messages:
        if m["flow_run_id"] != bad_run_id or "mars" not in (m.get("message") or ""):
            fail("the %s message is wrong: %r (flow run %s)" % (m["kind"], m, bad_run_id))
    print("webhook received: %s" % ", ".join("%s (%s)" % (m["kind"], m["run"]) for m in messages))

    # 2. A deployment with its schedule(s), read back from the server.
    name = "nightly-" + TOKEN
    deployment_id, form = build_deployment(name)
    stored = asyncio.run(read_back(deployment_id))
    want = [HOURLY, EVERY_4H] if form == "multiple-schedules" else [HOURLY]
    if stored.name != name or intervals_of(stored) != want:
        fail("%s: deployment %r has intervals %r, expected %r"
             % (form, stored.name, intervals_of(stored), want))
    if stored.parameters != PARAMETERS:
        fail("deployment parameters %r, expected %r" % (stored.parameters, PARAMETERS))
    if stored.entrypoint != "etl_level4_2x.py:etl":
        fail("deployment entrypoint %r" % stored.entrypoint)
    print("deployment %s (%s): parameters %r, every %s" % (
        name, form, stored.parameters, " and every ".join(str(i) for i in want)))
    print("etl_level4_2x: ok")


if __name__ == "__main__":
    main()
