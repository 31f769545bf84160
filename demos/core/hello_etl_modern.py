"""Hello ETL, Prefect 2.x/3.x API.

The same extract -> transform -> load story as hello_etl_classic.py, in the
API that Prefect 2.0 introduced and 3.x kept.

What this shows about the modern (2.x/3.x) API:
- A flow is an ordinary Python function decorated with ``@flow``; there is
  no graph-building step and no ``flow.run()``. You just call it.
- Calling a ``@task`` inside a flow runs it right away and returns its value
  (not a future, not a State), so the flow body reads like plain Python.
- Calling the flow returns the flow function's return value.
- Every flow and task run is recorded by a Prefect API. With no
  PREFECT_API_URL set, Prefect uses a local, temporary one: 2.x runs it
  in-process against a SQLite file under PREFECT_HOME; 3.x starts a
  short-lived server subprocess on loopback. That is why the first call is
  slower than the work itself.

The same file runs unchanged on 2.x and 3.x.

Run it with:  python demos/core/hello_etl_modern.py
"""
from prefect import flow, task

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


@flow(name="hello-etl-modern")
def etl():
    # Each call runs the task now and hands back its return value.
    raw = extract()
    clean = transform(raw)
    return load(clean)


def main():
    # Unlike the classic flow.run(), a failing task makes this call raise,
    # so reaching the checks below already means every task completed.
    result = etl()
    if result != EXPECTED:
        raise SystemExit(
            "hello_etl_modern: wrong load result %r, expected %r" % (result, EXPECTED)
        )
    if len(WAREHOUSE) != len(EXPECTED):
        raise SystemExit(
            "hello_etl_modern: warehouse holds %d rows, expected %d"
            % (len(WAREHOUSE), len(EXPECTED))
        )
    print("hello_etl_modern: ok, loaded %r" % (result,))


if __name__ == "__main__":
    main()
