"""Evolving orchestration: one flow, configured step by step (Prefect 0.14 - 1.x).

In the classic API the flow's code never changes on its way from a laptop
to production; three attributes of the Flow object do:

    flow.executor    how one run executes its tasks       (in the stored flow)
    flow.storage     where the agent gets the flow's code (sent at registration)
    flow.run_config  where and how the agent starts a run (sent at registration)

Steps (each builds on the previous one):
1. No configuration: ``flow.run()`` with the default LocalExecutor.
2. ``flow.executor = LocalDaskExecutor()``: same results, tasks in parallel.
3. ``Local`` storage + ``LocalRun``: built, serialised, the flow loaded back
   from storage and run -- what a Local agent does on this machine.
4. Other storage, serialised but not built (building uploads or needs a
   service): ``GCS(bucket=...)`` (pickle in a bucket), ``GitHub(repo=...,
   path=...)`` (the .py file in a repo, loaded as a script) and ``Docker(...)``
   (an image; its Dockerfile is generated offline and checked).
5. Other run configs, for other agents: ``DockerRun(image=...)`` for the
   Docker agent, ``KubernetesRun(image=..., cpu_request=...)`` for the
   Kubernetes agent. Their labels route runs to the matching agents.
6. A cluster executor, ``DaskExecutor(cluster_class=..., cluster_kwargs=...)``,
   only constructed: it would start a temporary Dask cluster per run
   (``distributed.LocalCluster`` here; in production e.g.
   ``dask_kubernetes.KubeCluster``, imported when the executor is made).

Every serialised form is checked field by field and loaded back through
``StorageSchema`` / ``RunConfigSchema``. Building and running with Docker for
real: evolving_orchestration_docker_classic.py (needs ``docker``).

Writes under DEMO_STORAGE_DIR (the harness's ``local-storage`` need).
"""
import os
import sys
import tempfile
import threading

STORAGE = os.environ.get("DEMO_STORAGE_DIR")
if not STORAGE:
    sys.exit("evolving_orchestration_classic: DEMO_STORAGE_DIR is not set: it should name an empty folder")

import prefect  # noqa: E402
from prefect import Flow, Parameter, task  # noqa: E402
from prefect.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor  # noqa: E402
from prefect.run_configs import DockerRun, KubernetesRun, LocalRun  # noqa: E402
from prefect.serialization.run_config import RunConfigSchema  # noqa: E402
from prefect.serialization.storage import StorageSchema  # noqa: E402
from prefect.storage import GCS, Docker, GitHub, Local  # noqa: E402

ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}
EXPECTED = {store: round(sum(a), 2) for store, a in ORDERS.items()}


@task
def store_total(store):
    return store, round(sum(ORDERS[store]), 2), threading.current_thread().name


@task
def load(rows):
    return {store: total for store, total, _ in rows}


with Flow("evolving-orchestration-classic") as flow:
    stores = Parameter("stores", default=sorted(ORDERS))
    rows = store_total.map(stores)
    loaded = load(rows)


def fail(message):
    raise SystemExit("evolving_orchestration_classic: " + message)


def run_and_check(f, step):
    state = f.run()
    [load_task] = f.get_tasks(name="load")
    [map_task] = f.get_tasks(name="store_total")
    if not state.is_successful() or state.result[load_task].result != EXPECTED:
        fail("step %s: run ended %r with %r" % (step, state, state.result[load_task].result))
    return {child.result[2] for child in state.result[map_task].map_states}


def expect(step, data, **fields):
    for key, value in fields.items():
        if data.get(key) != value:
            fail("step %s: serialised %s is %r, expected %r (all: %r)" % (step, key, data.get(key), value, data))


