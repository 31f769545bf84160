"""Showcase: a rain-alert forecast flow (Prefect 2.12+/3.x).

The modern telling of forecast_classic.py: fetch weather history, forecast
the next day, branch on "will it rain?", alert a chat webhook when it will,
publish a report, with retries, tags and a schedule. The data is a shipped
sample (data/weather_modern.csv, made-up values), not a weather API.

Modern features on show:
- Parameters are just the flow function's arguments (``city``,
  ``rain_threshold_mm``), validated against their type hints.
- ``@task(retries=2, retry_delay_seconds=0)`` on the fetch, which fails its
  first attempt like a flaky API; the engine retries it.
- Tags: ``@task(tags=["weather-api"])`` and ``with tags("forecast"):``
  around the call; on a server, tags drive task concurrency limits.
- The branch is plain Python ``if``: no ``case``/``merge`` constructs; a task
  that is not called simply does not run.
- The alert is a Slack-style JSON post to DEMO_WEBHOOK_URL.
- A markdown report and a link as *artifacts* (``create_markdown_artifact``,
  ``create_link_artifact``, 2.9+), stored on the server and read back here.
- The schedule lives on a *deployment*: ``flow.to_deployment(name,
  cron="0 6 * * *", parameters={"city": ...})`` and ``.apply()`` register it
  without serving it (``flow.serve(...)`` would also run it at 06:00). The
  demo reads the schedule back from the API instead of waiting for it.

Classic (1.x) version: ``Parameter``s, ``max_retries``/``retry_delay``,
``case``/``merge``, a ``Schedule`` of ``CronClock``s attached to the flow,
and artifacts that were no-ops without a backend.

Runs Lisbon (dry: no alert) and Bergen (rainy: one alert) and checks the
forecast numbers, the branch taken, the retry, the artifacts, the webhook.
Needs PREFECT_API_URL (artifacts, schedule) and DEMO_WEBHOOK_URL.
"""
import csv
import os
import uuid
from pathlib import Path

import httpx
from prefect import flow, get_client, tags, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.utilities.asyncutils import sync_compatible

DATA = Path(__file__).resolve().parent / "data" / "weather_modern.csv"
WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
RUN_MARK = uuid.uuid4().hex[:8]  # tells this demo's messages and artifacts apart
ATTEMPTS = {}  # city -> fetch attempts, to show the retry


def fail(message):
    raise SystemExit("forecast_modern: " + message)


@task(retries=2, retry_delay_seconds=0, tags=["weather-api"])
def fetch_history(city: str):
    ATTEMPTS[city] = ATTEMPTS.get(city, 0) + 1
    if ATTEMPTS[city] == 1:
        raise ConnectionError("weather API timed out (first attempt always does)")
    with open(DATA, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["city"] == city]
    if not rows:
        raise ValueError("no data for %s" % city)
    return sorted(rows, key=lambda r: r["date"])


@task
def forecast(rows, days=3):
    """Tomorrow = the mean of the last `days` days (a deliberately naive model)."""
    recent = rows[-days:]
    return {
        "temp_max_c": round(sum(float(r["temp_max_c"]) for r in recent) / days, 1),
        "precip_mm": round(sum(float(r["precip_mm"]) for r in recent) / days, 2),
        "based_on": [r["date"] for r in recent],
    }


@task
def send_rain_alert(city, outlook):
    text = "[%s] Rain expected in %s tomorrow: %.2f mm (max %.1f C)" % (
        RUN_MARK, city, outlook["precip_mm"], outlook["temp_max_c"])
    httpx.post(WEBHOOK_URL, json={"text": text, "username": "forecast-bot"}, timeout=10).raise_for_status()
    return text


