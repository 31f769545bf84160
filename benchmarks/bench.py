"""Benchmark the harness against plain nox and against the floor, on the same cells, in one run.

    python3 benchmarks/bench.py [--rounds 3] [--profile majors]      (or: nox -s bench)

- baseline: a generated noxfile, written the way nox's docs show: one session
  parametrized over the releases, nox's default virtualenv backend with pip,
  the same interpreters and the same dependency versions as ours (our env's
  freeze as pip constraints, so it installs what works), each demo run with
  session.run("python", demo) on Prefect's default local backend, one after
  the other. Demos that need a worker get a server and worker the session
  starts itself, as a user would have to. It gets the era's environment and
  the worker's polling settings from matrix.toml, as ours does, so the
  comparison is not about poll intervals.
- ours: `nox --parallel auto` (the README's main job) on the same cells, with
  cold env folders. Its warm caches are uv's and the harness's bytecode store
  (compiled modules kept between envs, harness/bytecode.py), filled by the
  warm-up as pip's cache is for the baseline; one more run with that store
  emptied shows what a machine's first run costs.
- floor: per env, building it from the warm package cache plus one
  interpreter start and one `import prefect`; per demo, the time of its body
  in an already warm process (a child of a warm runner, server already up).

Baseline and ours alternate, after a warm-up that fills uv's and pip's caches.
Writes benchmarks/RESULTS.md with medians, the pair-by-pair ratio
baseline/ours, ours/floor, the no-change re-run, peak memory and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config.needs import check_needs  # noqa: E402
from harness.plan.sessions import load_plan  # noqa: E402
from harness.plan.shards import longest_first  # noqa: E402
from harness.run.envs import uv_bin  # noqa: E402
from harness.run.process import isolated_environ  # noqa: E402
from harness.run.services import Services, WebhookReceiver  # noqa: E402
from harness.run.session import BYTECODE_STORE  # noqa: E402
from harness.run.warm import WarmRunner  # noqa: E402

PROVIDED = {"webhook", "local-storage", "api-server", "process-worker"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class TreeMemory:
    """Peak total resident memory of a process and all its descendants, sampled twice a second."""

    def __init__(self, pid: int):
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except OSError:
                    pass
            self.peak_mb = max(self.peak_mb, total / 1024)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def timed(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, log_file: Path | None = None):
    """Run a command; return (seconds, peak tree memory MB, exit code, output, CPU seconds).

    CPU is user + system time of the whole process tree (every descendant that was waited for):
    on N cores no schedule can finish in less than CPU / N.
    """
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = log_file.open("w") if log_file else subprocess.PIPE
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(proc.pid)
    output, _ = proc.communicate()
    seconds = time.monotonic() - started
    peak = memory.stop()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if log_file:
        out.close()
        output = log_file.read_text()
    return seconds, peak, proc.returncode, output, cpu


# --- the workload ------------------------------------------------------------------


def workload(profile: str):
    plan = load_plan(ROOT / "matrix.toml")
    sessions = []
    for session in plan.by_profile(profile):
        settings = plan.matrix.env_settings(session.release.parsed, session.resolution)
        provided = {"webhook", "local-storage"} | ({"api-server", "process-worker"} if settings.server else set())
        demos = [d for d in session.demos if check_needs(d.needs, provided).available]
        sessions.append((session, settings, demos))
    return plan, sessions


def make_project(base: Path) -> Path:
    """A copy of the repo's matrix whose state (envs, results) is the benchmark's own."""
    project = base / "ours"
    project.mkdir(parents=True)
    for name in ("demos", "harness"):  # a snapshot: edits made while it runs do not leak in
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "reports").mkdir()
    for name in ("releases.json", "results.json"):  # the snapshot, and the baseline (its durations order the sessions)
        shutil.copy(ROOT / "reports" / name, project / "reports" / name)
    shutil.copy(ROOT / "matrix.toml", project / "matrix.toml")
    shutil.copy(ROOT / "noxfile.py", project / "noxfile.py")
    return project


def run_ours(project: Path, names: list[str], force: bool, logs: Path, label: str):
    """`nox` on the benchmark's copy of the matrix: the default run, named session by session."""
    if force:
        shutil.rmtree(project / ".matrix" / "envs", ignore_errors=True)  # cold env folders
    env = dict(os.environ, MATRIX_FILE=str(project / "matrix.toml"))
    args = [sys.executable, "-m", "nox", "-f", str(project / "noxfile.py"), "--parallel", "auto",
            "-s", *names, "report"]
    args += ["--", "--force"] if force else []
    seconds, peak, code, output, cpu = timed(args, env=env, cwd=project, log_file=logs / f"{label}.log")
    harness_mb = max((float(l.split(":")[-1].split()[0]) for l in output.splitlines() if "harness peak memory" in l),
                     default=0.0)
    log(f"{label}: {seconds:.1f}s (exit {code}), harness peak {harness_mb:.0f} MB, whole run {peak:.0f} MB, "
        f"cpu {cpu:.1f}s")
    return seconds, harness_mb, peak, code, cpu


