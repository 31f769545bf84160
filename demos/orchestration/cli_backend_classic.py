"""The Prefect 1.x command line against a backend (0.15 - 1.x).

The commands a classic team ran every day, in order, each checked on its
exit code and output:

    prefect backend server|cloud                 which kind of API (saved in ~/.prefect)
    prefect auth login --key KEY                 Cloud only: store an API key
    prefect auth status                          which API, which tenant (with Server the
                                                 auth group exits 2: "Server does not have
                                                 authentication")
    prefect create project NAME [--skip-if-exists]
    prefect register --project NAME -p FILE --label L
                                                 build storage + upload metadata; a second call
                                                 with nothing changed is "Skipped (metadata unchanged)"
    prefect get flows --project NAME
    prefect agent local start --label L          (started in the background)
    prefect run --project NAME --name FLOW --param k=v --watch
                                                 create a run; the agent executes it; watch it
    prefect run --project NAME --name FLOW --execute
                                                 create a run and execute it here, no agent
    prefect delete project NAME

The flows are the two in _cli_flows.py. The local half of the CLI (run
-p/-m, build) is in cli_classic.py.

Needs ``prefect1-backend`` (PREFECT1_API_URL, and PREFECT1_API_KEY for Cloud).
"""
import os
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _backend1 import configure, prefect_exe, start_local_agent, stop, tail  # noqa: E402

BASE_URL, API_KEY = configure("cli_backend_classic")

import prefect  # noqa: E402

FLOWS_FILE = os.path.join(HERE, "_cli_flows.py")
TOKEN = uuid.uuid4().hex[:8]
PROJECT = "cli-demo-" + TOKEN
LABEL = "cli-demo-" + TOKEN
# The CLI keeps its API key on disk after `auth login`; a key in the config
# (environment) makes `auth login` refuse, so the CLI gets none.
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PREFECT__CLOUD__API_KEY"}


def fail(message, output=""):
    if output:
        print(output[-3000:])
    raise SystemExit("cli_backend_classic: " + message)


def cli(*args, **kwargs):
    expect = kwargs.get("expect", ())
    show = " ".join("KEY" if API_KEY and a == API_KEY else a for a in args)
    proc = subprocess.run([prefect_exe()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=kwargs.get("timeout", 180), env=CLI_ENV)
    print("$ prefect %s  -> exit %d" % (show, proc.returncode))
    if proc.returncode != kwargs.get("code", 0):
        fail("`prefect %s` exited %d" % (show, proc.returncode), proc.stdout)
    for needle in expect:
        if needle not in proc.stdout:
            fail("`prefect %s`: %r not in the output" % (show, needle), proc.stdout)
    return proc.stdout


def main():
    if not prefect.__version__.split(".")[0] == "1" and not prefect.__version__.startswith("0.15."):
        fail("prefect %s: this CLI (register -p, run --name, auth --key) is 0.15+" % prefect.__version__)
    backend = "cloud" if API_KEY else "server"
    cli("backend", backend, expect=["Backend switched to " + backend])
    if API_KEY:
        cli("auth", "login", "--key", API_KEY, expect=["Logged in to Prefect Cloud tenant"])
        cli("auth", "status", expect=["You are connecting to", "You are logged in to tenant"])
    else:  # the auth group refuses to work against Server
        cli("auth", "status", code=2, expect=["Prefect Server does not have authentication"])

    cli("create", "project", PROJECT, "--description", "CLI demo", expect=[PROJECT + " created"])
    cli("create", "project", PROJECT, "--skip-if-exists", expect=[PROJECT + " already exists"])
    agent, agent_log = None, os.path.join(tempfile.mkdtemp(), "agent.log")
    try:
        out = cli("register", "--project", PROJECT, "-p", FLOWS_FILE, "--label", LABEL,
                  expect=["Registering 'cli-etl'... Done", "Registering 'cli-hello'... Done", "└── Version: 1"])
        cli("register", "--project", PROJECT, "-p", FLOWS_FILE, "--label", LABEL,
            expect=["Registering 'cli-etl'... Skipped (metadata unchanged)"])
        cli("get", "flows", "--project", PROJECT, expect=["cli-etl", "cli-hello"])

        # An agent with the flows' label (it adds its hostname label, as Local storage did).
        agent = start_local_agent([LABEL], agent_log)
        cli("run", "--project", PROJECT, "--name", "cli-hello", "--param", "name=Marvin", "--watch",
            expect=["Flow run succeeded!", "Hello, Marvin!"])
        cli("run", "--project", PROJECT, "--name", "cli-etl", "--param", 'stores=["north"]', "--execute",
            expect=["Flow run succeeded!", 'LOADED {"north": 50.0}'])
        cli("get", "flow-runs", "--project", PROJECT, "--flow", "cli-etl", expect=["cli-etl", "Success"])
    except SystemExit:
        print("--- agent log (tail) ---\n" + tail(agent_log))
        raise
    finally:
        stop(agent)
        cli("delete", "project", PROJECT, expect=[PROJECT + " deleted"])
    print("cli_backend_classic: ok")


if __name__ == "__main__":
    main()
