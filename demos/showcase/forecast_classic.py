"""Showcase: a rain-alert forecast flow (Prefect "Core" API, 0.13.15 - 1.x).

A small but complete classic flow, the kind shown to a customer in one go:
fetch weather history, forecast the next days, branch on "will it rain?",
alert a chat webhook when it will, publish a report -- with retries, tags
and a schedule. The data is a shipped sample (data/weather_sample.csv,
made-up values for four cities), not a weather API.

Classic features on show:
- ``Parameter``s (city, horizon, rain threshold), set per run or per clock.
- ``@task(max_retries=2, retry_delay=...)`` on the fetch, which fails its
  first attempt like a flaky API; ``flow.run()`` retries it.
- Tags: ``@task(tags=[...])`` and ``with prefect.tags("forecast"):`` for
  every task built inside; with a backend, tags drive task concurrency
  limits (e.g. at most 2 ``weather-api`` tasks at once).
- ``case`` / ``merge``: the alert only runs on a rainy forecast; the other
  branch is Skipped.
- The alert is a ``requests.post`` of Slack-style JSON to the webhook.
- A markdown report and a link attached as artifacts
  (``create_markdown_artifact`` / ``create_link_artifact``; before 0.15
  ``prefect.artifacts.create_markdown`` / ``create_link``, added in 0.13.15): no-ops returning None without a backend, so the demo
  checks the report text the task built and that the calls returned None.
- A ``Schedule`` of two ``CronClock``s: 06:00 UTC for Lisbon and 07:00 UTC
  for Bergen, each with its own ``parameter_defaults`` (checked, not waited on).

Runs Lisbon (dry: no alert) and Bergen (rain: one alert) and checks the
forecast numbers, the branch taken, the retry, and what the webhook got.
Needs DEMO_WEBHOOK_URL.
"""
import csv
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
if not WEBHOOK_URL:
    sys.exit("forecast_classic: DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")

import prefect  # noqa: E402
import requests  # noqa: E402
from prefect import Flow, Parameter, case, task  # noqa: E402
from prefect.engine.state import Skipped  # noqa: E402
from prefect.schedules import Schedule  # noqa: E402
from prefect.schedules.clocks import CronClock  # noqa: E402
from prefect.tasks.control_flow import merge  # noqa: E402

try:  # 0.15+
    from prefect.backend import create_link_artifact, create_markdown_artifact
except ImportError:  # 0.13.15 - 0.14
    from prefect.artifacts import create_link as create_link_artifact
    from prefect.artifacts import create_markdown as create_markdown_artifact

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "weather_sample.csv")
RUN_TOKEN = uuid.uuid4().hex[:8]
FETCH_ATTEMPTS = []

# The forecasts the demo must produce from the sample data (3 days ahead).
EXPECTED = {
    "Lisbon": [("2021-06-11", 23.7, 0.0), ("2021-06-12", 23.8, 0.0), ("2021-06-13", 24.0, 0.0)],
    "Bergen": [("2021-06-11", 12.8, 10.7), ("2021-06-12", 13.4, 10.7), ("2021-06-13", 14.0, 10.7)],
}


@task(max_retries=2, retry_delay=timedelta(seconds=1), tags=["weather-api"])
def fetch_history(city):
    FETCH_ATTEMPTS.append((city, prefect.context.get("task_run_count")))
    if prefect.context.get("task_run_count") == 1:
        raise ConnectionError("weather service timed out (the first attempt always does here)")
    with open(DATA) as f:
        rows = [r for r in csv.DictReader(f) if r["city"] == city]
    if not rows:
        raise ValueError("no weather history for %r" % (city,))
    return sorted(rows, key=lambda r: r["date"])


@task(tags=["model"])
def forecast(history, days):
    # A deliberately simple model: last 3 days' mean, plus their trend for temperature.
    last = history[-3:]
    tmax = [float(r["temp_max_c"]) for r in last]
    rain = [float(r["precip_mm"]) for r in last]
    slope = (tmax[-1] - tmax[0]) / 2
    start = datetime.strptime(history[-1]["date"], "%Y-%m-%d")
    return [
        ((start + timedelta(days=k)).strftime("%Y-%m-%d"), round(sum(tmax) / 3 + slope * k, 1), round(sum(rain) / 3, 1))
        for k in range(1, days + 1)
    ]


@task
def rain_expected(days, threshold):
    return any(rain >= threshold for _, _, rain in days)