BASELINE_NOXFILE = '''
# Generated by benchmarks/bench.py: the matrix as plain nox from its docs would run it.
import os, shutil, subprocess, sys, tempfile, time, urllib.request, uuid
import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.download_python = "never"
CELLS = {cells!r}
PROJECT = {project!r}  # the demo repository: demos run from its root, as the harness runs them


def _wait_healthy(url, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/health", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("server did not start")


@nox.session
@nox.parametrize("python,release,constraints,demos,worker_env", [nox.param(*cell, id=cell[1]) for cell in CELLS])
def demos(session, release, constraints, demos, worker_env):
    if release.startswith("0."):
        # 0.x wheels carry metadata pip 24.1+ rejects; pip's own error says to use pip<24.1
        session.install("pip<24.1")
    session.install("prefect==" + release, "-c", constraints)
    if "install-only" in session.posargs:  # the warm-up: fill pip's cache, run nothing
        return
    bin_dir = os.path.dirname(shutil.which("python", path=session.bin))
    background = []
    api = None
    if any(set(needs) & {{"api-server", "process-worker"}} for _, needs, _ in demos):
        port = 4700 + len(release)
        api = "http://127.0.0.1:%d/api" % port
        home = tempfile.mkdtemp()
        env = dict(os.environ, PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false")
        background.append(subprocess.Popen(
            [bin_dir + "/prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, start_new_session=True))
        _wait_healthy(api)
        env["PREFECT_API_URL"] = api
        session.run("prefect", "work-pool", "create", "bench-pool", "--type", "process", env=env, silent=True)
        # the same polling settings as the harness's worker: the comparison is not about poll intervals
        worker_env = dict(env, **{{k: v.format(home=home) for k, v in worker_env.items()}})
        background.append(subprocess.Popen(
            [bin_dir + "/prefect", "worker", "start", "--pool", "bench-pool"],
            env=worker_env, start_new_session=True))
    session.chdir(PROJECT)
    failed = []
    try:
        for demo, needs, era_env in demos:
            home = tempfile.mkdtemp()
            storage = tempfile.mkdtemp()
            env = {{key: value.format(home=home, tmp=home, storage=storage) for key, value in era_env.items()}}
            env["HOME"] = home
            if "webhook" in needs:
                # a URL of its own per run: the receiver keeps what earlier rounds posted
                env["DEMO_WEBHOOK_URL"] = "/".join(
                    [os.environ["BENCH_WEBHOOK"], release, os.path.basename(demo), uuid.uuid4().hex[:8]])
            if "local-storage" in needs:
                env["DEMO_STORAGE_DIR"] = storage
            if "api-server" in needs or "process-worker" in needs:
                env["PREFECT_API_URL"] = api
            if "process-worker" in needs:
                env["DEMO_WORK_POOL"] = "bench-pool"
            try:
                session.run("python", demo, env=env)
            except CommandFailed:  # keep going: every demo runs, as in the harness
                failed.append(os.path.basename(demo))
    finally:
        for proc in reversed(background):  # the worker before the server it talks to
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a 3.9.1 worker whose server is gone retries for ever
                os.killpg(proc.pid, 9)
                proc.wait()
    if failed:
        session.error("failed: " + ", ".join(failed))
'''


