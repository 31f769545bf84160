"""Register a flow from _flows.py as a deployment on a process work pool.

Not a demo on its own: flow_of_flows_modern.py uses it to set up the child
deployment it triggers. Deploying is the subject of deployment_worker_modern.py
(3.x, 2.19.6+) and deployment_worker_2x.py (2.10-2.x); this helper simply
picks whichever of those two ways the installed Prefect supports, so that the
orchestration demo can focus on orchestration.
"""
import os
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent


def deploy_to_pool(function_name, pool, env, name_prefix="demo"):
    """Deploy _flows.<function_name> to `pool`; return (full name, id).

    `env` becomes the environment of every run of the deployment (a process
    pool's ``env`` job variable). The name is unique, so repeated or
    concurrent runs of a demo do not overwrite each other's deployments.
    """
    name = "%s-%s" % (name_prefix, uuid.uuid4().hex[:8])
    entrypoint = "_flows.py:" + function_name
    try:
        # 2.19.6+ and 3.x: a local folder is a code source of its own.
        from prefect.runner.storage import LocalStorage  # noqa: F401
    except ImportError:
        LocalStorage = None

    if LocalStorage is not None:
        from prefect import flow

        remote_flow = flow.from_source(source=str(HERE), entrypoint=entrypoint)
        deployment_id = remote_flow.deploy(
            name=name,
            work_pool_name=pool,
            job_variables={"env": env},
            print_next_steps=False,
        )
        return "%s/%s" % (remote_flow.name, name), deployment_id

    # 2.10 to 2.19.5: Deployment.build_from_flow, with the folder as `path`.
    import _flows
    from prefect.deployments import Deployment

    the_flow = getattr(_flows, function_name)
    overrides = "job_variables" if "job_variables" in Deployment.__fields__ else "infra_overrides"
    deployment = Deployment.build_from_flow(
        flow=the_flow,
        name=name,
        work_pool_name=pool,
        path=str(HERE),
        entrypoint=entrypoint,
        # build_from_flow creates this file if missing: keep it out of the repo.
        ignore_file=os.path.join(tempfile.mkdtemp(prefix="prefect-demo-"), ".prefectignore"),
        **{overrides: {"env": env}}
    )
    return "%s/%s" % (the_flow.name, name), deployment.apply()
