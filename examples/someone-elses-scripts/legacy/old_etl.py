"""A Prefect 1.x script as someone else wrote it: reads a file beside it, writes one beside it."""
from pathlib import Path

from prefect import Flow, task


@task
def total(path):
    rows = Path(path).read_text().splitlines()[1:]
    return sum(int(row.split(",")[1]) for row in rows)


with Flow("totals") as flow:
    result = total("input.csv")

state = flow.run()
assert state.is_successful(), state
assert state.result[result].result == 6, state.result[result].result
Path("totals.txt").write_text(str(state.result[result].result))
print("total:", state.result[result].result)
