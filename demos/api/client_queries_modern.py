"""Querying and changing runs through the Prefect API client (2.x/3.x).

In Prefect 1.x, the Server/Cloud backend was queried with GraphQL
(see graphql_classic.py). Prefect 2.0 replaced GraphQL with a REST API, and
the Python way in is the client from ``get_client()``: one async method per
API call, taking *filter* objects instead of GraphQL ``where`` clauses.

What this shows, against a real server (PREFECT_API_URL):
  queries
  - flows whose name matches                 read_flows(flow_filter=...)
  - the failed runs of those flows           read_flow_runs(flow_run_filter=state type)
  - the last N runs, newest first            read_flow_runs(sort=..., limit=N)
  - the last successful run                  same, state COMPLETED, limit=1
  - task runs started in a time window,
    counted by final state                   read_task_runs(task_run_filter=start_time)
  - the log lines of one flow run            read_logs(log_filter=flow_run_id)
  mutations
  - create a flow run of a deployment        create_flow_run_from_deployment(...)
  - change its state (cancel it)             set_flow_run_state(id, Cancelled())
  - replace its tags                         update_flow_run(id, tags=...)
  - delete it                                delete_flow_run(id)
It first runs two small flows (one succeeds three times, one fails once) so
that there is something to find, and checks every answer.

Filters are pydantic models that mirror the REST API's JSON body:
``FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
any_=[StateType.FAILED])))`` is ``{"state": {"type": {"any_": ["FAILED"]}}}``.
Several filters passed together are ANDed.

What changed between eras (the calls stayed the same; mostly imports moved):
- 2.0 to early 2.8.x: the server was called Orion; schemas in
  ``prefect.orion.schemas``.
- later 2.8.x to early 2.10.x: ``prefect.server.schemas``.
- later 2.10.x and 3.x: the client has its own copy,
  ``prefect.client.schemas`` (filters, sorting, objects).
- ``prefect.states.Cancelled`` is missing from early 2.x (it is there by
  2.7); without it a State is built from its type.
- 2.0.0-2.0.3 cannot create a deployment without a manifest file, so the
  mutations below need 2.0.4 or later.
- The async ``get_client()`` works in every era; 3.x (and late 2.x) also
  offer ``get_client(sync_client=True)``.
"""
import asyncio
import datetime
import os
import uuid

from prefect import flow, get_client, get_run_logger, task
from prefect.exceptions import ObjectNotFound

try:  # later 2.10.x and 3.x
    from prefect.client.schemas import filters, sorting
    from prefect.client.schemas.objects import State, StateType
except ImportError:
    try:  # later 2.8.x to early 2.10.x
        from prefect.server.schemas import filters, sorting
        from prefect.server.schemas.states import State, StateType
    except ImportError:  # 2.0 to early 2.8.x: the server was called Orion
        from prefect.orion.schemas import filters, sorting
        from prefect.orion.schemas.states import State, StateType

TOKEN = uuid.uuid4().hex[:8]  # keeps this run's flows apart on a shared server
OK_NAME = "client-demo-ok-" + TOKEN
FAIL_NAME = "client-demo-fail-" + TOKEN
OK_SIZES = [10, 20, 30]  # the ok flow runs once per size, in this order
LOG_LINE = "loaded %d rows"


def fail(message):
    raise SystemExit("client_queries_modern: " + message)


# --- something to query: two small flows ---------------------------------------


@task
def extract(size):
    return list(range(size))


@task
def transform(rows):
    return [r * 2 for r in rows]


@task
def load(rows):
    get_run_logger().info(LOG_LINE, len(rows))
    return len(rows)


def count_rows(size):
    return load(transform(extract(size)))


@task
def check_input():
    return True


@task
def explode():
    raise ValueError("the source table is missing")


def broken_pipeline():
    check_input()
    explode()


# Unique flow names: flow(name=...)(function) is the decorator, applied by hand.
ok_flow = flow(name=OK_NAME)(count_rows)
broken_flow = flow(name=FAIL_NAME)(broken_pipeline)


# --- the queries and mutations --------------------------------------------------


def by_flow_names(*names):
    return filters.FlowFilter(name=filters.FlowFilterName(any_=list(names)))


def by_state(*types):
    return filters.FlowRunFilter(
        state=filters.FlowRunFilterState(
            type=filters.FlowRunFilterStateType(any_=list(types))
        )
    )


def cancelled_state(message):
    try:
        from prefect.states import Cancelled  # missing in early 2.x
    except ImportError:
        return State(type=StateType.CANCELLED, message=message)
    return Cancelled(message=message)


async def wait_for_logs(client, flow_run_id, needle, seconds=20):
    """Logs are shipped to the API in the background, in batches: poll."""
    log_filter = filters.LogFilter(
        flow_run_id=filters.LogFilterFlowRunId(any_=[flow_run_id])
    )
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        logs = await client.read_logs(log_filter=log_filter)
        if any(needle in log.message for log in logs):
            return logs
        if asyncio.get_running_loop().time() > deadline:
            return logs
        await asyncio.sleep(0.5)


