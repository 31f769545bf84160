"""Evolving orchestration, for real with Docker: build the image, run the flow in it.

evolving_orchestration_classic.py only *serialised* Docker storage and a
DockerRun config. This demo does what ``flow.register()`` and a Docker agent
would do with them, minus the backend:

1. ``Docker(image_name=..., image_tag=..., python_dependencies=[...])``
   storage: ``storage.build(push=False)`` writes the Dockerfile (base image
   ``prefecthq/prefect:<version>-python<x.y>``), pickles the flow into
   ``/opt/prefect/flows/``, builds the image and runs Prefect's healthcheck
   inside it during the build (the flow must unpickle there).
2. ``DockerRun(image=storage.name)``: the run config that points the Docker
   agent at that image.
3. A container from the image loads the stored flow and runs it, which is
   what the agent's container does (``prefect execute flow-run`` with a
   backend); the demo checks the results it prints, then removes the image.

Needs ``docker``: DOCKER_HOST (e.g. unix:///var/run/docker.sock) of an
engine that can pull ``prefecthq/prefect`` images.
"""
import json
import os
import sys
import uuid

DOCKER_HOST = os.environ.get("DOCKER_HOST")


def fail(message):
    raise SystemExit("evolving_orchestration_docker_classic: " + message)


if not DOCKER_HOST:
    fail("DOCKER_HOST is not set: this demo builds and runs a Docker image")

import docker  # noqa: E402  (a Prefect 0.x/1.x dependency)
import prefect  # noqa: E402
from prefect import Flow, Parameter, task  # noqa: E402
from prefect.run_configs import DockerRun  # noqa: E402
from prefect.storage import Docker  # noqa: E402

ORDERS = {"north": [12.5, 7.25, 30.25], "south": [40.0, 5.01], "east": [19.99]}
EXPECTED = {store: round(sum(a), 2) for store, a in ORDERS.items()}
TAG = uuid.uuid4().hex[:8]


@task
def store_total(store):
    return store, round(sum(ORDERS[store]), 2)


@task
def load(rows):
    return dict(rows)


with Flow("evolving-orchestration-docker-classic") as flow:
    stores = Parameter("stores", default=sorted(ORDERS))
    loaded = load(store_total.map(stores))

flow.storage = Docker(image_name="evolving-orchestration-classic", image_tag=TAG, base_url=DOCKER_HOST,
                      env_vars={"SALES_REGION": "eu"})
flow.run_config = DockerRun(labels=["docker"])

# Runs inside the container: rebuild the storage from its serialised form (as
# the backend hands it to the flow run), load the flow from it and run it.
IN_CONTAINER = """
import json, sys, prefect
from prefect.serialization.storage import StorageSchema
storage = StorageSchema().load(json.loads(sys.argv[1]))
try:
    flow = storage.get_flow(sys.argv[2])  # 0.15+: by name
except ValueError:
    flow = storage.get_flow(storage.flows[sys.argv[2]])  # 0.14: by location
state = flow.run()
[load] = flow.get_tasks(name="load")
print("RESULT " + json.dumps({"ok": state.is_successful(), "loaded": state.result[load].result,
                               "version": prefect.__version__}))
"""


def main():
    storage = flow.storage
    storage.add_flow(flow)
    print("building %s from %s (push=False) ..." % (storage.name, storage.base_image))
    storage.build(push=False)
    serialized = flow.serialize()["storage"]
    if serialized["type"] != "Docker" or serialized["image_tag"] != TAG or flow.name not in serialized["flows"]:
        fail("serialised Docker storage %r" % (serialized,))
    flow.run_config.image = storage.name  # what registration does for DockerRun without an image
    client = docker.DockerClient(base_url=DOCKER_HOST)
    try:
        output = client.containers.run(storage.name, ["python", "-c", IN_CONTAINER, json.dumps(serialized), flow.name],
                                       remove=True).decode()
        lines = [ln for ln in output.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            fail("the container printed no result:\n" + output[-2000:])
        result = json.loads(lines[-1][len("RESULT "):])
        if not result["ok"] or result["loaded"] != EXPECTED or result["version"] != prefect.__version__:
            fail("in the container: %r, expected %r on prefect %s" % (result, EXPECTED, prefect.__version__))
        print("container ran the stored flow: %r (prefect %s)" % (result["loaded"], result["version"]))
    finally:
        try:
            client.images.remove(storage.name, force=True)
        except docker.errors.APIError as exc:
            print("could not remove %s: %s" % (storage.name, exc))
    print("evolving_orchestration_docker_classic: ok")


if __name__ == "__main__":
    try:
        main()
    except docker.errors.DockerException as exc:
        fail("Docker at %s failed: %s" % (DOCKER_HOST, exc))
    sys.exit(0)
