"""Step 3 for real: the same flow run by a Docker worker (Prefect 2.19.6+/3.x).

evolving_orchestration_modern.py stops at *configuring* Docker and
Kubernetes pools. This one runs on Docker: it creates a ``docker`` work
pool, starts ``prefect worker start --pool <pool> --type docker`` (from the
``prefect-docker`` package), deploys ``_flows.sum_squares`` to the pool with
job variables for the container (image, volumes, env), runs it with
``run_deployment`` and checks the result came from a container.

The code reaches the container without building an image: the demo folder
and the result folder are bind-mounted at the same paths inside the
container (``volumes`` job variable), so the deployment's local-folder code
source and result storage work unchanged. In production you would bake the
code into the image (``flow.deploy(image=DockerImage(...))``) or pull it
from git.

Classic (1.x) version: ``DockerRun(image=...)`` run config and
``prefect agent docker start``.

Needs: a Docker daemon (DOCKER_HOST), PREFECT_API_URL reachable from
containers (set DEMO_CONTAINER_API_URL if the containers must use another
address, e.g. http://host.docker.internal:4200/api), and the
``prefect-docker`` package. Optional: DEMO_DOCKER_IMAGE (default: the
``prefecthq/prefect`` image of this Prefect and Python).
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(prefix="prefect-demo-results-")
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR  # before importing prefect

import prefect  # noqa: E402
from prefect import flow  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402

sys.path.insert(0, str(HERE))
from _flows import expected  # noqa: E402

PREFECT = os.path.join(os.path.dirname(sys.executable), "prefect")
SUFFIX = uuid.uuid4().hex[:8]
POOL = "docker-" + SUFFIX
IMAGE = os.environ.get("DEMO_DOCKER_IMAGE") or "prefecthq/prefect:%s-python%d.%d" % (
    prefect.__version__, sys.version_info[0], sys.version_info[1])


def fail(message):
    raise SystemExit("evolving_orchestration_docker_modern: " + message)


def main():
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        fail("PREFECT_API_URL is not set")
    if not os.environ.get("DOCKER_HOST"):
        fail("DOCKER_HOST is not set: this demo needs a Docker daemon")
    try:
        import prefect_docker  # noqa: F401
    except ImportError:
        fail("the prefect-docker package is not installed")

    subprocess.run([PREFECT, "work-pool", "create", POOL, "--type", "docker"], check=True)
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL, "--type", "docker"])
    try:
        time.sleep(5)
        remote = flow.from_source(source=str(HERE), entrypoint="_flows.py:sum_squares")
        name = "in-docker-" + SUFFIX
        remote.deploy(
            name=name,
            work_pool_name=POOL,
            image=IMAGE,
            build=False,
            push=False,
            job_variables={
                "volumes": ["%s:%s" % (HERE, HERE), "%s:%s" % (STORAGE_DIR, STORAGE_DIR)],
                "env": {
                    "PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR,
                    "PREFECT_API_URL": os.environ.get("DEMO_CONTAINER_API_URL", api_url),
                },
                "auto_remove": True,
            },
            print_next_steps=False,
        )
        run = run_deployment(name="sum-squares/" + name, parameters={"numbers": [3, 4], "label": "docker"},
                             timeout=300, poll_interval=2)
        if not run.state.is_completed():
            fail("run ended %s: %s" % (run.state.type.value, run.state.message))
        try:
            result = run.state.result(fetch=True)
        except TypeError:
            result = run.state.result()
        if {k: result[k] for k in ("label", "squares", "total")} != expected([3, 4], "docker"):
            fail("result %r" % (result,))
        if result["host"] == os.uname().nodename:
            fail("the run reports this host's name, not a container's")
        print("evolving_orchestration_docker_modern: ok, container %s computed %s" % (result["host"], result["total"]))
    finally:
        worker.terminate()
        worker.wait(30)


if __name__ == "__main__":
    main()
