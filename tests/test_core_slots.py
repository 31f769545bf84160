"""The run's core slots (harness/run/slots.py): demos of envs with no API server share the cores across the run.

The slots alone, in threads and in another process; then real runs of a small matrix on a fake env (as in
test_faults_stop.py), whose demos write when they ran, with and without an API server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.run.lock import state_lock
from harness.run.slots import CoreSlots
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
