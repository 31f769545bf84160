"""Evolving ETL, the other telling: running flows with ``prefect run`` (0.15+).

etl_level1_classic.py runs its flow from Python with ``flow.run()``. From
0.15 the same file can be run from a terminal, no code change needed:

    prefect run -p demos/core/etl_level1_classic.py
    prefect run -p demos/core/etl_cli_classic.py --param currency=USD --param 'stores=["north","east"]'

What this shows:
- ``prefect run -p FILE`` (or ``-m module``) loads the file, finds the Flow
  object(s) defined at module level (the ``if __name__ == "__main__"`` block
  does not run) and calls ``flow.run()`` in-process, with the run's logs
  printed as ``└── time | LEVEL | message``.
- ``--param key=value`` sets a Parameter; the value is read as JSON, and a
  bare word that is not JSON becomes a string. ``--param-file`` reads a JSON
  file of them.
- The exit code says how the run ended: 0 with "Flow run succeeded!", 1 with
  "Flow run failed!" -- so shell scripts and CI can use it.
- The same command with ``--name``/``--project`` (no ``-p``) creates a run
  in a backend instead; see demos/orchestration/cli_backend_classic.py.

Before 0.15, ``prefect run flow --name ... --project ...`` existed only for
flows registered with a backend; there was no local ``prefect run`` (the
demo says so and stops if it finds no ``--path`` option).

This script is both the flow file (for the CLI) and the demo that drives it:
run as a script it calls the CLI of the same interpreter on level 1 and on
itself, and checks the output and exit codes.
"""
import json
import os
import subprocess
import sys
import tempfile

import prefect
from prefect import Flow, Parameter, task

ORDERS = [("north", 12.5), ("south", 40.0), ("north", 7.25), ("east", 19.99), ("south", 5.01), ("north", 30.25)]
RATES = {"EUR": 1.0, "USD": 1.2}


@task
def extract():
    return list(ORDERS)


@task
def transform(rows, stores):
    totals = {}
    for store, amount in rows:
        if store in stores:
            totals[store] = round(totals.get(store, 0.0) + amount, 2)
    return totals


@task
def load(totals, currency):
    if currency not in RATES:
        raise ValueError("no exchange rate for %r" % (currency,))
    converted = {store: round(total * RATES[currency], 2) for store, total in totals.items()}
    # The CLI shows task logs; the demo finds this line in its output.
    prefect.context.get("logger").info("LOADED %s %s", json.dumps(converted, sort_keys=True), currency)
    return converted


with Flow("etl-cli-classic") as flow:
    stores = Parameter("stores", default=["north", "south", "east"])
    currency = Parameter("currency", default="EUR")
    load(transform(extract(), stores), currency)


def fail(message, output=""):
    if output:
        print(output)
    raise SystemExit("etl_cli_classic: " + message)


def prefect_cli(*args):
    # The `prefect` script installed next to this interpreter.
    exe = os.path.join(os.path.dirname(sys.executable), "prefect")
    proc = subprocess.run([exe] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    print("$ prefect %s  -> exit %d" % (" ".join(args), proc.returncode))
    for line in proc.stdout.splitlines():
        if "LOADED" in line or "Parameters:" in line or line.startswith("Flow run"):
            print("    " + line)
    return proc.returncode, proc.stdout


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    level1 = os.path.join(here, "etl_level1_classic.py")

    code, out = prefect_cli("run", "--help")
    if code != 0 or "--path" not in out:
        fail("prefect %s has no local `prefect run --path` (it arrived in 0.15.0)" % prefect.__version__, out)

    # 1. The level-1 flow, unchanged, run by the CLI instead of flow.run().
    code, out = prefect_cli("run", "-p", level1)
    if code != 0 or "Flow run succeeded!" not in out:
        fail("level 1 through the CLI: exit %d" % code, out)
    if "Task 'load': Finished task run for task with final state: 'Success'" not in out:
        fail("level 1 through the CLI: no successful 'load' task in the output", out)

    # 2. Parameters from the command line (values are JSON).
    code, out = prefect_cli("run", "-p", os.path.abspath(__file__),
                            "--param", "currency=USD", "--param", 'stores=["north","east"]')
    expected = 'LOADED {"east": 23.99, "north": 60.0} USD'
    if code != 0 or "Flow run succeeded!" not in out or expected not in out:
        fail("parametrised run: exit %d, expected %r in the output" % (code, expected), out)
    if "Parameters: {'currency': 'USD', 'stores': ['north', 'east']}" not in out:
        fail("parametrised run: the CLI did not echo the parameters", out)

    # 3. Parameters from a file; a failing run exits 1.
    param_file = os.path.join(tempfile.mkdtemp(), "params.json")
    with open(param_file, "w") as f:
        json.dump({"currency": "GBP"}, f)
    code, out = prefect_cli("run", "-p", os.path.abspath(__file__), "--param-file", param_file)
    if code != 1 or "Flow run failed!" not in out or "no exchange rate for 'GBP'" not in out:
        fail("a run with an unknown currency should fail with exit 1: exit %d" % code, out)

    print("etl_cli_classic: ok, level 1 and parametrised runs through `prefect run`, exit codes checked")


if __name__ == "__main__":
    main()