def committed_freezes(sessions) -> dict[str, list[str]]:
    """Each release's dependency freeze as the committed results recorded it."""
    data = json.loads((ROOT / "reports" / "results.json").read_text())
    found = {}
    for session, _, _ in sessions:
        cell = next((c for c in data["cells"] if c["release"] == session.release.version
                     and c["resolution"] == "as-released" and c.get("freeze_hash") in data["freezes"]), None)
        if cell is not None:
            found[session.release.version] = data["freezes"][cell["freeze_hash"]]
    return found


def write_baseline(base: Path, sessions, freezes: dict[str, list[str]]) -> Path:
    folder = base / "baseline"
    folder.mkdir()
    cells = []
    for session, settings, demos in sessions:
        constraints = folder / f"constraints-{session.release.version}.txt"
        constraints.write_text("\n".join(freezes[session.release.version]) + "\n")
        era_env = {k: v for k, v in settings.env.items()}
        worker_env = dict(settings.worker.env) if settings.worker is not None else {}
        cells.append((session.candidates[0].path, session.release.version, str(constraints),
                      [(str(base / "ours" / d.path), list(d.needs), era_env) for d in demos], worker_env))
    (folder / "noxfile.py").write_text(BASELINE_NOXFILE.format(cells=cells, project=str(base / "ours")))
    return folder


def run_baseline(folder: Path, webhook: str, logs: Path, label: str, install_only: bool = False):
    shutil.rmtree(folder / ".nox", ignore_errors=True)  # fresh env folders
    env = dict(os.environ, BENCH_WEBHOOK=webhook)
    for var in [k for k in env if k.startswith("PREFECT")]:
        env.pop(var)
    args = [sys.executable, "-m", "nox", "-f", str(folder / "noxfile.py")]
    args += ["--", "install-only"] if install_only else []
    seconds, peak, code, _, cpu = timed(args, env=env, cwd=ROOT, log_file=logs / f"{label}.log")
    log(f"{label}: {seconds:.1f}s (exit {code}), whole run {peak:.0f} MB, cpu {cpu:.1f}s")
    return seconds, code, cpu


# --- the floor ----------------------------------------------------------------------


