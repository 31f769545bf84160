"""One flow, orchestrated three ways, step by step (Prefect 2.12+/3.x).

The same flow (``sum_squares`` from _flows.py) moves from "run it from a
long-lived Python process" to "run it on shared infrastructure":

1. **Serve it.** ``flow.serve(name=...)`` (2.12+) registers a deployment and
   then *is* the runner: a long-lived process that polls the API for runs of
   that deployment and executes each one in a subprocess. No work pool, no
   worker. Here it runs in a child process; we trigger a run with
   ``run_deployment``, check it completed, and stop serving. (In one process,
   ``serve(flow_a.to_deployment(...), flow_b.to_deployment(...))`` serves
   several flows at once.)
2. **Deploy it to a work pool.** The deployment now names a *process* work
   pool (DEMO_WORK_POOL); a worker polling that pool runs it. Code and
   infrastructure are decoupled: anyone can trigger it, the worker decides
   where it runs.
3. **Docker and Kubernetes, configured but not run.** A work pool's type
   comes with a *base job template*: a JSON schema of ``variables`` (image,
   namespace, env, ...) and a ``job_configuration`` with ``{{ placeholders }}``
   (for Kubernetes, a whole Job manifest). A deployment's ``job_variables``
   override the defaults, and the worker renders the template into the job
   it submits. We create docker- and kubernetes-type pools on the server,
   point a deployment at the Kubernetes one, validate its job variables
   against the template's schema, and render the manifest ourselves with
   ``prefect.utilities.templating.apply_values`` (what the worker does),
   without a Docker daemon or a cluster. evolving_orchestration_docker_modern.py
   really runs on Docker.

The templates come from the worker metadata Prefect ships for the work-pool
UI (``prefect/server/api/collections_data``, newer releases); where it is
missing (before ~2.13) the demo uses a small template of the same shape.

What changed from the classic (1.x) era: there, a flow was *registered* with
a *run config* (``KubernetesRun(image=...)``, ``DockerRun``) and an *agent*
with matching *labels* picked it up. 2.x first had agents plus infrastructure
blocks (``KubernetesJob``); workers and work pools (2.10) replaced both, and
``flow.serve`` (2.12) removed the need for any of it for simple cases.

Needs: PREFECT_API_URL, DEMO_WORK_POOL with a worker, DEMO_STORAGE_DIR.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
POOL = os.environ.get("DEMO_WORK_POOL")
STORAGE_DIR = os.environ.get("DEMO_STORAGE_DIR") or tempfile.mkdtemp(
    prefix="prefect-demo-results-"
)
# Prefect reads its settings at import: set the result folder first. Served
# and worker runs get the same value through their environment.
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = STORAGE_DIR

from prefect import get_client  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402
from prefect.utilities.asyncutils import sync_compatible  # noqa: E402
from prefect.utilities.templating import apply_values  # noqa: E402

sys.path.insert(0, str(HERE))
from _deploy import deploy_to_pool  # noqa: E402
from _flows import expected  # noqa: E402

WAIT_SECONDS = 120
SUFFIX = uuid.uuid4().hex[:8]

# The child process that serves the flow: ``flow.serve`` blocks until stopped.
SERVE_SCRIPT = """
import sys
sys.path.insert(0, %r)
from _flows import sum_squares
sum_squares.serve(name=%r)
"""


def fail(message):
    raise SystemExit("evolving_orchestration_modern: " + message)


def read_result(state):
    try:
        return state.result(fetch=True)  # 2.x and early 3.x
    except TypeError as exc:
        if "fetch" not in str(exc):
            raise
        return state.result()  # newer 3.x always fetches


def check_run(flow_run, numbers, label, where):
    state = flow_run.state
    if not state.is_completed():
        fail("%s: run ended %s (%s)" % (where, state.type.value, state.message))
    result = read_result(state)
    want = expected(numbers, label)
    got = {k: result.get(k) for k in want}
    if got != want:
        fail("%s: result %r, expected %r" % (where, got, want))
    if result["pid"] == os.getpid():
        fail("%s: the run happened in this process" % where)
    print("%s: run %s completed in pid %s, total %s" % (where, flow_run.name, result["pid"], result["total"]))


@sync_compatible
async def deployment_exists(name):
    async with get_client() as client:
        try:
            await client.read_deployment_by_name(name)
            return True
        except Exception:
            return False


def step1_serve():
    name = "served-" + SUFFIX
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT % (str(HERE), name)],
        cwd=str(HERE),
    )
    try:
        deadline = time.time() + 60
        while not deployment_exists("sum-squares/" + name):
            if proc.poll() is not None:
                fail("step 1: the serving process exited with %s" % proc.returncode)
            if time.time() > deadline:
                fail("step 1: flow.serve did not register its deployment in 60 s")
            time.sleep(1)
        print("step 1: serving sum-squares/%s from pid %s" % (name, proc.pid))
        flow_run = run_deployment(
            name="sum-squares/" + name,
            parameters={"numbers": [1, 2, 3], "label": "served"},
            timeout=WAIT_SECONDS,
            poll_interval=1,
        )
        check_run(flow_run, [1, 2, 3], "served", "step 1 (serve)")
    finally:
        # Stop serving as Ctrl+C does. (2.x's SIGTERM handler, sent soon after a run ends, waits
        # about 20 s for the run's process: measured on 2.19.9.)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("step 1: stopped serving")


def step2_work_pool():
    full_name, deployment_id = deploy_to_pool(
        "sum_squares", POOL, {"PREFECT_LOCAL_STORAGE_PATH": STORAGE_DIR}, "evolving"
    )
    print("step 2: deployed %s to process pool %r" % (full_name, POOL))
    flow_run = run_deployment(
        name=full_name,
        parameters={"numbers": [4, 5], "label": "pooled"},
        timeout=WAIT_SECONDS,
        poll_interval=1,
    )
    if str(flow_run.deployment_id) != str(deployment_id):
        fail("step 2: run belongs to deployment %s" % flow_run.deployment_id)
    check_run(flow_run, [4, 5], "pooled", "step 2 (work pool)")


# --- step 3: job templates ----------------------------------------------------

FALLBACK_TEMPLATES = {
    # Same shape as the real ones, trimmed: variables (a JSON schema) and a
    # job_configuration with placeholders.
    "kubernetes": {
        "variables": {
            "type": "object",
            "properties": {
                "image": {"type": "string"},
                "namespace": {"type": "string", "default": "default"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "image_pull_policy": {"type": "string", "enum": ["IfNotPresent", "Always", "Never"]},
            },
        },
        "job_configuration": {
            "namespace": "{{ namespace }}",
            "job_manifest": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"namespace": "{{ namespace }}"},
                "spec": {"template": {"spec": {"containers": [{
                    "name": "prefect-job",
                    "image": "{{ image }}",
                    "env": "{{ env }}",
                    "imagePullPolicy": "{{ image_pull_policy }}",
                }]}}},
            },
        },
    },
    "docker": {
        "variables": {
            "type": "object",
            "properties": {
                "image": {"type": "string"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "auto_remove": {"type": "boolean", "default": False},
            },
        },
        "job_configuration": {"image": "{{ image }}", "env": "{{ env }}", "auto_remove": "{{ auto_remove }}"},
    },
}


def shipped_templates():
    """Base job templates of the docker/kubernetes worker types, as shipped."""
    try:
        import prefect.server.api.collections_data as data

        folder = Path(list(data.__path__)[0]) / "views"
        meta = json.loads((folder / "aggregate-worker-metadata.json").read_text())
        return {
            "kubernetes": meta["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"],
            "docker": meta["prefect-docker"]["docker"]["default_base_job_configuration"],
        }, "shipped worker metadata"
    except (ImportError, OSError, KeyError):
        return FALLBACK_TEMPLATES, "the demo's own trimmed templates"


def render(template, job_variables):
    """What a worker does: defaults, overridden by the deployment's values."""
    values = {
        key: spec["default"]
        for key, spec in template["variables"]["properties"].items()
        if "default" in spec
    }
    values.update(job_variables)
    return apply_values(template["job_configuration"], values)


