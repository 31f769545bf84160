"""The Prefect 1.x command line, the parts that need no backend (0.15 - 1.x).

The classic CLI is ``prefect <group> <command>``. Without a backend it can
run and build flows; everything that stores something (``create project``,
``register``, ``auth``, ``agent ... start``, ``run --name``) needs Server or
Cloud: see cli_backend_classic.py.

What it runs, each checked on exit code and output:
- ``prefect version``
- ``prefect run -p FILE --name FLOW --param k=v --context k=v --log-level
  DEBUG``: a local run of one of several flows in a file (without ``--name``
  the CLI refuses and lists them); ``--param`` values are JSON, ``--context``
  values land in ``prefect.context``, ``--log-level`` shows DEBUG lines.
- ``prefect run -m MODULE --name FLOW``: the same from an importable module.
- ``prefect build -p FILE --label L -o flows.json``: builds each flow's
  storage (default: Local, pickled under ~/.prefect/flows, which also adds
  this machine's hostname as a label; default run config: UniversalRun)
  and writes the metadata that ``prefect register --json flows.json`` would
  upload later; the demo reads it back.

The local ``prefect run`` and ``prefect build`` arrived in 0.15.0 (0.14 had
only ``prefect run flow`` against a backend, and ``prefect register flow``).
"""
import json
import os
import subprocess
import sys
import tempfile

import prefect

HERE = os.path.dirname(os.path.abspath(__file__))
FLOWS_FILE = os.path.join(HERE, "_cli_flows.py")


def fail(message, output=""):
    if output:
        print(output[-3000:])
    raise SystemExit("cli_classic: " + message)


def prefect_cli(*args, **env):
    exe = os.path.join(os.path.dirname(sys.executable), "prefect")
    proc = subprocess.run([exe] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120, env=dict(os.environ, **env))
    print("$ prefect %s  -> exit %d" % (" ".join(args), proc.returncode))
    return proc.returncode, proc.stdout


def main():
    code, out = prefect_cli("version")
    if code != 0 or out.strip() != prefect.__version__:
        fail("prefect version printed %r" % (out.strip(),), out)

    code, out = prefect_cli("run", "--help")
    if "--path" not in out:
        fail("prefect %s has no local `prefect run --path` (it arrived in 0.15.0)" % prefect.__version__, out)

    # Several flows in one file: --name is required.
    code, out = prefect_cli("run", "-p", FLOWS_FILE)
    if code == 0 or "cli-etl" not in out or "cli-hello" not in out:
        fail("without --name the CLI should refuse and list both flows: exit %d" % code, out)

    code, out = prefect_cli("run", "-p", FLOWS_FILE, "--name", "cli-etl", "--param", 'stores=["north","east"]',
                            "--context", "run_label=nightly", "--log-level", "DEBUG")
    for needle in ('LOADED {"east": 19.99, "north": 50.0}', "report run label: nightly", "Flow run succeeded!"):
        if needle not in out:
            fail("run -p --name cli-etl: %r not in the output (exit %d)" % (needle, code), out)
    if code != 0:
        fail("run -p --name cli-etl exited %d" % code, out)
    print("    LOADED line, context value and DEBUG log all present")

    code, out = prefect_cli("run", "-m", "_cli_flows", "--name", "cli-hello", "--param", "name=Marvin",
                            PYTHONPATH=HERE)
    if code != 0 or "Hello, Marvin!" not in out:
        fail("run -m _cli_flows --name cli-hello: exit %d" % code, out)
    print("    Hello, Marvin!")

    output = os.path.join(tempfile.mkdtemp(), "flows.json")
    code, out = prefect_cli("build", "-p", FLOWS_FILE, "--label", "laptop", "-o", output)
    if code != 0 or not os.path.isfile(output):
        fail("prefect build: exit %d, no %s" % (code, output), out)
    with open(output) as f:
        built = json.load(f)
    flows = {f["name"]: f for f in built["flows"]}
    if sorted(flows) != ["cli-etl", "cli-hello"]:
        fail("flows.json holds %r" % (sorted(flows),), out)
    etl = flows["cli-etl"]
    if etl["storage"]["type"] != "Local" or "laptop" not in etl["run_config"]["labels"]:
        fail("cli-etl was built with storage %r, run config %r" % (etl["storage"], etl["run_config"]), out)
    if [p["name"] for p in etl["parameters"]] != ["stores"]:
        fail("cli-etl parameters %r" % (etl["parameters"],), out)
    print("    flows.json: %s, storage %s, run config %s %s" % (
        sorted(flows), etl["storage"]["type"], etl["run_config"]["type"], etl["run_config"]["labels"]))
    print("cli_classic: ok")


if __name__ == "__main__":
    main()
