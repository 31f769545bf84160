"""A real bisect on real releases: `prefect.flatten` arrived in 0.12.6 (measured: 0.12.5 raises ImportError).

Slow: it installs Prefect 0.12.x envs (uv's cache makes reruns quick). Asserts on what a user sees (the
command's result lines) and on the cells the bisect recorded.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

FLATTEN = """
from prefect import Flow, flatten, task

@task
def pair(x):
    return [x, x]

@task
def add_one(x):
    return x + 1

with Flow("flatten") as flow:
    result = add_one.map(flatten(pair.map([1, 2])))

state = flow.run()
assert state.is_successful(), state
assert state.result[result].result == [2, 2, 3, 3], state.result[result].result
print("ok")
"""


def _matrix(project) -> None:
    text = (REPO / "matrix.toml").read_text()
    harness = text[: text.index("[[demos]]")].replace("[harness]\n", "[harness]\ntimeout = 240\nfallbacks = 0\n")
    project.demo("demos/flatten_classic.py", FLATTEN)
    project.write_matrix(harness + '\n[[demos]]\npath = "demos/flatten_classic.py"\nstory = "flatten"\n'
                                   'releases = ">=0.12.6,<2"\n')


def test_bisect_finds_the_first_bad_release_in_about_log2_runs_installing_the_next_envs_ahead(project):
    _matrix(project)
    done = project.harness("bisect", "demos/flatten_classic.py", "--good", "0.12.6", "--bad", "0.12.0")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "demos/flatten_classic.py: last good 0.12.6, first bad 0.12.5" in out
    assert "ImportError: cannot import name 'flatten'" in out
    assert "the demo's range on this side: >=0.12.6" in out
    window = 5  # 0.12.1 … 0.12.5 between the ends
    runs = int(out.split(" cell(s) run;")[0].rsplit("\n", 1)[-1].strip())
    assert runs <= 2 + math.ceil(math.log2(window + 1)), out[-3000:]  # both ends, then the halving steps
    assert "window [0.12.6, 0.12.0] (5 releases)" in out  # progress: the window and what is left
    assert "installed ahead of its turn" in out, out[-3000:]  # a candidate's env was ready before its turn
    records = [json.loads(line) for line in (project.root / ".matrix" / "results.jsonl").read_text().splitlines()]
    by_release = {r["release"]: r["outcome"] for r in records}
    assert by_release["0.12.6"] == "pass" and by_release["0.12.5"] == "fail" and by_release["0.12.0"] == "fail"
    assert len(records) == runs  # every run is recorded, a probe outside the range like any cell

    ranges = project.harness("ranges", "--check")
    assert "0.12.5: ImportError: cannot import name 'flatten'" in ranges.stdout, ranges.stdout[-3000:]
    assert "1 proven, 0 unprovable, 1 unproven" in ranges.stdout  # the lower edge; 1.4.1 (the upper) never ran
    problems = [line for line in ranges.stdout.splitlines() if line.startswith("problem:")]
    assert problems == ["problem: demos/flatten_classic.py: its upper edge is unproven: no recorded fail beyond "
                        "0.12.6 (`ranges --bisect` runs the missing probes)"]
    assert ranges.returncode == 1


def test_bisect_stops_when_the_ends_do_not_behave_as_claimed(project):
    _matrix(project)
    done = project.harness("bisect", "demos/flatten_classic.py", "--good", "0.12.0", "--bad", "0.12.6")
    assert done.returncode == 2
    assert "does not pass on 0.12.0, the good end" in done.stdout + done.stderr