def measure_floor(base: Path, plan, sessions, freezes: dict[str, list[str]]) -> dict:
    uv = uv_bin()
    floor = {"build": {}, "import": {}, "bodies": {}}
    for session, settings, demos in sessions:
        version = session.release.version
        env_dir = base / "floor" / version
        constraints = base / "floor" / f"{version}.txt"
        constraints.parent.mkdir(parents=True, exist_ok=True)
        constraints.write_text("\n".join(freezes[version]) + "\n")
        started = time.monotonic()
        subprocess.run([uv, "venv", "--quiet", "--python", session.candidates[0].path, str(env_dir)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(env_dir / "bin" / "python"),
                        f"prefect=={version}", "--constraint", str(constraints)], check=True)
        floor["build"][version] = time.monotonic() - started
        work = base / "floor" / f"{version}-work"
        pycache = env_dir / "pycache"  # as the harness runs an env: bytecode compiled once, kept outside the sources
        environ = isolated_environ(settings.env, "prefect", work, pycache=pycache)
        started = time.monotonic()
        subprocess.run([str(env_dir / "bin" / "python"), "-c", "import prefect"], env=environ, check=True)
        floor["import"][version] = time.monotonic() - started
        bodies = {}
        with (Services("prefect", env_dir, work / "run", log=lambda m: None, cwd=base / "ours") as services,
              WebhookReceiver() as hook):
            if settings.server is not None:
                services.start_server(settings.server)
                if any("process-worker" in d.needs for d in demos):
                    services.start_worker(settings.worker, "floor-pool")
                    services.exports["DEMO_WORK_POOL"] = "floor-pool"
            warm = WarmRunner(env_dir / "bin" / "python", ("prefect",), settings.warm.reset if settings.warm else "",
                              isolated_environ(settings.env, "prefect", work / "warm", services.exports,
                                               pycache=pycache),
                              base / "ours", work / "warm.log")
            try:
                for demo in demos:
                    cell = work / "cells" / Path(demo.path).stem
                    extra = dict(services.exports)
                    if "webhook" in demo.needs:
                        extra["DEMO_WEBHOOK_URL"] = hook.url_for(Path(demo.path).stem)
                    if "local-storage" in demo.needs:
                        (cell / "storage").mkdir(parents=True, exist_ok=True)
                        extra["DEMO_STORAGE_DIR"] = str(cell / "storage")
                    cell_env = isolated_environ(settings.env, "prefect", cell, extra, pycache=pycache)
                    result = warm.run(base / "ours" / demo.path, base / "ours", cell_env,
                                      work / f"{Path(demo.path).stem}.log", demo.timeout or 300)
                    if result is None or result.exit_code != 0:
                        log(f"floor: {demo.path} on {version} did not pass in a warm process; its body is not counted")
                        continue
                    bodies[demo.path] = result.duration
            finally:
                warm.close()
        floor["bodies"][version] = bodies
        log(f"floor {version}: build {floor['build'][version]:.1f}s, import {floor['import'][version]:.2f}s, "
            f"{len(bodies)} bodies {sum(bodies.values()):.1f}s")
    floor["total"] = sum(floor["build"].values()) + sum(floor["import"].values()) + sum(
        sum(b.values()) for b in floor["bodies"].values())
    floor["counted"] = sum(len(b) for b in floor["bodies"].values())
    return floor


# --- small timings -------------------------------------------------------------------