async def settled_task_runs(client, window_start, window_end, want, seconds=20):
    """The task runs in the window and their counts by state, polled until they are `want` or time is up."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        task_runs = await client.read_task_runs(
            flow_filter=by_flow_names(OK_NAME, FAIL_NAME),
            task_run_filter=filters.TaskRunFilter(
                start_time=filters.TaskRunFilterStartTime(
                    after_=window_start, before_=window_end
                )
            ),
        )
        counts = {}
        for tr in task_runs:
            counts[tr.state.type.value] = counts.get(tr.state.type.value, 0) + 1
        if counts == want or asyncio.get_running_loop().time() > deadline:
            return task_runs, counts
        await asyncio.sleep(0.5)


async def explore(window_start, window_end):
    async with get_client() as client:
        # Flows by name: an exact list (any_) or a fragment (like_).
        flows = await client.read_flows(
            flow_filter=filters.FlowFilter(name=filters.FlowFilterName(like_=TOKEN))
        )
        names = sorted(f.name for f in flows)
        if names != sorted([OK_NAME, FAIL_NAME]):
            fail("flows matching %r: %r" % (TOKEN, names))
        print("flows named like %r: %s" % (TOKEN, names))

        # Failed runs of these flows.
        failed = await client.read_flow_runs(
            flow_filter=by_flow_names(OK_NAME, FAIL_NAME),
            flow_run_filter=by_state(StateType.FAILED),
        )
        if len(failed) != 1:
            fail("expected 1 failed run, found %d" % len(failed))
        failed_flow = await client.read_flow(failed[0].flow_id)
        if failed_flow.name != FAIL_NAME:
            fail("the failed run belongs to %r" % failed_flow.name)
        print("failed runs: %s (%s)" % (failed[0].name, failed[0].state.message.strip()))

        # The last two runs of the ok flow, newest first.
        last_two = await client.read_flow_runs(
            flow_filter=by_flow_names(OK_NAME),
            sort=sorting.FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=2,
        )
        sizes = [r.parameters.get("size") for r in last_two]
        if sizes != OK_SIZES[::-1][:2]:
            fail("last two runs had sizes %r, expected %r" % (sizes, OK_SIZES[::-1][:2]))
        print("last 2 runs: %s" % ", ".join("%s(size=%s)" % (r.name, s) for r, s in zip(last_two, sizes)))

        # The last successful run of either flow.
        last_ok = await client.read_flow_runs(
            flow_filter=by_flow_names(OK_NAME, FAIL_NAME),
            flow_run_filter=by_state(StateType.COMPLETED),
            sort=sorting.FlowRunSort.END_TIME_DESC,
            limit=1,
        )
        if len(last_ok) != 1 or last_ok[0].parameters.get("size") != OK_SIZES[-1]:
            fail("last successful run is %r" % (last_ok,))
        print("last successful run: %s" % last_ok[0].name)

        # Task runs of these flows that started inside the time window. 3.x reports
        # task run states to the API in the background (as events), so a state may
        # land a moment after its flow run ended: poll until they settle.
        want = {"COMPLETED": 3 * len(OK_SIZES) + 1, "FAILED": 1}
        task_runs, counts = await settled_task_runs(client, window_start, window_end, want)
        if counts != want:
            fail("task runs in the window by state: %r, expected %r" % (counts, want))
        print("task runs in the window: %d %r" % (len(task_runs), counts))

        # The log lines of the last successful run.
        needle = LOG_LINE % OK_SIZES[-1]
        logs = await wait_for_logs(client, last_ok[0].id, needle)
        if not any(needle in log.message for log in logs):
            fail("no log line %r among %r" % (needle, [l.message for l in logs]))
        print("logs of %s: %d lines, including %r" % (last_ok[0].name, len(logs), needle))

        # Mutations. A deployment is what a run is normally created from; this
        # one has no work pool, so nothing will pick its runs up: they stay
        # Scheduled until we change them.
        ok_flow_id = [f.id for f in flows if f.name == OK_NAME][0]
        deployment_id = await client.create_deployment(
            flow_id=ok_flow_id, name="client-demo-" + TOKEN
        )
        created = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"size": 99}, tags=["from-client"]
        )
        run = await client.read_flow_run(created.id)
        if run.state.type != StateType.SCHEDULED or run.parameters != {"size": 99}:
            fail("new run is %s with %r" % (run.state.type, run.parameters))
        print("created %s: %s, tags %s" % (run.name, run.state.type.value, run.tags))

        await client.set_flow_run_state(run.id, cancelled_state("not needed after all"))
        run = await client.read_flow_run(run.id)
        if run.state.type != StateType.CANCELLED:
            fail("cancelling left the run %s" % run.state.type)
        print("cancelled %s: %s (%s)" % (run.name, run.state.type.value, run.state.message))

        await client.update_flow_run(run.id, tags=["from-client", "reviewed"])
        run = await client.read_flow_run(run.id)
        if sorted(run.tags) != ["from-client", "reviewed"]:
            fail("tags after update: %r" % (run.tags,))
        print("retagged %s: %s" % (run.name, sorted(run.tags)))

        await client.delete_flow_run(run.id)
        try:
            await client.read_flow_run(run.id)
        except ObjectNotFound:
            print("deleted %s" % run.name)
        else:
            fail("flow run %s still exists after delete" % run.id)
        await client.delete_deployment(deployment_id)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def main():
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: this demo queries a real Prefect server")

    window_start = now()
    for size in OK_SIZES:
        if ok_flow(size) != size:
            fail("ok flow returned the wrong count for size %d" % size)
    print("running %s, which is meant to fail (a traceback is expected)" % FAIL_NAME)
    try:
        broken_flow()
    except ValueError:
        pass  # expected: the run is recorded as Failed
    else:
        fail("the broken flow did not fail")
    window_end = now()

    asyncio.run(explore(window_start, window_end))
    print("client_queries_modern: ok")


if __name__ == "__main__":
    main()
