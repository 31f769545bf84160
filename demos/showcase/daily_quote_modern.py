"""Showcase: a daily-quote notification flow (Prefect 2.x/3.x).

The smallest "useful" flow there is: once a day, pick a quote and post it to
the team chat. Quotes come from a shipped file (data/quotes_modern.txt, one
``text | author`` a line); the chat is DEMO_WEBHOOK_URL, posted to as a
Slack-style ``{"text": ...}`` JSON message.

What it shows:
- tasks as plain decorated functions, the flow as a plain function whose
  arguments are its parameters (``day``: an ISO date, so a run is
  reproducible; the default is today);
- ``@task(retries=...)`` on the network call;
- the flow returns what it sent, and the script checks *delivery*: it asks
  the receiver (GET on the same URL) what arrived and compares.
- For "daily", a schedule is one line: ``daily_quote.serve(name="daily",
  cron="0 8 * * *")`` (2.12+) or a deployment with ``cron=...``; not run
  here (see forecast_modern.py for a schedule that is registered and checked).

Classic (1.x) version: ``with Flow("daily-quote", schedule=...)``,
``Parameter("day")``, ``flow.run()``; the schedule was part of the flow.

Needs DEMO_WEBHOOK_URL. Runs against PREFECT_API_URL if set, or Prefect's
temporary local API.
"""
import datetime
import json
import os
import uuid
from pathlib import Path

import httpx
from prefect import flow, task

QUOTES = Path(__file__).resolve().parent / "data" / "quotes_modern.txt"
WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
MARK = uuid.uuid4().hex[:8]


def fail(message):
    raise SystemExit("daily_quote_modern: " + message)


@task
def load_quotes():
    quotes = []
    for line in QUOTES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, author = (part.strip() for part in line.split("|"))
            quotes.append({"text": text, "author": author})
    return quotes


@task
def pick(quotes, day):
    """The same day always gets the same quote; consecutive days differ."""
    ordinal = datetime.date.fromisoformat(day).toordinal()
    return quotes[ordinal % len(quotes)]


@task(retries=2, retry_delay_seconds=1)
def post(quote, day):
    message = {
        "text": "Quote of the day (%s): \u201c%s\u201d \u2014 %s" % (day, quote["text"], quote["author"]),
        "username": "quote-bot",
        "mark": MARK,
    }
    httpx.post(WEBHOOK_URL, json=message, timeout=10).raise_for_status()
    return message


@flow(name="daily-quote")
def daily_quote(day: str = ""):
    day = day or datetime.date.today().isoformat()
    quotes = load_quotes()
    return post(pick(quotes, day), day)


def main():
    if not WEBHOOK_URL:
        fail("DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
    days = ["2026-11-23", "2026-11-24"]
    sent = [daily_quote(day) for day in days]

    arrived = []
    for item in httpx.get(WEBHOOK_URL, timeout=10).json():
        if "json" not in item.get("content_type", ""):
            continue
        body = json.loads(item["body"])
        if body.get("mark") == MARK:
            arrived.append(body)
    if arrived != sent:
        fail("sent %r but the receiver got %r" % (sent, arrived))
    if sent[0]["text"].split(": ", 1)[1] == sent[1]["text"].split(": ", 1)[1]:
        fail("two different days got the same quote")
    again = daily_quote(days[0])
    if again["text"] != sent[0]["text"]:
        fail("the same day picked a different quote: %r" % again["text"])
    for message in sent:
        print("delivered: %s" % message["text"])
    print("daily_quote_modern: ok, %d quotes delivered" % (len(sent) + 1))


if __name__ == "__main__":
    main()
