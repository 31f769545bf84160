"""Evolving ETL, level 5: storage, run config, executor (Prefect "Core" API, 0.14+).

Levels 1-4 ran the flow in the script that defined it. To hand a flow to a
backend (Prefect Server/Cloud) and an agent, 0.14 split its deployment
settings into three objects that all live on the flow:

- ``flow.storage``: *where the flow's code is kept* so an agent can load it
  later. ``Local(directory=...)`` pickles the flow to a file on this machine.
- ``flow.run_config``: *how and where a run is started*, read by the agent.
  ``LocalRun(env=..., working_dir=..., labels=[...])`` is for the Local
  agent; the labels decide which agents may pick runs up.
- ``flow.executor``: *how the tasks of one run are executed*.
  ``LocalDaskExecutor(scheduler="threads")`` runs independent tasks (here
  the mapped per-store children) in parallel threads via dask.

(Before 0.14 one "environment" object mixed run config and executor:
``prefect.environments``, removed in 1.0.)

What the demo does, as registration and an agent would:
1. ``flow.serialize(build=True)`` builds the storage (writes the pickle) and
   returns the metadata a backend stores: tasks, edges, parameters,
   ``storage`` and ``run_config`` dicts. The executor is *not* in it: it
   travels inside the pickled flow. The demo checks those fields, and that
   ``RunConfigSchema`` loads the run config back.
2. It rebuilds the storage object from its serialized dict alone, loads the
   flow from it (``storage.get_flow``: by location in 0.14, by flow name
   from 0.15), and runs that copy; the tasks run on dask threads.
Registration itself needs a backend: etl_level5_register_classic.py.

Writes under DEMO_STORAGE_DIR (the harness's ``local-storage`` need).
"""
import inspect
import os
import sys
import threading

STORAGE = os.environ.get("DEMO_STORAGE_DIR")
if not STORAGE:
    sys.exit("etl_level5_classic: DEMO_STORAGE_DIR is not set: it should name an empty folder")

from prefect import Flow, Parameter, task  # noqa: E402
from prefect.executors import LocalDaskExecutor  # noqa: E402
from prefect.run_configs import LocalRun  # noqa: E402
from prefect.serialization.run_config import RunConfigSchema  # noqa: E402
from prefect.serialization.storage import StorageSchema  # noqa: E402
from prefect.storage import Local  # noqa: E402

ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}
FLOWS_DIR = os.path.join(STORAGE, "flows")


@task
def list_stores(stores):
    return list(stores)


@task
def store_total(store):
    # Mapped: one child per store, run on the executor's worker threads.
    return {"store": store, "total": round(sum(ORDERS[store]), 2), "thread": threading.current_thread().name}


@task
def load(rows):
    return {row["store"]: row["total"] for row in rows}


with Flow("etl-level5-classic") as flow:
    stores = Parameter("stores", default=["north", "south", "east"])
    rows = store_total.map(list_stores(stores))
    loaded = load(rows)

# Deployment settings: three separate objects since 0.14.
flow.storage = Local(directory=FLOWS_DIR, add_default_labels=False)
flow.run_config = LocalRun(
    env={"SALES_REGION": "eu"}, working_dir=STORAGE, labels=["etl", "laptop"]
)
flow.executor = LocalDaskExecutor(scheduler="threads", num_workers=3)


def fail(message):
    raise SystemExit("etl_level5_classic: " + message)


def main():
    # --- 1. what registration would send -----------------------------------
    serialized = flow.serialize(build=True)
    storage_dict, run_config_dict = serialized["storage"], serialized["run_config"]
    print("storage: %s" % {k: storage_dict[k] for k in ("type", "directory", "flows")})
    print("run_config: %s" % run_config_dict)

    if storage_dict["type"] != "Local" or storage_dict["directory"] != FLOWS_DIR:
        fail("serialized storage is %r" % (storage_dict,))
    location = storage_dict["flows"].get(flow.name)
    if not location or not os.path.isfile(location) or not location.startswith(FLOWS_DIR):
        fail("built storage should map %r to a pickle under %s: %r" % (flow.name, FLOWS_DIR, storage_dict["flows"]))
    if run_config_dict["type"] != "LocalRun" or run_config_dict["labels"] != ["etl", "laptop"]:
        fail("serialized run config is %r" % (run_config_dict,))
    if run_config_dict["env"] != {"SALES_REGION": "eu"} or run_config_dict["working_dir"] != STORAGE:
        fail("serialized run config env/working_dir: %r" % (run_config_dict,))
    if "executor" in serialized:
        fail("the executor should not be in the flow's metadata")
    if [p["name"] for p in serialized["parameters"]] != ["stores"]:
        fail("serialized parameters: %r" % (serialized["parameters"],))
    if len(serialized["tasks"]) != 4 or len(serialized["edges"]) != 3:
        fail("serialized graph has %d tasks / %d edges" % (len(serialized["tasks"]), len(serialized["edges"])))

    run_config = RunConfigSchema().load(run_config_dict)
    if not isinstance(run_config, LocalRun) or run_config.labels != {"etl", "laptop"}:
        fail("RunConfigSchema loaded %r" % (run_config,))

    # --- 2. what an agent's flow run does: load from storage, run ----------
    storage = StorageSchema().load(storage_dict)
    if "flow_name" in inspect.signature(storage.get_flow).parameters:
        loaded_flow = storage.get_flow(flow.name)  # 0.15+
    else:
        loaded_flow = storage.get_flow(location)  # 0.14: by location
    if loaded_flow is flow or not isinstance(loaded_flow.executor, LocalDaskExecutor):
        fail("the flow loaded from storage should be a copy carrying its executor: %r" % (loaded_flow.executor,))

    state = loaded_flow.run(parameters={"stores": ["north", "south", "east"]})
    if not state.is_successful():
        fail("flow run from storage ended %r" % (state,))
    [load_task] = loaded_flow.get_tasks(name="load")
    [map_task] = loaded_flow.get_tasks(name="store_total")
    totals = state.result[load_task].result
    expected = {store: round(sum(amounts), 2) for store, amounts in ORDERS.items()}
    if totals != expected:
        fail("loaded %r, expected %r" % (totals, expected))
    threads = {child.result["thread"] for child in state.result[map_task].map_states}
    if threading.current_thread().name in threads:
        fail("mapped children ran on the main thread, not on the dask executor: %r" % (threads,))
    print("ran the stored copy with LocalDaskExecutor: %r on %d worker thread(s)" % (totals, len(threads)))
    print("etl_level5_classic: ok")


if __name__ == "__main__":
    main()
