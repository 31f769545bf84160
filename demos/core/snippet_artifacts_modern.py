"""Snippet: artifacts (link, markdown, table), Prefect 2.9+/3.x.

Artifacts are small, human-facing outputs of a run that the Prefect UI shows
next to it: a link to the report a flow produced, a markdown summary, a
table of numbers. They are stored by the API, not in your result storage.

What this shows:
- ``create_link_artifact(link, link_text=...)``,
  ``create_markdown_artifact(markdown)`` and
  ``create_table_artifact(table)`` (a list of row dicts, or a dict of
  columns), called inside a flow or task, attach an artifact to that run.
- A ``key`` (lowercase letters, digits and dashes) makes an artifact
  *versioned*: each run that uses the same key adds a new version, and the
  UI's Artifacts page tracks the latest one per key.
- Artifacts are read back through the client:
  ``client.read_artifacts(artifact_filter=...)``, here filtered by this
  flow run's id.
- A link artifact is stored as a markdown artifact whose text is
  ``[link_text](link)``: the UI renders it as a clickable link.
- 1.x had only ``create_link``/``create_markdown`` (Cloud-only, 0.15+).

The artifact functions arrived in 2.9.0.
"""
import asyncio
import json
import uuid

from prefect import flow, get_client, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

try:  # later 2.10.x and 3.x
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
except ImportError:  # 2.9 to early 2.10.x
    from prefect.server.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

TOKEN = uuid.uuid4().hex[:8]
REPORT_URL = "https://reports.example.com/daily/%s.html" % TOKEN
ROWS = [
    {"region": "eu", "orders": 120, "revenue": 4310.5},
    {"region": "us", "orders": 95, "revenue": 3890.0},
]


@task
def build_report(rows):
    total = sum(r["revenue"] for r in rows)
    create_table_artifact(table=rows, key="daily-revenue-" + TOKEN,
                          description="revenue by region")
    return total


@flow(name="artifacts-demo")
def daily_report():
    total = build_report(ROWS)
    create_markdown_artifact(
        markdown="# Daily report\n\nTotal revenue: **%.2f** over %d regions\n" % (total, len(ROWS)),
        key="daily-summary-" + TOKEN,
    )
    create_link_artifact(REPORT_URL, link_text="full report", key="daily-link-" + TOKEN)
    return total


async def artifacts_of(flow_run_id):
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def fail(message):
    raise SystemExit("snippet_artifacts_modern: " + message)


def main():
    state = daily_report(return_state=True)
    if not state.is_completed():
        fail("the flow ended %s" % state.name)
    flow_run_id = state.state_details.flow_run_id
    found = asyncio.run(artifacts_of(flow_run_id))
    # Only keyed ones: 2.9.0 also recorded each run's result as a keyless
    # artifact of type "result".
    artifacts = {a.key: a for a in found if a.key}
    others = sorted(str(a.type) for a in found if not a.key)

    want_keys = {"daily-revenue-" + TOKEN, "daily-summary-" + TOKEN, "daily-link-" + TOKEN}
    if set(artifacts) != want_keys:
        fail("flow run %s has artifacts %r, expected %r" % (flow_run_id, sorted(artifacts), sorted(want_keys)))

    table = artifacts["daily-revenue-" + TOKEN]
    data = json.loads(table.data) if isinstance(table.data, str) else table.data
    if table.type != "table" or data != ROWS:
        fail("table artifact is %s with %r" % (table.type, table.data))
    if table.task_run_id is None:
        fail("the table artifact is not attached to the task run that made it")

    summary = artifacts["daily-summary-" + TOKEN]
    if summary.type != "markdown" or "**8200.50**" not in summary.data:
        fail("markdown artifact is %s with %r" % (summary.type, summary.data))

    link = artifacts["daily-link-" + TOKEN]
    if link.type != "markdown" or link.data != "[full report](%s)" % REPORT_URL:
        fail("link artifact is %s with %r" % (link.type, link.data))

    for key in sorted(artifacts):
        a = artifacts[key]
        print("%-8s %-26s %s" % (a.type, key, str(a.data).replace("\n", " ")[:60]))
    if others:
        print("also on the run, without a key: %s" % ", ".join(others))
    print("snippet_artifacts_modern: ok, 3 artifacts on flow run %s" % flow_run_id)


if __name__ == "__main__":
    main()