def listing_and_planning(samples: int = 5) -> dict:
    env = dict(os.environ)
    env.pop("MATRIX_FILE", None)
    nox_l = []
    for _ in range(samples):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"], cwd=ROOT, env=env,
                       capture_output=True, check=True)
        nox_l.append(time.monotonic() - started)
    code = (f"import time,sys; sys.path.insert(0, {str(ROOT)!r}); t=time.monotonic(); "
            "from harness.plan.sessions import load_plan; "
            f"p=load_plan(__import__('pathlib').Path({str(ROOT / 'matrix.toml')!r})); "
            "print(time.monotonic()-t, len(p.by_profile('all')))")
    plan_all = []
    for _ in range(samples):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        plan_all.append(float(out[0]))
    return {"nox_l": statistics.median(nox_l), "plan_all": statistics.median(plan_all), "sessions_all": int(out[1])}


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")))
    versions = subprocess.run([uv_bin(), "--version"], capture_output=True, text=True).stdout.strip()
    from importlib.metadata import version

    return (f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB memory, {platform.system()} "
            f"{platform.release()}; harness on Python {platform.python_version()}, nox {version('nox')}, {versions}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="majors")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--from-log", metavar="LOG", type=Path,
                        help="write RESULTS.md from the measurement lines of an earlier run's log (this script's "
                             "own output), re-measuring only `nox -l` and planning")
    parser.add_argument("--warmup", action="store_true", help="run ours once first even when freezes are committed")
    parser.add_argument("--releases", nargs="*", help="only these releases of the profile (a quick smoke run)")
    parser.add_argument("--ours-only", action="store_true",
                        help="time only ours, --rounds times with cold env folders (wall and CPU); "
                             "writes no RESULTS.md")
    args = parser.parse_args(argv)
    if args.from_log:
        return results_from_log(args)
    if args.ours_only:
        return ours_only(args)
    base = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    logs = base / "logs"
    logs.mkdir()
    log(f"scratch folder {base}")
    plan, sessions = workload(args.profile)
    if args.releases:
        sessions = [s for s in sessions if s[0].release.version in args.releases]
    cells = sum(len(d) for _, _, d in sessions)
    log(f"workload: {len(sessions)} envs, {cells} cells ({args.profile}, as-released)")
    project = make_project(base)
    # in the order the noxfile declares them (longest first), as `nox --parallel auto` would start them
    order = [s.name for s in longest_first(plan)]
    names = sorted((session.name for session, _, _ in sessions), key=order.index)

    freezes = committed_freezes(sessions)
    log("warm-up: fills uv's cache and the harness's bytecode store, and records the freezes the baseline installs")
    run_ours(project, names, True, logs, "warmup-ours")
    if args.warmup or len(freezes) < len(sessions):
        records = [json.loads(l) for l in (project / ".matrix" / "results.jsonl").read_text().splitlines()]
        for session, _, _ in sessions:
            cell = next(c for c in records if c["release"] == session.release.version and c["freeze_hash"])
            freeze_file = project / ".matrix" / "freezes" / f"{cell['freeze_hash']}.txt"
            freezes[session.release.version] = freeze_file.read_text().split()
    else:
        log("freezes from reports/results.json (as-released resolution is reproducible; --warmup takes the warm-up's)")
    baseline = write_baseline(base, sessions, freezes)
    with WebhookReceiver() as hook:
        webhook = hook.url_for("bench")
        run_baseline(baseline, webhook, logs, "warmup-baseline", install_only=True)  # fills pip's cache
        rounds = []
        for number in range(1, args.rounds + 1):
            base_s, base_code, base_cpu = run_baseline(baseline, webhook, logs, f"baseline-{number}")
            ours_s, harness_mb, tree_mb, ours_code, ours_cpu = run_ours(project, names, True, logs, f"ours-{number}")
            rounds.append({"baseline": base_s, "ours": ours_s, "ratio": base_s / ours_s, "harness_mb": harness_mb,
                           "tree_mb": tree_mb, "baseline_exit": base_code, "ours_exit": ours_code,
                           "baseline_cpu": base_cpu, "ours_cpu": ours_cpu})
    shutil.rmtree(project / ".matrix" / BYTECODE_STORE, ignore_errors=True)
    empty_store_s = run_ours(project, names, True, logs, "ours-empty-bytecode-store")[0]
    rerun_s = statistics.median(run_ours(project, names, False, logs, f"ours-no-change-{n}")[0] for n in (1, 2, 3))
    floor = measure_floor(base, plan, sessions, freezes)
    small = listing_and_planning()
    write_results(Path(args.output), args, sessions, cells, rounds, rerun_s, floor, small, source="",
                  empty_store_s=empty_store_s)
    log(f"wrote {args.output}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def ours_only(args) -> int:
    """Ours alone, cold: where its time goes without the hour the baseline takes."""
    base = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    (base / "logs").mkdir()
    plan, sessions = workload(args.profile)
    project = make_project(base)
    order = [s.name for s in longest_first(plan)]
    names = sorted((session.name for session, _, _ in sessions), key=order.index)
    runs = [run_ours(project, names, True, base / "logs", f"ours-{n}") for n in range(1, args.rounds + 1)]
    wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[4] for r in runs)
    log(f"ours median of {len(runs)}: {wall:.1f}s, cpu {cpu:.1f}s = {cpu / wall:.2f} cores busy on average "
        f"(of {os.cpu_count()}); no schedule finishes in less than {cpu / (os.cpu_count() or 1):.1f}s")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


LOG_LINE = re.compile(r"\[bench [0-9:]+\] (?P<label>[\w.-]+): (?P<rest>.*)$")


