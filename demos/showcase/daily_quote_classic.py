"""Showcase: a "quote of the day" chat notification (Prefect "Core" API, 0.11 - 1.x).

The smallest useful scheduled notification flow: pick today's quote from a
shipped file (data/quotes.json), format it, post it to a chat webhook every
morning.

Classic features on show:
- ``SlackTask`` from Prefect's task library (``prefect.tasks.notifications``):
  posts a message (a string, or from 0.11 a dict of Slack blocks) to the URL stored in
  the ``SLACK_WEBHOOK_URL`` *Secret*. The local secret comes from
  ``PREFECT__CONTEXT__SECRETS__SLACK_WEBHOOK_URL``, here pointed at the demo's
  webhook receiver instead of Slack.
- ``Parameter("day", default=None)``: a run can ask for a given day; by
  default the task uses ``prefect.context.today`` (the run's date; for a
  scheduled run, the scheduled day).
- ``max_retries`` on the post, since chat APIs rate-limit.
- A daily ``CronClock("0 8 * * 1-5")`` (weekdays 08:00 UTC): the demo checks
  the next runs it would create instead of waiting for them.

Checks: each run posted exactly one message, with the right quote for the
day, as JSON with Slack's ``text`` and ``blocks`` fields.
Needs DEMO_WEBHOOK_URL.
"""
import json
import os
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

WEBHOOK_URL = os.environ.get("DEMO_WEBHOOK_URL")
if not WEBHOOK_URL:
    sys.exit("daily_quote_classic: DEMO_WEBHOOK_URL is not set: it should point at a webhook receiver")
os.environ["PREFECT__CONTEXT__SECRETS__SLACK_WEBHOOK_URL"] = WEBHOOK_URL

import prefect  # noqa: E402
import requests  # noqa: E402
from prefect import Flow, Parameter, task  # noqa: E402
from prefect.schedules import Schedule  # noqa: E402
from prefect.schedules.clocks import CronClock  # noqa: E402
from prefect.tasks.notifications import SlackTask  # noqa: E402

QUOTES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "quotes.json")
with open(QUOTES_FILE) as f:
    QUOTES = json.load(f)
RUN_TOKEN = uuid.uuid4().hex[:8]


def quote_index(day):
    return date.fromisoformat(day).toordinal() % len(QUOTES)


@task
def pick_quote(day):
    day = day or prefect.context.get("today")  # "YYYY-MM-DD" of this run
    return dict(QUOTES[quote_index(day)], day=day)


@task
def format_message(quote):
    text = "Quote of the day (%s): \u201c%s\u201d \u2014 %s" % (quote["day"], quote["text"], quote["author"])
    return {
        "text": text,  # the fallback line, shown in notifications
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "> %s\n_%s_" % (quote["text"], quote["author"])}},
                   {"type": "context", "elements": [{"type": "mrkdwn", "text": "run %s" % RUN_TOKEN}]}],
    }


post = SlackTask(max_retries=2, retry_delay=timedelta(seconds=1), name="post-to-chat")

with Flow("daily-quote-classic", schedule=Schedule(clocks=[CronClock("0 8 * * 1-5")])) as flow:
    day = Parameter("day", default=None)
    message = format_message(pick_quote(day))
    post(message=message)


def fail(message):
    raise SystemExit("daily_quote_classic: " + message)


def received():
    mine = []
    for item in requests.get(WEBHOOK_URL, timeout=10).json():
        body = json.loads(item["body"])
        if RUN_TOKEN in json.dumps(body):
            mine.append(body)
    return mine


def main():
    # Friday 2021-06-04 07:00 UTC: next are Fri 08:00, then Mon and Tue (no weekend runs).
    events = flow.schedule.next(3, after=datetime(2021, 6, 4, 7, 0, tzinfo=timezone.utc))
    got = [e.strftime("%a %d %H:%M") for e in events]
    if got != ["Fri 04 08:00", "Mon 07 08:00", "Tue 08 08:00"]:
        fail("next scheduled runs %r" % (got,))
    print("next runs: %s" % ", ".join(got))

    today_utc = datetime.now(timezone.utc).date().isoformat()  # what prefect.context.today will hold
    runs = [("2021-06-04", "2021-06-04"), ("2021-06-07", "2021-06-07"), (None, today_utc)]
    for requested, expected_day in runs:
        before = len(received())
        state = flow.run(parameters={"day": requested}, run_on_schedule=False)
        if not state.is_successful():
            fail("run for %s ended %r" % (requested, state))
        got = received()
        if len(got) != before + 1:
            fail("run for %s posted %d message(s)" % (requested, len(got) - before))
        quote = QUOTES[quote_index(expected_day)]
        text = got[-1]["text"]
        if expected_day not in text or quote["text"] not in text or quote["author"] not in text:
            fail("message for %s was %r, expected the quote %r" % (expected_day, text, quote))
        if not got[-1].get("blocks"):
            fail("the message lost its Slack blocks: %r" % (got[-1],))
        print("posted: %s" % text)
    print("daily_quote_classic: ok, 3 messages delivered")


if __name__ == "__main__":
    main()
