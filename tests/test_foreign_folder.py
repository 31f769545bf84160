"""Someone else's folder of scripts, as a solutions engineer would point the harness at it: `init`, two ranges
set by hand, a real run on 1.4.1 and 3.9.1. Slow (two real envs). Asserts on the records, the logs and the
folder itself: nothing may be written into it outside reports/ and the state folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, SNAPSHOT

pytestmark = pytest.mark.slow

CLASSIC = """
from pathlib import Path
from prefect import Flow, task

@task
def double(x):
    return 2 * x

with Flow("double") as flow:
    result = double(21)

state = flow.run()
assert state.is_successful() and state.result[result].result == 42
Path("side-effect.txt").write_text("written by old_etl")  # relative to the script's folder, as a person runs it
assert Path("input.csv").read_text().startswith("a,b")  # its own data file, beside it
print("ok")
"""

MODERN = """
from pathlib import Path
from prefect import flow, get_client

@flow
def hello():
    return "hi"

async def runs():
    async with get_client() as client:
        return await client.read_flow_runs()

if __name__ == "__main__":
    assert hello() == "hi"
    import asyncio
    assert len(asyncio.run(runs())) >= 1  # recorded by the env's API server
    Path("side-effect.txt").write_text("written by new_hello")
    print("ok")
"""


def _harness(matrix: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--matrix", str(matrix), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.relative_to(folder).parts[0] not in ("reports", ".matrix")}


def test_a_foreign_folder_runs_with_init_and_the_preset_alone(tmp_path):
    folder = tmp_path / "collection"
    (folder / "legacy").mkdir(parents=True)
    (folder / "legacy" / "old_etl.py").write_text(textwrap.dedent(CLASSIC))
    (folder / "legacy" / "input.csv").write_text("a,b\n1,2\n")
    (folder / "new_hello.py").write_text(textwrap.dedent(MODERN))
    venv = folder / ".venv"
    (venv / "lib" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "site-packages" / "thing.py").write_text("x = 1\n")  # not a demo: never scanned
    (folder / "reports").mkdir()
    shutil.copy(SNAPSHOT, folder / "reports" / "releases.json")  # what `init` would fetch, kept fixed here
    before = _files(folder)

    done = _harness(folder / "matrix.toml", "init", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 demo(s) (1 classic, 1 modern, 0 without an era)" in done.stdout
    matrix = folder / "matrix.toml"
    text = matrix.read_text()
    assert 'preset = "prefect"' in text and "[[ranges]]" not in text  # the preset alone: nothing copied
    text = text.replace('releases = "<2"', 'releases = ">=1.4,<2"').replace('releases = ">=2"', 'releases = ">=3.9"')
    matrix.write_text(text)
    assert _harness(matrix, "check").returncode == 0

    run = _harness(matrix, "run", "1.4.1", "3.9.1")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    records = [json.loads(line) for line in (folder / ".matrix" / "results.jsonl").read_text().splitlines()]
    cells = {(r["demo"], r["release"]): r for r in records}
    assert {k: v["outcome"] for k, v in cells.items()} == {("legacy/old_etl.py", "1.4.1"): "pass",
                                                            ("new_hello.py", "3.9.1"): "pass"}
    assert {v["runner"] for v in cells.values()} == {"fork"}  # both ran forked from the era's warm runner
    server_logs = list((folder / ".matrix" / "logs").glob("release-3.9.1-*/server.log"))
    assert server_logs and "http://127.0.0.1:" in server_logs[0].read_text()  # the env's own API server
    assert _files(folder) == {**before, "matrix.toml": matrix.read_bytes()}  # side effects stayed in scratch
    assert (folder / "reports" / "images" / "compatibility.png").is_file()  # under reports/, not images/
    assert not (folder / "images").exists()
    report = (folder / "reports" / "compatibility.md").read_text()
    assert f"python3 -m harness --matrix {matrix} report" in report
    assert _harness(matrix, "check").returncode == 0  # the state folder inside is never scanned


def test_a_demos_own_requirements_reach_that_demo_only(project):
    project.demo("demos/uses_it.py", "import tabulate\nprint(tabulate.tabulate([[1]]))\n")
    project.demo("demos/lacks_it.py", "import importlib.util, sys\n"
                                      "sys.exit(0 if importlib.util.find_spec('tabulate') is None else 'leaked')\n")
    project.write_matrix('''
        [harness]
        fallbacks = 0

        [[demos]]
        path = "demos/uses_it.py"
        story = "a"
        releases = "==3.9.1"
        requirements = ["tabulate"]

        [[demos]]
        path = "demos/lacks_it.py"
        story = "b"
        releases = "==3.9.1"
        ''')
    done = project.harness("run", "3.9.1", "--no-report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    records = [json.loads(line) for line in (project.root / ".matrix" / "results.jsonl").read_text().splitlines()]
    assert {r["demo"]: r["outcome"] for r in records} == {"demos/uses_it.py": "pass", "demos/lacks_it.py": "pass"}
    freeze = next(iter((project.root / ".matrix" / "freezes").glob("*.txt"))).read_text()
    assert "tabulate" not in freeze  # the env itself never got it