def results_from_log(args) -> int:
    """RESULTS.md from the lines a run logged: its rounds, re-run and floor, as measured then."""
    rounds: dict[int, dict] = {}
    floor = {"build": {}, "import": {}, "bodies": {}, "counted": 0}
    reruns: list[float] = []
    empty_store_s = None
    for line in args.from_log.read_text().splitlines():
        floor_line = re.search(r"floor (\S+): build ([\d.]+)s, import ([\d.]+)s, (\d+) bodies ([\d.]+)s", line)
        if floor_line:
            version = floor_line[1]
            floor["build"][version] = float(floor_line[2])
            floor["import"][version] = float(floor_line[3])
            floor["bodies"][version] = {f"{floor_line[4]} demos": float(floor_line[5])}
            floor["counted"] += int(floor_line[4])
        match = LOG_LINE.match(line)
        if not match:
            continue
        label, rest = match["label"], match["rest"]
        if re.fullmatch(r"(baseline|ours)-\d+", label):
            kind, number = label.split("-")
            r = rounds.setdefault(int(number), {})
            r[kind] = float(re.match(r"([\d.]+)s", rest)[1])
            r[f"{kind}_exit"] = int(re.search(r"\(exit (-?\d+)\)", rest)[1])
            cpu = re.search(r"cpu ([\d.]+)s", rest)
            if cpu:
                r[f"{kind}_cpu"] = float(cpu[1])
            if kind == "ours":
                r["harness_mb"] = float(re.search(r"harness peak ([\d.]+) MB", rest)[1])
                r["tree_mb"] = float(re.search(r"whole run ([\d.]+) MB", rest)[1])
        elif label == "ours-no-change" or label.startswith("ours-no-change-"):
            reruns.append(float(re.match(r"([\d.]+)s", rest)[1]))
        elif label == "ours-empty-bytecode-store":
            empty_store_s = float(re.match(r"([\d.]+)s", rest)[1])
    complete = [r for _, r in sorted(rounds.items()) if {"baseline", "ours"} <= set(r)]
    rerun_s = statistics.median(reruns) if reruns else None
    if not complete or rerun_s is None or not floor["build"]:
        raise SystemExit(f"{args.from_log}: no complete round, re-run or floor lines found (is it a bench.py log?)")
    for r in complete:
        r["ratio"] = r["baseline"] / r["ours"]
    floor["total"] = sum(floor["build"].values()) + sum(floor["import"].values()) + sum(
        sum(b.values()) for b in floor["bodies"].values())
    plan, sessions = workload(args.profile)
    sessions = [s for s in sessions if s[0].release.version in floor["build"]]
    cells = sum(len(d) for _, _, d in sessions)
    args.rounds = len(complete)
    write_results(Path(args.output), args, sessions, cells, complete, rerun_s, floor, listing_and_planning(),
                  source=str(args.from_log.resolve().relative_to(ROOT)) if args.from_log.resolve().is_relative_to(ROOT)
                  else str(args.from_log), empty_store_s=empty_store_s)
    log(f"wrote {args.output} from {args.from_log}")
    return 0