@task
def publish_report(city, outlook, alert):
    key = "forecast-%s-%s" % (city.lower(), RUN_MARK)
    markdown = "\n".join([
        "# Forecast for %s" % city,
        "| metric | tomorrow |",
        "|---|---|",
        "| max temperature (C) | %.1f |" % outlook["temp_max_c"],
        "| precipitation (mm) | %.2f |" % outlook["precip_mm"],
        "",
        "Alert sent: %s" % ("yes" if alert else "no"),
    ])
    create_markdown_artifact(key=key, markdown=markdown, description="daily forecast")
    create_link_artifact(key=key + "-source", link="https://example.com/weather/" + city.lower(),
                         link_text="raw data for " + city)
    return key


@flow(name="rain-forecast")
def rain_forecast(city: str = "Lisbon", rain_threshold_mm: float = 2.0):
    with tags("forecast", city.lower()):
        rows = fetch_history(city)
        outlook = forecast(rows)
        alert = None
        if outlook["precip_mm"] >= rain_threshold_mm:  # the branch: plain Python
            alert = send_rain_alert(city, outlook)
        key = publish_report(city, outlook, alert)
    return {"city": city, "outlook": outlook, "alert": alert, "artifact": key}


@sync_compatible
async def read_back(artifact_keys, deployment_name):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=artifact_keys))
        )
        deployment = await client.read_deployment_by_name(deployment_name)
    return artifacts, deployment


def schedule_crons(deployment):
    """The cron strings of a deployment (3.x/late 2.x: ``schedules`` list)."""
    schedules = getattr(deployment, "schedules", None)
    if schedules:
        return [s.schedule.cron for s in schedules]
    return [deployment.schedule.cron] if getattr(deployment, "schedule", None) else []


def main():
    if not WEBHOOK_URL:
        fail("DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: artifacts and schedules live on a server")

    results = {city: rain_forecast(city) for city in ("Lisbon", "Bergen")}

    # The numbers: mean of the last three days in the CSV.
    want = {"Lisbon": (26.5, 0.07), "Bergen": (12.3, 4.43)}
    for city, (temp, rain) in want.items():
        outlook = results[city]["outlook"]
        if (outlook["temp_max_c"], outlook["precip_mm"]) != (temp, rain):
            fail("%s forecast is %r, expected max %s C, %s mm" % (city, outlook, temp, rain))
        if ATTEMPTS.get(city) != 2:
            fail("%s fetch ran %s times, expected 2 (one retry)" % (city, ATTEMPTS.get(city)))
    if results["Lisbon"]["alert"] is not None or results["Bergen"]["alert"] is None:
        fail("wrong branch: alerts were %r" % {c: r["alert"] for c, r in results.items()})

    # The webhook got exactly the Bergen alert.
    got = [m for m in httpx.get(WEBHOOK_URL, timeout=10).json() if RUN_MARK in m["body"]]
    if len(got) != 1 or "Bergen" not in got[0]["body"]:
        fail("webhook received %r, expected one Bergen alert" % got)
    print("alert delivered: %s" % results["Bergen"]["alert"])

    # The schedule: a deployment for each city at its own hour, not served.
    name = "daily-" + RUN_MARK
    rain_forecast.to_deployment(name=name, cron="0 6 * * *",
                                parameters={"city": "Bergen"}, tags=["forecast"]).apply()

    keys = [r["artifact"] for r in results.values()]
    artifacts, deployment = read_back(keys + [k + "-source" for k in keys], "rain-forecast/" + name)
    if len(artifacts) != 4:
        fail("expected 4 artifacts on the server, found %d" % len(artifacts))
    report = [a for a in artifacts if a.key == results["Bergen"]["artifact"]][0]
    if report.type != "markdown" or "4.43" not in report.data:
        fail("Bergen report artifact is %r" % (report.data,))
    if schedule_crons(deployment) != ["0 6 * * *"] or deployment.parameters != {"city": "Bergen"}:
        fail("deployment schedule read back as %r" % schedule_crons(deployment))
    print("schedule: %s runs %r at cron %s" % (deployment.name, deployment.parameters, schedule_crons(deployment)[0]))
    print("forecast_modern: ok, Lisbon dry, Bergen alerted, 4 artifacts, 1 schedule")


if __name__ == "__main__":
    main()