@sync_compatible
async def create_pools_and_deployment(templates, job_variables):
    from prefect.client.schemas.actions import WorkPoolCreate

    names = {}
    async with get_client() as client:
        for kind, template in templates.items():
            name = "%s-pool-%s" % (kind, SUFFIX)
            await client.create_work_pool(
                work_pool=WorkPoolCreate(name=name, type=kind, base_job_template=template)
            )
            pool = await client.read_work_pool(name)
            if pool.type != kind or pool.base_job_template != template:
                fail("step 3: pool %s read back as %r" % (name, pool.type))
            names[kind] = name
        flow_id = await client.create_flow_from_name("sum-squares")
        kwargs = dict(
            flow_id=flow_id,
            name="on-k8s-" + SUFFIX,
            work_pool_name=names["kubernetes"],
            entrypoint="_flows.py:sum_squares",
        )
        try:
            deployment_id = await client.create_deployment(job_variables=job_variables, **kwargs)
        except TypeError:  # before job_variables got its name (2.x)
            deployment_id = await client.create_deployment(infra_overrides=job_variables, **kwargs)
        deployment = await client.read_deployment(deployment_id)
        stored = getattr(deployment, "job_variables", None) or getattr(deployment, "infra_overrides", None)
        if deployment.work_pool_name != names["kubernetes"] or stored != job_variables:
            fail("step 3: deployment read back with pool %r, variables %r" % (deployment.work_pool_name, stored))
    return names, stored