@task
def rain_alert(city, days, threshold):
    wet = [(day, rain) for day, _, rain in days if rain >= threshold]
    text = "Rain alert for %s: %s (run %s)" % (city, ", ".join("%s %.1f mm" % w for w in wet), RUN_TOKEN)
    requests.post(WEBHOOK_URL, json={"text": text, "city": city, "days": [d for d, _ in wet]},
                  timeout=10).raise_for_status()
    return text


@task
def all_clear(city):
    return "No rain expected in %s" % city


@task
def publish(city, days, outcome):
    lines = ["# Forecast for %s" % city, "", outcome, "", "| day | max °C | rain mm |", "|---|---:|---:|"]
    lines += ["| %s | %.1f | %.1f |" % row for row in days]
    markdown = "\n".join(lines)
    ids = [create_markdown_artifact(markdown),
           create_link_artifact("https://weather.example.com/%s" % city.lower())]
    return {"markdown": markdown, "artifact_ids": ids}


schedule = Schedule(clocks=[
    CronClock("0 6 * * *", parameter_defaults={"city": "Lisbon"}),
    CronClock("0 7 * * *", parameter_defaults={"city": "Bergen"}),
])

with Flow("forecast-classic", schedule=schedule) as flow:
    with prefect.tags("forecast"):
        city = Parameter("city", default="Lisbon")
        days_ahead = Parameter("days", default=3)
        threshold = Parameter("rain_threshold_mm", default=5.0)

        history = fetch_history(city)
        days = forecast(history, days_ahead)
        wet = rain_expected(days, threshold)
        with case(wet, True):
            alert = rain_alert(city, days, threshold)
        with case(wet, False):
            clear = all_clear(city)
        outcome = merge(alert, clear)
        report = publish(city, days, outcome)


def fail(message):
    raise SystemExit("forecast_classic: " + message)


def main():
    [fetch] = flow.get_tasks(name="fetch_history")
    if fetch.tags != {"weather-api", "forecast"}:
        fail("fetch_history tags are %r" % (fetch.tags,))
    events = flow.schedule.next(4, after=datetime(2021, 6, 1, 5, 0, tzinfo=timezone.utc), return_events=True)
    got = [(e.start_time.strftime("%d %H:%M"), e.parameter_defaults["city"]) for e in events]
    if got != [("01 06:00", "Lisbon"), ("01 07:00", "Bergen"), ("02 06:00", "Lisbon"), ("02 07:00", "Bergen")]:
        fail("schedule events %r" % (got,))
    print("schedule: %s" % ", ".join("June %s UTC %s" % e for e in got))

    print("(each run's first fetch fails on purpose and is retried)")
    for name, rainy in (("Lisbon", False), ("Bergen", True)):
        del FETCH_ATTEMPTS[:]
        state = flow.run(parameters={"city": name}, run_on_schedule=False)
        if not state.is_successful():
            fail("%s run ended %r" % (name, state))
        if FETCH_ATTEMPTS != [(name, 1), (name, 2)]:
            fail("%s fetch attempts %r, expected a failure then a retry" % (name, FETCH_ATTEMPTS))
        if state.result[days].result != EXPECTED[name]:
            fail("%s forecast %r, expected %r" % (name, state.result[days].result, EXPECTED[name]))
        ran, skipped = (alert, clear) if rainy else (clear, alert)
        if isinstance(state.result[ran], Skipped) or not isinstance(state.result[skipped], Skipped):
            fail("%s: %s should run and %s be skipped: %r / %r"
                 % (name, ran.name, skipped.name, state.result[ran], state.result[skipped]))
        published = state.result[report].result
        if published["artifact_ids"] != [None, None]:
            fail("artifacts without a backend should return None: %r" % (published["artifact_ids"],))
        if "# Forecast for %s" % name not in published["markdown"] or EXPECTED[name][0][0] not in published["markdown"]:
            fail("report for %s:\n%s" % (name, published["markdown"]))
        print("%s: %s -> %s" % (name, EXPECTED[name], state.result[outcome].result))

    received = [json.loads(item["body"]) for item in requests.get(WEBHOOK_URL, timeout=10).json()]
    mine = [m for m in received if RUN_TOKEN in m.get("text", "")]
    if len(mine) != 1 or mine[0]["city"] != "Bergen" or mine[0]["days"] != [d for d, _, _ in EXPECTED["Bergen"]]:
        fail("expected exactly one rain alert, for Bergen, got %r" % (mine,))
    print("webhook received: %s" % mine[0]["text"])
    print("forecast_classic: ok")


if __name__ == "__main__":
    main()