def main():
    # 1. no configuration at all
    if flow.executor is not None and not isinstance(flow.executor, LocalExecutor):
        fail("a new flow should have no executor set: %r" % (flow.executor,))
    threads = run_and_check(flow, 1)
    if threads != {threading.current_thread().name}:
        fail("step 1: the default executor should run tasks in this thread: %r" % (threads,))
    print("1. flow.run(), default executor: all tasks in the main thread")

    # 2. parallel executor
    flow.executor = LocalDaskExecutor(scheduler="threads", num_workers=3)
    threads = run_and_check(flow, 2)
    if threading.current_thread().name in threads:
        fail("step 2: mapped tasks should run on dask worker threads: %r" % (threads,))
    print("2. + LocalDaskExecutor: mapped tasks on %d worker thread(s)" % len(threads))

    # 3. Local storage + LocalRun, as a Local agent would run it
    flow.storage = Local(directory=os.path.join(STORAGE, "flows"), add_default_labels=False)
    flow.run_config = LocalRun(env={"SALES_REGION": "eu"}, labels=["laptop"])
    serialized = flow.serialize(build=True)
    expect(3, serialized["storage"], type="Local", directory=os.path.join(STORAGE, "flows"))
    expect(3, serialized["run_config"], type="LocalRun", labels=["laptop"], env={"SALES_REGION": "eu"})
    storage = StorageSchema().load(serialized["storage"])
    try:  # 0.15+: by flow name; 0.14: by the stored file's location
        stored_flow = storage.get_flow(flow.name)
    except ValueError:
        stored_flow = storage.get_flow(serialized["storage"]["flows"][flow.name])
    run_and_check(stored_flow, 3)
    print("3. + Local storage + LocalRun: built, loaded back from %s, ran" % os.path.basename(
        serialized["storage"]["flows"][flow.name]))

    # 4. other storage: serialised without building
    options = [
        (GCS(bucket="acme-prefect-flows", key="sales/etl.prefect", project="acme-data"),
         dict(type="GCS", bucket="acme-prefect-flows", key="sales/etl.prefect", project="acme-data")),
        (GitHub(repo="acme/sales-flows", path="flows/etl.py", ref="main"),
         dict(type="GitHub", repo="acme/sales-flows", path="flows/etl.py", ref="main")),
        (Docker(registry_url="registry.example.com/data", image_name="sales-etl", image_tag="2021-06",
                python_dependencies=["pandas"], env_vars={"SALES_REGION": "eu"}),
         dict(type="Docker", registry_url="registry.example.com/data", image_name="sales-etl",
              image_tag="2021-06", prefect_version=prefect.__version__)),
    ]
    for storage, fields in options:
        flow.storage = storage
        data = flow.serialize()["storage"]
        expect("4/" + fields["type"], data, **fields)
        back = StorageSchema().load(data)
        if type(back) is not type(storage):
            fail("step 4: %s storage loaded back as %r" % (fields["type"], back))
        print("4. storage %-6s -> %s" % (fields["type"], {k: v for k, v in fields.items() if k != "type"}))

    docker_storage = options[2][0]
    docker_storage.add_flow(flow)
    dockerfile_path = docker_storage.create_dockerfile_object(directory=tempfile.mkdtemp())
    with open(dockerfile_path) as f:
        dockerfile = f.read()
    for needle in ("FROM prefecthq/prefect:%s-python%d.%d" % ((prefect.__version__,) + sys.version_info[:2]),
                   "SALES_REGION='eu'", "/opt/prefect/flows/", "healthcheck.py"):
        if needle not in dockerfile:
            fail("step 4: generated Dockerfile lacks %r:\n%s" % (needle, dockerfile))
    if not any(line.startswith("RUN pip install") and "pandas" in line for line in dockerfile.splitlines()):
        fail("step 4: generated Dockerfile does not install pandas:\n%s" % dockerfile)
    print("   Docker storage writes a Dockerfile: %s" % [ln for ln in dockerfile.splitlines() if ln.startswith("FROM")][0])

    # 5. other run configs, for other agents
    options = [
        (DockerRun(image="registry.example.com/data/sales-etl:2021-06", env={"SALES_REGION": "eu"},
                   labels=["docker"]),
         dict(type="DockerRun", image="registry.example.com/data/sales-etl:2021-06", labels=["docker"],
              env={"SALES_REGION": "eu"})),
        (KubernetesRun(image="registry.example.com/data/sales-etl:2021-06", cpu_request="500m",
                       memory_limit="2Gi", service_account_name="etl", labels=["k8s", "prod"]),
         dict(type="KubernetesRun", image="registry.example.com/data/sales-etl:2021-06", cpu_request="500m",
              memory_limit="2Gi", service_account_name="etl", labels=["k8s", "prod"])),
    ]
    for run_config, fields in options:
        flow.run_config = run_config
        data = flow.serialize()["run_config"]
        expect("5/" + fields["type"], data, **fields)
        back = RunConfigSchema().load(data)
        if type(back) is not type(run_config) or back.labels != run_config.labels:
            fail("step 5: %s loaded back as %r" % (fields["type"], back))
        print("5. run_config %-13s -> %s" % (fields["type"], {k: v for k, v in fields.items() if k != "type"}))

    # 6. a cluster executor: configured, not started
    flow.executor = DaskExecutor(cluster_class="distributed.LocalCluster",
                                 cluster_kwargs={"n_workers": 4}, adapt_kwargs={"maximum": 10})
    if "executor" in flow.serialize():
        fail("step 6: the executor should not be in the metadata: it lives in the stored flow")
    if flow.executor.cluster_kwargs.get("n_workers") != 4 or flow.executor.address is not None:
        fail("step 6: executor settings %r" % (flow.executor.cluster_kwargs,))
    print("6. executor DaskExecutor(cluster_class=%s): not in the metadata, travels with the flow"
          % getattr(flow.executor.cluster_class, "__name__", flow.executor.cluster_class))
    print("evolving_orchestration_classic: ok")


if __name__ == "__main__":
    main()
