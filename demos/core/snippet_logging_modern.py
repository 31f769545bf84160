"""Snippet: logging from flows and tasks, Prefect 2.x/3.x.

What this shows:
- ``get_run_logger()`` inside a flow or task returns a logger bound to the
  current run: its records carry the run's name and id (``flow_run_id``,
  ``task_run_name``, ...), go to the console, *and* are shipped to the
  Prefect API, where the UI shows them under the run. The loggers are named
  ``prefect.flow_runs`` and ``prefect.task_runs``, so ordinary ``logging``
  handlers can be attached to them, as done here to capture the records.
  Outside a run, ``get_run_logger()`` raises ``MissingContextError`` (a
  plain ``RuntimeError`` in 2.0.x).
- ``@flow(log_prints=True)`` (2.7+, inherited by the flow's tasks) turns
  ``print()`` calls into INFO records of the run, so existing code that
  prints gets its output into the run's logs unchanged. Where it does not
  exist, the demo says so and skips that part.
- Classic 1.x: ``prefect.context.get("logger")`` in tasks, and
  ``log_stdout=True`` per task.

The checks: the captured records have the right levels, logger names and
run names; and the same lines can be read back from the API with
``client.read_logs(...)`` (shipping is batched, so the demo polls; before
2.4 the client's log filter never reached the server, so the demo pages
through the answer and keeps its own run's lines).
"""
import asyncio
import inspect
import logging
import uuid

from prefect import flow, get_client, get_run_logger, task

try:  # later 2.10.x and 3.x
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
except ImportError:
    try:  # later 2.8.x to early 2.10.x
        from prefect.server.schemas.filters import LogFilter, LogFilterFlowRunId
    except ImportError:  # 2.0 to early 2.8.x
        from prefect.orion.schemas.filters import LogFilter, LogFilterFlowRunId

TOKEN = uuid.uuid4().hex[:8]
HAS_LOG_PRINTS = "log_prints" in inspect.signature(flow).parameters


class ListHandler(logging.Handler):
    """Keeps every record it sees."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


CAPTURE = ListHandler()


@task
def load(rows):
    logger = get_run_logger()
    logger.info("loading %d rows [%s]", len(rows), TOKEN)
    if len(rows) > 2:
        logger.warning("large batch of %d rows [%s]", len(rows), TOKEN)
    if HAS_LOG_PRINTS:
        print("printed from the task [%s]" % TOKEN)
    return len(rows)


def capture_run_logs():
    """Attach CAPTURE to the run loggers (again, if something removed it)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if CAPTURE not in logger.handlers:
            logger.addHandler(CAPTURE)


def pipeline(rows):
    # Before 2.7 Prefect re-applied its logging configuration each time
    # a flow was called, dropping handlers added earlier: attach them here.
    capture_run_logs()
    logger = get_run_logger()
    logger.info("starting with %d rows [%s]", len(rows), TOKEN)
    logger.debug("a DEBUG line: below the default INFO level, dropped [%s]", TOKEN)
    loaded = load(rows)
    logger.info("done [%s]", TOKEN)
    return loaded


if HAS_LOG_PRINTS:
    logging_demo = flow(name="logging-demo", log_prints=True)(pipeline)
else:
    logging_demo = flow(name="logging-demo")(pipeline)


PAGE = 200  # the most logs the API returns per request (its default limit)


async def logs_from_api(flow_run_id, want, seconds=30):
    """The flow run's log messages on the API, once all of `want` arrived.

    The filter is applied here too, page by page: up to 2.3 the client sent it
    under a key the server ignores ("filter", where the server reads "logs"),
    so those servers answer with every run's logs, oldest first, 200 at a time,
    and this run's lines are on a later page once the server holds more."""
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    async with get_client() as client:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            messages, offset = [], 0
            while True:
                page = await client.read_logs(log_filter=log_filter, limit=PAGE, offset=offset)
                messages += [log.message for log in page if str(log.flow_run_id) == str(flow_run_id)]
                if len(page) < PAGE:
                    break
                offset += len(page)
            if all(any(w in m for m in messages) for w in want):
                return messages
            if asyncio.get_running_loop().time() > deadline:
                return messages
            await asyncio.sleep(0.5)


def fail(message):
    raise SystemExit("snippet_logging_modern: " + message)


def main():
    capture_run_logs()

    try:
        get_run_logger()
    except RuntimeError as exc:  # MissingContextError; a plain RuntimeError in 2.0.x
        print("outside a run, get_run_logger() raises %s" % type(exc).__name__)
    else:
        fail("get_run_logger() worked outside a run")

    state = logging_demo([1, 2, 3], return_state=True)
    if not state.is_completed() or state.result() != 3:
        fail("the flow ended %s" % state.name)
    flow_run_id = state.state_details.flow_run_id

    mine = [r for r in CAPTURE.records if TOKEN in r.getMessage()]
    got = [(r.name, r.levelname, r.getMessage().replace(" [%s]" % TOKEN, "")) for r in mine]
    want = [
        ("prefect.flow_runs", "INFO", "starting with 3 rows"),
        ("prefect.task_runs", "INFO", "loading 3 rows"),
        ("prefect.task_runs", "WARNING", "large batch of 3 rows"),
    ]
    if HAS_LOG_PRINTS:
        want.append(("prefect.task_runs", "INFO", "printed from the task"))
    want.append(("prefect.flow_runs", "INFO", "done"))
    if got != want:
        fail("captured %r, expected %r" % (got, want))
    for r in mine:
        if str(getattr(r, "flow_run_id", "")) != str(flow_run_id):
            fail("record %r is not tied to flow run %s" % (r.getMessage(), flow_run_id))
        if r.name == "prefect.task_runs" and not getattr(r, "task_run_name", "").startswith("load"):
            fail("task record %r has task_run_name %r" % (r.getMessage(), getattr(r, "task_run_name", None)))
    for name, level, message in got:
        print("captured %-18s %-7s %s" % (name, level, message))
    if not HAS_LOG_PRINTS:
        print("log_prints: not in this Prefect (2.7+)")

    messages = asyncio.run(logs_from_api(flow_run_id, [m for _, _, m in want]))
    missing = [m for _, _, m in want if not any(m in x for x in messages)]
    if missing:
        fail("the API has no log lines %r for flow run %s" % (missing, flow_run_id))
    if any("DEBUG line" in m for m in messages):
        fail("a DEBUG line reached the API although the level is INFO")
    print("read back from the API: %d lines for flow run %s" % (len(messages), flow_run_id))
    print("snippet_logging_modern: ok")


if __name__ == "__main__":
    main()
