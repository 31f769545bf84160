"""The run's core slots (harness/run/slots.py): demos of envs with no API server share the cores across the run.

The slots alone, in threads and in another process; then real runs of a small matrix on a fake env (as in
test_faults_stop.py), whose demos write when they ran, with and without an API server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.results.records import CellResult
from harness.results.store import baseline_record
from harness.run.lock import state_lock
from harness.run.slots import CoreSlots, waiting_demos
from harness.run.stop import STOP
from tests.test_faults_stop import SERVER, fake_env


def test_as_many_hold_a_slot_as_there_are_slots_and_the_next_waits_for_one(tmp_path):
    slots = CoreSlots(tmp_path, owner=7, count=2)
    inside, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def hold():
        with slots.held() as holding:
            assert holding
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            release.wait(10)
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert inside[0] == 2  # the other three wait
    release.set()
    for thread in threads:
        thread.join(10)
    assert most[0] == 2 and inside[0] == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["7.core-0", "7.core-1"]


def test_a_slot_another_process_of_the_run_holds_is_taken_once_that_process_is_gone(tmp_path):
    slots = CoreSlots(tmp_path, owner=7, count=1)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(slots.paths[0])!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert slots._take() is None
        holder.kill()  # killed, not stopped: the kernel drops its flock all the same
        holder.wait(10)
        with slots.held() as holding:
            assert holding
            assert CoreSlots(tmp_path, owner=7, count=1)._take() is None  # held here now
        assert CoreSlots(tmp_path, owner=8, count=1)._take() is not None  # another run's slots are its own
    finally:
        holder.kill()
        holder.wait(10)


def test_slots_go_in_the_order_cells_asked_for_them_and_one_that_just_ended_asks_last(tmp_path):
    slots = CoreSlots(tmp_path, owner=7, count=1)
    order, lock = [], threading.Lock()
    release = threading.Event()

    def cell(name: str, hold: float = 0.05):
        with slots.held() as holding:
            assert holding
            with lock:
                order.append(name)
            time.sleep(hold)

    def first_then_again():
        with slots.held():
            order.append("first")
            release.wait(10)
        cell("first again")  # at once, as a session's thread takes its next demo

    threads = [threading.Thread(target=first_then_again)]
    threads[0].start()
    time.sleep(0.1)
    for name in ("a", "b", "c"):
        threads.append(threading.Thread(target=cell, args=(name,)))
        threads[-1].start()
        time.sleep(0.1)  # each waits before the next asks
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["first", "a", "b", "c", "first again"]


def cell_record(demo: str, duration: float, cpu: float | None, release: str = "1.4.1") -> CellResult:
    return CellResult(demo=demo, story=demo, variant="", release=release, resolution="as-released", outcome="pass",
                      duration=duration, cpu=cpu)


@pytest.mark.parametrize("duration, cpu, waits", [
    (2.0, 0.3, True),  # retry delays: mostly asleep
    (2.0, 0.99, True),
    (2.0, 1.0, False),  # half its time on a core: it computes
    (2.0, 1.9, False),
    (2.0, None, False),  # not measured (a fresh interpreter, an older record): it holds a slot
    (0.0, 0.0, False),  # nothing timed
])
def test_a_demo_waits_when_its_last_cell_here_spent_under_half_its_time_on_a_core(duration, cpu, waits):
    baseline = {("d.py", "1.4.1", "as-released"): cell_record("d.py", duration, cpu)}
    assert waiting_demos(baseline, ["d.py"], "1.4.1", "as-released") == ({"d.py"} if waits else set())


def test_only_the_cell_of_this_release_and_resolution_decides():
    baseline = {("d.py", "0.15.13", "as-released"): cell_record("d.py", 2.0, 0.1, release="0.15.13")}
    assert waiting_demos(baseline, ["d.py", "new.py"], "1.4.1", "as-released") == set()
    assert waiting_demos(baseline, ["d.py"], "0.15.13", "latest") == set()
    assert waiting_demos(baseline, ["d.py"], "0.15.13", "as-released") == {"d.py"}


def test_a_stop_request_ends_the_wait_without_a_slot(tmp_path):
    slots = CoreSlots(tmp_path, owner=7, count=1)
    got = []
    with slots.held():
        waiter = threading.Thread(target=lambda: got.append(slots.held().__enter__()))
        waiter.start()
        time.sleep(0.2)
        assert not got
        STOP.request(signal.SIGTERM)
        try:
            waiter.join(5)
        finally:
            STOP.reset()
    assert got == [False]


MATRIX = """
[harness]
jobs = 4
cpu_bound_jobs = {slots}
retries = 0
fallbacks = 0
{server}
"""
DEMOS = "abcd"  # four demos of one release, each a second long


def demo_entries() -> str:
    return "".join(f'\n[[demos]]\npath = "demos/{name}.py"\nstory = "{name}"\nreleases = "==1.4.1"\n'
                   for name in DEMOS)


SERVER_RANGE = """
[[ranges]]
releases = "<2"
[ranges.server]
command = ["python", "fake_server.py", "{port}"]
export = "FAKE_API_URL"
"""

SPAN = """
import pathlib, time
started = time.time()
time.sleep(1.0)
pathlib.Path({out!r}, pathlib.Path(__file__).stem + ".span").write_text(f"{{started}} {{time.time()}}")
"""


def most_at_once(out: Path) -> int:
    spans = [tuple(map(float, path.read_text().split())) for path in out.glob("*.span")]
    assert len(spans) == len(DEMOS)
    return max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)


@pytest.mark.parametrize("slots, server, expected", [
    (2, False, 2),  # no server: two slots, so two of the four at once
    (1, False, 1),
    (1, True, 4),  # an env with a server waits on it: its demos are held to `jobs` alone
])
def test_demos_of_an_env_without_a_server_run_no_more_at_once_than_the_slots(project, tmp_path, slots, server,
                                                                            expected):
    out = tmp_path / "out"
    out.mkdir()
    project.write_matrix(MATRIX.format(slots=slots, server=SERVER_RANGE if server else "") + demo_entries())
    for name in DEMOS:
        project.demo(f"demos/{name}.py", SPAN.format(out=str(out)))
    (project.root / "fake_server.py").write_text(SERVER.format(out=str(out)))
    fake_env(project)
    done = project.harness("run", "1.4.1", "--no-report", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert most_at_once(out) == expected


def test_a_gone_runs_slot_files_are_removed_by_the_next_run_and_a_live_runs_are_kept(tmp_path):
    gone = CoreSlots(tmp_path, owner=11, count=2)
    with gone.held():
        pass
    live = CoreSlots(tmp_path, owner=os.getpid(), count=1)
    with state_lock(tmp_path), live.held():
        assert [p.exists() for p in gone.paths] == [False, False]
        assert live.paths[0].exists()


WARM_RANGE = """
[[ranges]]
releases = "<2"
[ranges.warm]
preload = ["json"]
"""


def test_a_demo_that_mostly_waited_when_last_timed_holds_no_slot_and_each_record_says_what_it_spent(project,
                                                                                                     tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    project.write_matrix(MATRIX.format(slots=1, server=WARM_RANGE) + demo_entries())
    for name in DEMOS:
        project.demo(f"demos/{name}.py", SPAN.format(out=str(out)))
    # the schedule's baseline (no git here: the working copy's): `a` spent 0.1 s of its 1 s on a core
    baseline = [baseline_record(cell_record(f"demos/{name}.py", 1.0, 0.1 if name == "a" else 0.9)) for name in DEMOS]
    (project.root / "reports" / "results.json").write_text(json.dumps({"cells": baseline, "freezes": {}}))
    fake_env(project)
    done = project.harness("run", "1.4.1", "--no-report", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert most_at_once(out) == 2  # `a` beside the one slot's demo; b, c, d one at a time
    spans = {p.stem: tuple(map(float, p.read_text().split())) for p in out.glob("*.span")}
    others = sorted(spans[name] for name in "bcd")
    assert all(earlier[1] <= later[0] for earlier, later in zip(others, others[1:], strict=False))
    records = [json.loads(line) for line in (project.root / ".matrix" / "results.jsonl").read_text().splitlines()]
    assert {r["runner"] for r in records} == {"fork"}
    assert all(0 <= r["cpu"] < 0.5 * r["duration"] for r in records)  # each slept its second
