"""Shared set-up for the demos that need a Prefect 1.x backend (``prefect1-backend``).

Not a demo. ``configure()`` must run before ``import prefect``: Prefect
0.x/1.x reads its configuration (backend, endpoint, key) when it is
imported, and the agent and flow-run subprocesses inherit it from the
environment. PREFECT1_API_URL is a Server (e.g. http://localhost:4200, after
``prefect server create-tenant``) or Cloud (https://api.prefect.io, with
PREFECT1_API_KEY) API address; a trailing /graphql is accepted.
"""
import os
import subprocess
import sys
import time


def configure(demo):
    """Point Prefect at the backend from PREFECT1_API_URL/KEY; exit with a clear message if unset."""
    url = os.environ.get("PREFECT1_API_URL")
    key = os.environ.get("PREFECT1_API_KEY")
    if not url:
        sys.exit("%s: PREFECT1_API_URL is not set: this demo needs a Prefect 1.x Server or Cloud API "
                 "(and PREFECT1_API_KEY for Cloud)" % demo)
    base = url.rstrip("/")
    if base.endswith("/graphql"):
        base = base[: -len("/graphql")]
    if key:
        os.environ["PREFECT__BACKEND"] = "cloud"
        os.environ["PREFECT__CLOUD__ENDPOINT"] = base
        os.environ["PREFECT__CLOUD__API_KEY"] = key
    else:
        os.environ["PREFECT__BACKEND"] = "server"
        os.environ["PREFECT__SERVER__ENDPOINT"] = base
    return base, key


def prefect_exe():
    """The `prefect` CLI installed next to this interpreter."""
    return os.path.join(os.path.dirname(sys.executable), "prefect")


def start_local_agent(labels, log_path, extra=()):
    """Start `prefect agent local start` with these labels, output to log_path; returns the Popen."""
    args = [prefect_exe(), "agent", "local", "start", "--show-flow-logs"]
    for label in labels:
        args += ["--label", label]
    log = open(log_path, "w")
    return subprocess.Popen(args + list(extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process):
    """Stop a process this demo started (and only that one)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path, chars=3000):
    if path and os.path.exists(path):
        with open(path) as f:
            return f.read()[-chars:]
    return ""


def wait_finished(client, flow_run_id, timeout=180):
    """Poll the backend until the flow run is finished; returns its FlowRunInfoResult."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get_flow_run_info(flow_run_id)
        if info.state.is_finished():
            return info
        time.sleep(2)
    raise TimeoutError("flow run %s not finished after %ds (is an agent with matching labels running?)"
                       % (flow_run_id, timeout))


def explain_connection_errors(demo, base, main):
    """Run main(); turn 'cannot connect' and backend rejections into one clear line."""
    try:
        main()
    except Exception as exc:
        name = type(exc).__name__
        if type(exc).__module__.startswith(("requests", "urllib3")):
            sys.exit("%s: cannot reach the 1.x backend at %s: %s" % (demo, base, exc))
        if name == "ClientError":
            sys.exit("%s: the backend rejected a request: %s" % (demo, exc))
        raise
