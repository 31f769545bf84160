"""Flows that the orchestration demos deploy to a work pool.

Not a demo on its own (the leading underscore keeps the harness from running
it): deployment_worker_modern.py, deployment_worker_2x.py and
flow_of_flows_modern.py point their deployments at functions in this file,
and flow_of_flows_modern.py also calls them as subflows.

Why a separate file: a deployment does not carry your code. It records
*where* the code is (a folder, a git repo, a bucket) and an *entrypoint*
("file.py:function"). When the worker picks up a run, it starts a fresh
Python process that imports this file from that location and calls the flow.
So everything the flow needs must be importable from here, on its own.
"""
import os
import socket

from prefect import flow, task
from prefect.context import get_run_context


@task
def square(n):
    return n * n


# persist_result=True: the flow runs in a process the worker starts, and that
# process exits when the run is over. Its return value only survives if it is
# written to result storage, where the caller can read it back later. The
# storage folder comes from the PREFECT_LOCAL_STORAGE_PATH setting, which the
# demos hand to the run through the deployment's job variables.
@flow(name="sum-squares", persist_result=True)
def sum_squares(numbers, label="batch"):
    squares = [square(n) for n in numbers]
    return {
        "label": label,
        "squares": squares,
        "total": sum(squares),
        # Where did this run happen? Lets the caller prove that the worker,
        # not the caller's own process, ran it.
        "pid": os.getpid(),
        "host": socket.gethostname(),
        # Which flow run this was, so callers can look it up in the API.
        "flow_run_id": str(get_run_context().flow_run.id),
    }


def expected(numbers, label="batch"):
    """What sum_squares returns, minus the run-specific fields (for checks)."""
    squares = [n * n for n in numbers]
    return {"label": label, "squares": squares, "total": sum(squares)}