def write_results(path: Path, args, sessions, cells, rounds, rerun_s, floor, small, source: str,
                  empty_store_s: float | None = None) -> None:
    def med(key):
        return statistics.median(r[key] for r in rounds)

    ours = med("ours")
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `python3 benchmarks/bench.py --rounds {args.rounds} --profile {args.profile}` "
        f"(or `nox -s bench`) on {time.strftime('%Y-%m-%d')}. Do not edit by hand."
        + (f" Written by `bench.py --from-log {source}` from the measurements that run logged; "
           "`nox -l` and planning were re-measured when writing." if source else ""),
        "",
        f"Machine: {machine()}.",
        "",
        f"Workload: every demo of the matrix on the `{args.profile}` profile, as-released resolution: "
        f"{len(sessions)} envs ({', '.join(s.release.version for s, _, _ in sessions)}), {cells} cells "
        "(cells skipped for a service this machine lacks are left out of both). Warm package caches "
        "(one warm-up run of each first: pip's for the baseline; uv's and the harness's bytecode store, "
        "modules compiled by earlier envs, for ours), fresh env folders every round; baseline and ours alternate.",
        "",
        "| round | baseline (plain nox) s | ours s | baseline / ours | harness peak MB | whole run peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(rounds, 1):
        lines.append(f"| {number} | {r['baseline']:.1f} | {r['ours']:.1f} | {r['ratio']:.1f} | "
                     f"{r['harness_mb']:.0f} | {r['tree_mb']:.0f} |")
    lines.append(f"| **median** | {med('baseline'):.1f} | {ours:.1f} | **{med('ratio'):.1f}** | "
                 f"{med('harness_mb'):.0f} | {med('tree_mb'):.0f} |")
    if all("ours_cpu" in r and "baseline_cpu" in r for r in rounds):
        cores = os.cpu_count() or 1
        lines += [
            "",
            "CPU time of each run's process tree (user + system of every descendant that was waited for), "
            f"medians: baseline {med('baseline_cpu'):.0f} s, ours {med('ours_cpu'):.0f} s "
            f"({med('baseline_cpu') / med('ours_cpu'):.1f}× less work). On {cores} cores no schedule of ours "
            f"finishes in less than {med('ours_cpu') / cores:.0f} s, so baseline / ours cannot exceed "
            f"{med('baseline') / (med('ours_cpu') / cores):.1f} without doing less work.",
        ]
    body_total = sum(sum(b.values()) for b in floor["bodies"].values())
    lines += [
        "",
        "| measure | value |",
        "|---|---|",
        f"| floor (env builds + one interpreter start and import per env + demo bodies in a warm process) | "
        f"{floor['total']:.1f} s (builds {sum(floor['build'].values()):.1f}, "
        f"imports {sum(floor['import'].values()):.1f}, "
        f"bodies {body_total:.1f} s of {floor['counted']} of the {cells} demos: a demo that does not pass in a "
        "warm process is left out — those that set Prefect's variables before importing it, which a warm process "
        "has done already — so this floor is, if anything, low) |",
        f"| ours / floor (median ours) | **{ours / floor['total']:.2f}** |",
        f"| baseline / floor (median baseline) | {med('baseline') / floor['total']:.2f} |",
        f"| re-run with nothing changed (median of the re-runs after the rounds) | {rerun_s:.2f} s = "
        f"**{100 * rerun_s / ours:.1f}%** of a cold run (median ours) |",
    ] + ([
        f"| ours with its bytecode store emptied first (a machine's first run: every env compiles what it "
        f"imports), once | {empty_store_s:.1f} s; median baseline / that {med('baseline') / empty_store_s:.1f} |",
    ] if empty_store_s else []) + [
        f"| `nox -l` (median of 5) | {small['nox_l']:.2f} s |",
        f"| planning the `all` profile ({small['sessions_all']} sessions, median of 5) | {small['plan_all']:.3f} s |",
        "",
        "The floor is work summed one after the other, as the issue defines it: each demo's body timed alone "
        "in a warm process, where the body's own subprocesses (`prefect` CLI calls, the flow runs a worker "
        "launches, a served flow) start as fresh interpreters and its waits (sleeps, polling) run end to end. "
        "The harness forks those subprocesses from the warm runner too and runs demos of an env side by side, "
        "so it can finish below the floor.",
        "",
        "Exit codes (0: every cell passed): " + ", ".join(
            f"round {i}: baseline {r['baseline_exit']}, ours {r['ours_exit']}" for i, r in enumerate(rounds, 1)),
        "",
        "Per env floor: " + "; ".join(
            f"{v}: build {floor['build'][v]:.1f}s, import {floor['import'][v]:.2f}s, bodies "
            f"{sum(floor['bodies'][v].values()):.1f}s" for v in floor["build"]),
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
