"""Hello ETL, Prefect "Core" API (0.x and 1.x).

The smallest useful Prefect pipeline: extract -> transform -> load.

What this shows about the classic (0.x/1.x) API:
- Tasks are plain functions wrapped with ``@task``.
- A flow is *built* first: inside ``with Flow(...) as flow:`` calling a task
  does not run it, it adds a node to the flow's graph and returns a Task
  object that stands for the future result.
- ``flow.run()`` then executes the whole graph in this process (no server,
  no agent) and returns the flow's final State.
- Results are read back from that State: ``state.result`` maps each Task in
  the graph to its own State, whose ``.result`` is the returned value.

Prefect 2.x/3.x replaced all of this with ``@flow`` functions that you simply
call; see hello_etl_modern.py for the same story in that API.

Run it with:  python demos/core/hello_etl_classic.py
"""
from prefect import Flow, task

RAW_ROWS = [
    {"city": "Lisbon", "temp_f": 68.0},
    {"city": "Oslo", "temp_f": 41.0},
    {"city": "Cairo", "temp_f": 95.0},
]
# What load() must end up holding: Fahrenheit converted to Celsius, rounded.
EXPECTED = {"Lisbon": 20.0, "Oslo": 5.0, "Cairo": 35.0}

# Stands in for a database table: load() appends here so that we can also
# check the side effect, not only the returned value.
WAREHOUSE = []


@task
def extract():
    # A real pipeline would read a file or call an API; we keep it offline.
    return list(RAW_ROWS)


@task
def transform(rows):
    return [
        {"city": row["city"], "temp_c": round((row["temp_f"] - 32) * 5 / 9, 1)}
        for row in rows
    ]


@task
def load(rows):
    WAREHOUSE.extend(rows)
    return {row["city"]: row["temp_c"] for row in rows}


# Building the flow: nothing runs here, Prefect only records the dependencies
# extract -> transform -> load from how the tasks are called.
with Flow("hello-etl-classic") as flow:
    raw = extract()
    clean = transform(raw)
    loaded = load(clean)


def main():
    state = flow.run()  # runs every task, in dependency order, in-process

    # A flow run never raises on task failure: it returns a Failed state.
    # So the demo has to check the state itself.
    if not state.is_successful():
        raise SystemExit("hello_etl_classic: flow run was not successful: %r" % (state,))

    # state.result is {Task: State}; each task State carries its return value.
    load_state = state.result[loaded]
    if load_state.result != EXPECTED:
        raise SystemExit(
            "hello_etl_classic: wrong load result %r, expected %r"
            % (load_state.result, EXPECTED)
        )
    if len(WAREHOUSE) != len(EXPECTED):
        raise SystemExit(
            "hello_etl_classic: warehouse holds %d rows, expected %d"
            % (len(WAREHOUSE), len(EXPECTED))
        )
    print("hello_etl_classic: ok, loaded %r" % (load_state.result,))


if __name__ == "__main__":
    main()
