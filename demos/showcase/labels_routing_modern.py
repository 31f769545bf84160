"""Routing runs to the right place: work queues inside a work pool (2.10+/3.x).

In the classic era, routing meant *labels*: a flow's run config carried
labels (``["gpu", "prod"]``) and only an agent started with all of them
would pick its runs up. In 2.x/3.x the routing is explicit:

- a **work pool** is a kind of infrastructure (process, docker, kubernetes,
  ...) with its job template; workers poll a pool;
- a pool holds **work queues**; each has a **priority** (lower number =
  served first when a worker has capacity), an optional **concurrency
  limit**, and can be **paused**;
- a **deployment** names its pool and queue (``work_queue_name``), and each
  of its runs lands there; a single run can be sent elsewhere
  (``run_deployment(..., work_queue_name=...)`` /
  ``create_flow_run_from_deployment(..., work_queue_name=...)``, later 2.x);
- a deployment without a queue lands on the pool's ``default`` queue.

The demo builds a pool with ``urgent`` (priority 1), ``bulk`` (priority 10,
concurrency 2) and the pool's ``default`` queue, creates a deployment per
queue, creates runs, and asks the API the same question a worker asks
(``get_scheduled_flow_runs_for_work_pool``): which runs are waiting on which
queue? It then pauses ``bulk`` and checks its runs are held back. Nothing is
executed (no worker polls this pool); the runs are deleted at the end.

Needs: PREFECT_API_URL.
"""
import os
import uuid

from prefect import get_client
from prefect.exceptions import ObjectNotFound
from prefect.utilities.asyncutils import sync_compatible

try:
    from prefect.client.schemas.actions import WorkPoolCreate
except ImportError:  # early 2.10.x kept them with the server schemas
    from prefect.server.schemas.actions import WorkPoolCreate

SUFFIX = uuid.uuid4().hex[:8]
POOL = "routing-" + SUFFIX


def fail(message):
    raise SystemExit("labels_routing_modern: " + message)


async def waiting(client, queue_names):
    """Run ids a worker of POOL would be handed, for these queues."""
    responses = await client.get_scheduled_flow_runs_for_work_pool(
        work_pool_name=POOL, work_queue_names=queue_names
    )
    return {str(r.flow_run.id) for r in responses}


@sync_compatible
async def demo():
    async with get_client() as client:
        await client.create_work_pool(work_pool=WorkPoolCreate(name=POOL, type="process"))
        await client.create_work_queue(name="urgent", work_pool_name=POOL, priority=1)
        await client.create_work_queue(
            name="bulk", work_pool_name=POOL, priority=10, concurrency_limit=2
        )
        queues = {q.name: q for q in await client.read_work_queues(work_pool_name=POOL)}
        if set(queues) != {"default", "urgent", "bulk"}:
            fail("pool %s has queues %r" % (POOL, sorted(queues)))
        by_priority = sorted(queues, key=lambda n: queues[n].priority)
        print("queues by priority: %s" % ", ".join(
            "%s (priority %s, limit %s)" % (n, queues[n].priority, queues[n].concurrency_limit)
            for n in by_priority))
        if by_priority[0] != "urgent" or queues["bulk"].concurrency_limit != 2:
            fail("queue settings read back wrong: %r" % queues)

        flow_id = await client.create_flow_from_name("routed-report")
        deployments = {}
        for queue in ("urgent", "bulk", None):
            kwargs = dict(flow_id=flow_id, name="report-%s" % (queue or "anywhere"),
                          work_pool_name=POOL, entrypoint="report.py:routed_report")
            if queue:
                kwargs["work_queue_name"] = queue
            deployments[queue or "default"] = await client.create_deployment(**kwargs)

        runs = {}  # run id -> queue we expect it on
        for queue, deployment_id in deployments.items():
            run = await client.create_flow_run_from_deployment(deployment_id)
            runs[str(run.id)] = queue
            if run.work_queue_name != queue:
                fail("a run of the %s deployment landed on %r" % (queue, run.work_queue_name))
        # Override the queue for one run (later 2.x and 3.x).
        try:
            run = await client.create_flow_run_from_deployment(
                deployments["bulk"], work_queue_name="urgent"
            )
            runs[str(run.id)] = "urgent"
            print("a bulk run sent to 'urgent' for once: %s" % run.work_queue_name)
        except TypeError:
            print("(this release cannot override the queue per run)")

        try:
            for queue in ("urgent", "bulk", "default"):
                got = await waiting(client, [queue])
                want = {rid for rid, q in runs.items() if q == queue}
                if got != want:
                    fail("queue %s hands out %r, expected %r" % (queue, got, want))
                print("queue %-7s waiting runs: %d" % (queue, len(got)))

            await client.update_work_queue(id=queues["bulk"].id, is_paused=True)
            held = await waiting(client, ["bulk"])
            everything = await waiting(client, None)
            bulk_runs = {rid for rid, q in runs.items() if q == "bulk"}
            if held or everything & bulk_runs:
                fail("paused queue bulk still hands out %r" % (held or everything & bulk_runs))
            if everything != set(runs) - bulk_runs:
                fail("the pool hands out %r, expected %r" % (everything, set(runs) - bulk_runs))
            print("bulk paused: a worker now gets %d runs, none from bulk" % len(everything))
        finally:  # tidy up; a run already gone must not hide the check's own verdict
            for run_id in runs:
                try:
                    await client.delete_flow_run(run_id)
                except ObjectNotFound:
                    pass


def main():
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: routing is decided by the server")
    demo()
    print("labels_routing_modern: ok, every run landed on its queue")


if __name__ == "__main__":
    main()