def step3_templates():
    import jsonschema

    templates, origin = shipped_templates()
    print("step 3: docker/kubernetes base job templates from %s" % origin)
    job_variables = {
        "image": "registry.example.com/forecast:1.4",
        "namespace": "data-team",
        "env": {"PREFECT_LOGGING_LEVEL": "DEBUG"},
        "image_pull_policy": "Always",
    }
    names, stored = create_pools_and_deployment(templates, job_variables)

    k8s = templates["kubernetes"]
    jsonschema.validate(stored, k8s["variables"])  # what the UI/server checks
    try:
        jsonschema.validate(dict(stored, image_pull_policy="Sometimes"), k8s["variables"])
        fail("step 3: an invalid image_pull_policy passed validation")
    except jsonschema.ValidationError as exc:
        print("step 3: invalid job variables rejected: %s" % exc.message)

    # The worker adds per-run values (the run's name, the command to start
    # it) and, for Kubernetes, turns the env dict into the container's list.
    config = render(k8s, dict(stored, name="sum-squares-run", command="python -m prefect.engine"))
    manifest = config["job_manifest"]
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    checks = {
        "kind": (manifest["kind"], "Job"),
        "namespace": (manifest["metadata"]["namespace"], "data-team"),
        "generateName": (manifest["metadata"].get("generateName", "sum-squares-run-"), "sum-squares-run-"),
        "image": (container["image"], "registry.example.com/forecast:1.4"),
        "imagePullPolicy": (container["imagePullPolicy"], "Always"),
        "env": (container["env"], {"PREFECT_LOGGING_LEVEL": "DEBUG"}),
    }
    for key, (got, want) in checks.items():
        if got != want:
            fail("step 3: rendered manifest %s is %r, expected %r" % (key, got, want))
    leftovers = [s for s in json.dumps(config).split('"') if "{{" in s and "}}" in s]
    if leftovers:
        fail("step 3: placeholders left unrendered: %r" % leftovers)
    print("step 3: kubernetes Job manifest rendered for pool %s:" % names["kubernetes"])
    print(json.dumps(manifest, indent=1)[:800])

    docker = render(templates["docker"], {"image": "forecast:1.4", "env": {"A": "1"}})
    if docker["image"] != "forecast:1.4" or docker["env"] != {"A": "1"}:
        fail("step 3: rendered docker config is %r" % docker)
    print("step 3: docker container config rendered for pool %s: image %s" % (names["docker"], docker["image"]))


def main():
    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: serving and workers need a real server")
    if not POOL:
        fail("DEMO_WORK_POOL is not set: name a process work pool with a worker")
    step1_serve()
    step2_work_pool()
    step3_templates()
    print("evolving_orchestration_modern: ok, served, pooled, and templated")


if __name__ == "__main__":
    main()
