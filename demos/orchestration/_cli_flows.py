"""Two small flows for the CLI demos (cli_classic.py, cli_backend_classic.py). Not a demo.

Loaded by ``prefect run -p``/``-m``, ``prefect build`` and ``prefect
register``: the CLI imports this file and collects every Flow defined at
module level; with more than one, ``--name`` picks one. (When the CLI loads
a file by path, ``__file__`` is not set, so nothing here may use it.)
"""
import json

import prefect
from prefect import Flow, Parameter, task

ORDERS = [("north", 12.5), ("south", 40.0), ("north", 7.25), ("east", 19.99), ("south", 5.01), ("north", 30.25)]


@task
def say_hello(name):
    prefect.context.get("logger").info("Hello, %s!", name)
    return name


@task
def totals(stores):
    result = {}
    for store, amount in ORDERS:
        if store in stores:
            result[store] = round(result.get(store, 0.0) + amount, 2)
    return result


@task
def report(result):
    logger = prefect.context.get("logger")
    logger.debug("report run label: %s", prefect.context.get("run_label", "-"))
    logger.info("LOADED %s", json.dumps(result, sort_keys=True))
    return result


with Flow("cli-hello") as hello_flow:
    say_hello(Parameter("name", default="world"))

with Flow("cli-etl") as etl_flow:
    report(totals(Parameter("stores", default=["north", "south", "east"])))
