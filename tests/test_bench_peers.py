"""The benchmark's peers (benchmarks/peers.py): their noxfiles fill every setting of the era they are given.

The peers copy the era's settings (`env`, the server's and the worker's) from the matrix; a template name the
harness fills and their noxfiles do not (`{inenv}`, `{server_key}`) made every 2.x/3.x session of both peers
fail with a KeyError at once, and the rounds measured those failures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402


@pytest.mark.parametrize(("values", "table", "missing"), [
    ({"A": "{home}/.prefect", "B": "{inenv}/ca.pem"}, "env", None),
    ({"KEY": "{server_key}", "URL": "{url}"}, "server.env", None),
    (["prefect", "server", "start", "--port", "{port}"], "server.command", None),
    ({"A": "{nope}/x"}, "env", "{nope}"),
    ({"KEY": "{server_key}"}, "env", "{server_key}"),  # a server's name in a demo's table
    (["x", "{url}"], "server.command", "{url}"),
])
def test_a_setting_that_uses_a_name_the_peers_do_not_fill_is_refused_before_any_round(values, table, missing):
    if missing is None:
        assert peers.filled(values, table, "9.9.9") == values
    else:
        with pytest.raises(SystemExit, match=re.escape(f"the `{table}` settings of 9.9.9 use {missing}")):
            peers.filled(values, table, "9.9.9")


FILL_EVERY_SETTING = """
import json, runpy, sys
ns = runpy.run_path(sys.argv[1])
filled = 0
for cell in ns["CELLS"]:
    for _, _, era_env in cell[3]:
        ns["_fill"](era_env, home="h", tmp="t", storage="s")
        filled += 1
    if len(cell) == 5:  # plain: (python, release, constraints, demos, worker env)
        ns["_fill"](cell[4], home="h", tmp="t", storage="s")
    else:  # skilled: (…, server, worker)
        server, worker = cell[4], cell[5]
        if server:
            ns["_fill"](server["env"], home="h", tmp="t", storage="s", host="127.0.0.1", port=1, url="u",
                        server_key="k")
        if worker:
            ns["_fill"](worker["env"], home="h", tmp="t", storage="s")
print(json.dumps({"cells": len(ns["CELLS"]), "filled": filled, "inenv": ns["INENV"]}))
"""


def test_both_noxfiles_fill_every_setting_of_every_release_of_the_majors_workload(tmp_path):
    import bench

    _, sessions = bench.workload("majors")
    freezes = {session.release.version: [f"prefect=={session.release.version}"] for session, _, _ in sessions}
    for write in (peers.write_plain, peers.write_skilled):
        noxfile = write(tmp_path, sessions, freezes) / "noxfile.py"
        done = subprocess.run([sys.executable, "-c", FILL_EVERY_SETTING, str(noxfile)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["cells"] == len(sessions) >= 4
        assert result["filled"] == sum(len(demos) for _, _, demos in sessions)
        assert result["inenv"] == str(tmp_path / "ours" / "harness" / "inenv")
