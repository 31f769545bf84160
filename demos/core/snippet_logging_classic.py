"""Snippet: logging from tasks (Prefect "Core" API).

What this shows:
- Inside a task, ``prefect.context.get("logger")`` is a logger named after
  the task (mapped children get their own, e.g. ``prefect.clean[1]``, from
  0.10.5; before, every child logged as ``prefect.Task: clean``). Its records go
  to Prefect's handlers: the console locally, and the backend's log view
  when the run is orchestrated.
- Prefect's log record factory adds run context to *every* record:
  ``record.flow_name``, ``record.task_name``, ``record.task_run_id``, ...
- ``@task(log_stdout=True)``: ``print()`` inside the task becomes an INFO log.
- Configuration is read at import time, e.g. ``PREFECT__LOGGING__LEVEL``
  (DEBUG records are dropped at the default INFO) and
  ``PREFECT__LOGGING__EXTRA_LOGGERS='["sales_lib"]'``, which gives a
  library's own logger Prefect's handlers too. (In 0.11.0 and 0.11.1 that
  variable makes ``import prefect`` itself fail: the config loader already
  parses it to a list, then ``literal_eval`` chokes on it -- xfail there.)

The demo adds a capturing handler to the ``prefect`` and ``sales_lib``
loggers and checks the records: names, levels, messages and context.
"""
import logging
import os

os.environ["PREFECT__LOGGING__EXTRA_LOGGERS"] = '["sales_lib"]'
os.environ["PREFECT__LOGGING__LEVEL"] = "INFO"

import prefect  # noqa: E402
from prefect import Flow, task  # noqa: E402

lib_logger = logging.getLogger("sales_lib")  # a third-party library's logger


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@task
def extract():
    logger = prefect.context.get("logger")
    logger.info("extracted %d rows", 3)
    logger.debug("raw rows: [...]")  # below the configured level: dropped
    return ["12.5", "x", "7.25"]


@task
def clean(raw):
    logger = prefect.context.get("logger")
    try:
        return float(raw)
    except ValueError:
        logger.warning("skipping bad amount %r", raw)
        return 0.0


@task(log_stdout=True)
def load(amounts):
    lib_logger.info("writing %d amounts", len(amounts))
    print("loaded total %.2f" % sum(amounts))
    return sum(amounts)


with Flow("snippet-logging-classic") as flow:
    load(clean.map(extract()))


def fail(message):
    raise SystemExit("snippet_logging_classic: " + message)


def find(records, text):
    return [r for r in records if text in r.getMessage()]


def main():
    capture = Capture()
    logging.getLogger("prefect").addHandler(capture)
    lib_logger.addHandler(capture)

    state = flow.run()
    if not state.is_successful():
        fail("flow run ended %r" % (state,))
    records = capture.records

    [info] = find(records, "extracted 3 rows") or [None]
    if info is None or info.levelname != "INFO" or getattr(info, "task_name", None) != "extract":
        fail("task log record: %r" % (info and info.__dict__,))
    if getattr(info, "flow_name", None) != "snippet-logging-classic" or not info.name.startswith("prefect"):
        fail("task log record lacks the run context or a prefect logger name: %r" % (info.__dict__,))
    if find(records, "raw rows"):
        fail("a DEBUG record got through at level INFO")

    warned = find(records, "skipping bad amount 'x'")
    if len(warned) != 1 or warned[0].levelname != "WARNING" or "clean[1]" not in warned[0].name:
        fail("mapped child's warning: %r" % ([(r.name, r.levelname) for r in warned],))

    printed = find(records, "loaded total 19.75")
    if len(printed) != 1 or printed[0].levelname != "INFO":
        fail("print() in a log_stdout task should become one INFO record: %r" % (printed,))
    lib = find(records, "writing 3 amounts")
    if len(lib) != 1 or lib[0].name != "sales_lib" or getattr(lib[0], "task_name", None) != "load":
        fail("sales_lib record: %r" % ([r.__dict__ for r in lib],))
    if not lib_logger.handlers or len(lib_logger.handlers) < 2:
        fail("extra_loggers did not give sales_lib Prefect's handler: %r" % (lib_logger.handlers,))

    for r in (info, warned[0], printed[0], lib[0]):
        print("captured %-8s %-28s task=%-8s %s" % (r.levelname, r.name, getattr(r, "task_name", "-"), r.getMessage()))
    print("snippet_logging_classic: ok")


if __name__ == "__main__":
    main()
