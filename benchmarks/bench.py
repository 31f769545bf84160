"""Benchmark the harness against plain nox, a skilled nox user and the true limit, on the same cells.

    python3 benchmarks/bench.py [--rounds 3] [--profile majors]      (or: nox -s bench)

Peers (benchmarks/peers.py): plain nox as its docs teach it, and the noxfile a
skilled user writes (uv, --parallel auto, one API server per session). Ours is
the README's main command (`nox --parallel auto`). After a warm-up that fills the
package caches, plain (the first --plain-rounds rounds only: it takes a quarter
of an hour a round), skilled and ours alternate, each from fresh env folders;
ratios are taken pair by pair. Then: more cold runs of ours until --cold-runs
(each cell's spread, and the machine's floor under it: benchmarks/floor.py),
the no-change re-run, ours on SQLite once, the true limit (benchmarks/limit.py),
and a full `minors` run. Writes benchmarks/RESULTS.md
and benchmarks/results.json (summary.py); every number is kept in the scratch
folder's measurements.json as it is measured (`--from-measurements` writes the
two files again from it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floor import chance_within, floor_chance, measure_floor  # noqa: E402
from limit import measure_limit  # noqa: E402
from measure import CoreSpeed, log, machine_ticks, stolen_share, timed  # noqa: E402
from peers import write_plain, write_skilled  # noqa: E402
from summary import loop_seconds, spread, stamp, write_json, write_markdown  # noqa: E402

from harness.config.needs import check_needs  # noqa: E402
from harness.plan.sessions import load_plan  # noqa: E402
from harness.plan.shards import longest_first  # noqa: E402
from harness.results.records import now_iso  # noqa: E402
from harness.run.envs import uv_bin  # noqa: E402
from harness.run.services import WebhookReceiver  # noqa: E402

# --- the workload ------------------------------------------------------------------


@functools.cache
def main_job_parallel(readme: Path = ROOT / "README.md") -> str:
    """The `--parallel` value of the README's main command, so the benchmark times that command as written.
    Read once: every run of a benchmark times the same command, even if the README changes meanwhile."""
    first = readme.read_text(encoding="utf-8").split("```bash\n", 1)[1].splitlines()[0]
    args = shlex.split(first.split("#", 1)[0].split("python3 -m nox", 1)[1])
    if "--parallel" not in args:
        raise SystemExit(f"README.md's main command has no --parallel: {first!r}")
    return args[args.index("--parallel") + 1]


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
    (project / ".gitignore").write_text(".matrix/\n")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the benchmark's copy"]):
        # a checkout, as a user's: runs are scheduled by the committed durations, which the reports do not change
        subprocess.run(["git", "-C", str(project), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                        "-c", "commit.gpgsign=false", *command], check=True, capture_output=True)
    return project


def _records(project: Path) -> list[dict]:
    path = project / ".matrix" / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_ours(project: Path, selection: list[str], force: bool, logs: Path, label: str, posargs: tuple[str, ...] = (),
             probe: bool = False, **environ: str) -> dict:
    """The README's main command (`nox --parallel N`) on the benchmark's copy of the matrix; the cells it
    recorded come back too, and with `probe` the core's speed all through it (measure.CoreSpeed)."""
    if force:
        shutil.rmtree(project / ".matrix" / "envs", ignore_errors=True)  # cold env folders
    env = dict(os.environ, MATRIX_FILE=str(project / "matrix.toml"), **environ)
    args = [sys.executable, "-m", "nox", "-f", str(project / "noxfile.py"), "--parallel", main_job_parallel(),
            *selection]
    options = (["--force"] if force else []) + list(posargs)
    args += ["--", *options] if options else []
    since = now_iso()  # as records write `started`
    ticks = machine_ticks()
    with CoreSpeed() if probe else contextlib.nullcontext() as speed:
        seconds, peak, code, output, cpu = timed(args, env=env, cwd=project, log_file=logs / f"{label}.log")
    steal = stolen_share(ticks, machine_ticks())
    cells = {f"{r['demo']} on {r['release']}": {"duration": r["duration"], "attempts": r["attempts"],
                                                 "outcome": r["outcome"], "started": r["started"], "cpu": r.get("cpu")}
             for r in _records(project)  # by time, not by line: the report compacts the records file
             if r["started"] >= since and r["outcome"] not in ("skipped", "interrupted")}
    harness_mb = max((float(l.split(":")[-1].split()[0]) for l in output.splitlines() if "harness peak memory" in l),
                     default=0.0)
    log(f"{label}: {seconds:.1f}s (exit {code}), {len(cells)} cells, harness peak {harness_mb:.0f} MB, "
        f"whole run {peak:.0f} MB, cpu {cpu:.1f}s, stolen {100 * steal:.1f} %")
    return {"seconds": seconds, "exit": code, "cpu": cpu, "steal": steal, "tree_mb": peak, "harness_mb": harness_mb,
            "cells": cells, "speed": speed.samples if speed else None,
            "sessions": sum(any(w in l for w in ("was successful", "failed", "aborted")) for l in output.splitlines()
                            if l.startswith("nox > Session release-"))}


def run_peer(folder: Path, webhook: str, logs: Path, label: str, parallel: bool, install_only: bool = False):
    shutil.rmtree(folder / ".nox", ignore_errors=True)  # fresh env folders
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT")}
    env["BENCH_WEBHOOK"] = webhook
    args = [sys.executable, "-m", "nox", "-f", str(folder / "noxfile.py")]
    args += ["--parallel", "auto"] if parallel else []
    args += ["--", "install-only"] if install_only else []
    seconds, peak, code, _, cpu = timed(args, env=env, cwd=ROOT, log_file=logs / f"{label}.log")
    log(f"{label}: {seconds:.1f}s (exit {code}), whole run {peak:.0f} MB, cpu {cpu:.1f}s")
    return seconds, code, cpu


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


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the skilled peer and ours")
    parser.add_argument("--plain-rounds", type=int, default=1, help="of those, how many also run plain nox")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold runs of ours in all, for each cell's spread")
    parser.add_argument("--profile", default="majors")
    parser.add_argument("--no-minors", action="store_true",
                        help="skip the two full `minors` runs and its two shards (about an hour and a quarter)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--releases", nargs="*", help="only these releases of the profile (a quick smoke run)")
    parser.add_argument("--from-measurements", type=Path, metavar="FILE",
                        help="write RESULTS.md and results.json again from an earlier run's measurements.json")
    parser.add_argument("--floor-repeats", type=int, default=40,
                        help="how many times the floor of the cells under 0.5 s is measured, for how often the "
                             "machine alone keeps them within 1.5 (floor.floor_chance; about 13 s each)")
    parser.add_argument("--remeasure", nargs="+", choices=("rounds", "rerun", "spread", "floor", "minors", "shards"),
                        metavar="PART", help="measure only these parts again (rounds: the rounds with the peers, "
                                             "then the true limit; rerun: 3 cold runs and 3 no-change "
                                             "re-runs of ours; spread: --cold-runs cold runs of ours, then the "
                                             "machine's floor under them (floor.py); floor: the "
                                             "floor of the cells under 0.5 s, --floor-repeats times, from "
                                             "--base's cold runs; minors: two "
                                             "`minors` runs; shards: `minors` as two CI shards, one after the other) "
                                             "on top of --base's measurements; RESULTS.md says which rows are new")
    parser.add_argument("--base", type=Path, metavar="FILE", help="the measurements.json --remeasure starts from")
    return parser.parse_args(argv)


def write_outputs(args, measured: dict) -> None:
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_markdown(args.output_dir / "RESULTS.md", measured)
    write_json(args.output_dir / "results.json", measured)
    if not args.from_measurements:  # the raw measurements, for --from-measurements and --base
        (args.output_dir / "measurements.json").write_text(json.dumps(measured, indent=1) + "\n")
    log(f"wrote {args.output_dir / 'RESULTS.md'} and {args.output_dir / 'results.json'}")


def main(argv=None) -> int:
    args = parse(argv)
    if args.from_measurements:
        measured = json.loads(args.from_measurements.read_text())
        measured["written_by"] = f"python3 benchmarks/bench.py --from-measurements {args.from_measurements}"
        write_outputs(args, measured)
        return 0
    if args.remeasure and not args.base:
        raise SystemExit("--remeasure needs --base FILE (an earlier run's measurements.json)")
    base = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    logs = base / "logs"
    logs.mkdir()
    log(f"scratch folder {base}")
    plan, sessions = workload(args.profile)
    if args.releases:
        sessions = [s for s in sessions if s[0].release.version in args.releases]
    cells = sum(len(d) for _, _, d in sessions)
    project = make_project(base)
    order = [s.name for s in longest_first(plan)]  # as `nox --parallel N` starts them
    names = ["-s", *sorted((s.name for s, _, _ in sessions), key=order.index), "report"]
    backend = os.environ.get("MATRIX_BACKEND") or plan.matrix.settings.backend
    stamped = dict(stamp(), machine=machine())  # once: the loop that times a core takes seconds
    measured = dict(stamped, backend=backend, rounds=[], cold_cells=[], cold_runs=[],
                    command="python3 benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    workload=f"every demo of the matrix on the `{args.profile}` profile, as released: {len(sessions)} "
                             f"envs ({', '.join(s.release.version for s, _, _ in sessions)}), {cells} cells (cells "
                             "skipped for a service this machine lacks are left out of all three)")

    def keep() -> None:
        (base / "measurements.json").write_text(json.dumps(measured, indent=1))

    log(f"workload: {measured['workload']}")
    if args.remeasure:
        return remeasure(args, argv, stamped, project, names, logs, base, sessions)
    warm = run_ours(project, names, True, logs, "warmup-ours")
    freezes = peer_freezes(project, sessions)

    def counted(row: dict, ours: dict) -> None:
        measured["rounds"].append(row)
        measured["cold_cells"].append(ours["cells"])
        measured["cold_runs"].append(_cold_run(ours))
        keep()

    run_rounds(args, base, project, names, logs, sessions, freezes, counted)
    for number in range(len(measured["cold_cells"]) + 1, args.cold_runs + 1):
        loop = loop_seconds()
        ours = run_ours(project, names, True, logs, f"ours-cold-{number}", probe=True)
        measured["cold_cells"].append(ours["cells"])
        measured["cold_runs"].append(_cold_run(ours, loop))
        keep()
    measured["floor"] = _floor(project, measured["cold_cells"])
    measured["floor_chance"] = _floor_chance(project, measured["cold_cells"], args.floor_repeats)
    measured["rerun"] = statistics.median(run_ours(project, names, False, logs, f"ours-no-change-{n}")["seconds"]
                                          for n in (1, 2, 3))
    sqlite = run_ours(project, names, True, logs, "ours-sqlite", MATRIX_BACKEND="sqlite")
    measured["ours_sqlite"] = {"seconds": sqlite["seconds"], "exit": sqlite["exit"], "cpu": sqlite["cpu"]}
    keep()
    measured["limit"] = measure_limit(base, project, sessions, freezes)
    measured["small"] = listing_and_planning()
    keep()
    if not args.no_minors:
        measured["minors"] = run_minors(project, logs)
        keep()
        measured["minors_shards"] = run_minors_shards(project, logs)
        keep()
    log(f"measurements kept in {base / 'measurements.json'} (warm-up: {warm['seconds']:.1f}s)")
    write_outputs(args, measured)
    if not args.keep:  # the envs go; the logs and measurements.json stay
        _remove_envs(base)
    return 0


def peer_freezes(project: Path, sessions) -> dict[str, list[str]]:
    """What each env installs, for the peers to install the same: the committed freezes, or else those ours'
    warm-up run recorded."""
    freezes = committed_freezes(sessions)
    if len(freezes) < len(sessions):
        for session, _, _ in sessions:
            cell = next(c for c in _records(project) if c["release"] == session.release.version and c["freeze_hash"])
            path = project / ".matrix" / "freezes" / f"{cell['freeze_hash']}.txt"
            freezes[session.release.version] = path.read_text().split()
    return freezes


def run_rounds(args, base: Path, project: Path, names: list[str], logs: Path, sessions, freezes: dict,
               counted) -> None:
    """The alternating rounds: plain nox (the first --plain-rounds only), the skilled peer, ours, each from fresh
    env folders after a warm-up of the peers' package caches; `counted(row, ours)` keeps each round as it ends."""
    plain, skilled = write_plain(base, sessions, freezes), write_skilled(base, sessions, freezes)
    with WebhookReceiver() as hook:
        webhook = hook.url_for("bench")
        run_peer(plain, webhook, logs, "warmup-plain", False, install_only=True)  # fills pip's cache
        run_peer(skilled, webhook, logs, "warmup-skilled", True, install_only=True)
        for number in range(1, args.rounds + 1):
            row = {}
            if number <= args.plain_rounds:
                row["plain"], row["plain_exit"], row["plain_cpu"] = run_peer(plain, webhook, logs, f"plain-{number}",
                                                                             False)
            row["skilled"], row["skilled_exit"], row["skilled_cpu"] = run_peer(skilled, webhook, logs,
                                                                               f"skilled-{number}", True)
            ours = run_ours(project, names, True, logs, f"ours-{number}")
            row.update(ours=ours["seconds"], ours_exit=ours["exit"], ours_cpu=ours["cpu"], tree_mb=ours["tree_mb"],
                       harness_mb=ours["harness_mb"])
            counted(row, ours)


def run_minors(project: Path, logs: Path) -> dict:
    """`nox --parallel N -t minors -- --force` (N as in the README's main command) twice, from fresh env
    folders each time: the scale target.

    The first run is the first of these 47 releases in this state folder: it compiles each release's Prefect
    (about 2,000 modules) and its dependencies the majors warm-up did not. The second is measured as the
    majors rounds are, after a warm-up that filled the caches (uv's and the harness's bytecode store)."""
    first = run_ours(project, ["-t", "minors"], True, logs, "minors-first")
    again = run_ours(project, ["-t", "minors"], True, logs, "minors")
    return {"seconds": again["seconds"], "exit": again["exit"], "cells": len(again["cells"]),
            "sessions": again["sessions"], "cpu": again["cpu"], "steal": again["steal"],
            "first": {"seconds": first["seconds"], "exit": first["exit"], "cells": len(first["cells"]),
                      "cpu": first["cpu"], "steal": first["steal"], "failed": _failed(first["cells"])},
            "failed": _failed(again["cells"])}


def run_minors_shards(project: Path, logs: Path, count: int = 2) -> dict:
    """`minors` dealt into `count` shards as CI deals them (`-- --shard I/N --profile minors`, balanced by the
    committed durations), each run alone from fresh env folders: what `count` machines like this one would take,
    the slowest shard deciding."""
    shards = []
    for index in range(1, count + 1):
        ran = run_ours(project, ["-t", "minors"], True, logs, f"minors-shard-{index}-of-{count}",
                       posargs=("--shard", f"{index}/{count}", "--profile", "minors"))
        shards.append({"seconds": ran["seconds"], "exit": ran["exit"], "cells": len(ran["cells"]),
                       "sessions": ran["sessions"], "cpu": ran["cpu"], "steal": ran["steal"],
                       "failed": _failed(ran["cells"])})
    return {"count": count, "seconds": max(shard["seconds"] for shard in shards), "shards": shards}


def _cold_run(ours: dict, loop: float | None = None) -> dict:
    """What a cold run of ours says of the machine it ran on: each cell's spread is read against it."""
    return {"seconds": ours["seconds"], "cpu": ours["cpu"], "steal": ours["steal"], "loop_before": loop,
            "speed": ours["speed"]}


def _settled(project: Path, settle: float = 60) -> list[str]:
    """Wait until no process of ours' runs is left, at most `settle` seconds; what is still there then."""
    deadline = time.monotonic() + settle
    while _left_running(project) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _left_running(project)


def _medians(cold_cells: list[dict]) -> dict[str, float]:
    """Each cell's median duration over the cold runs: what the floors' stand-ins are sized by."""
    return {row["cell"]: row["median"] for row in spread(cold_cells)}


def _floor(project: Path, cold_cells: list[dict]) -> dict:
    """The short cells' stand-ins (floor.py), once no process of ours' runs is left: they must run alone."""
    left = _settled(project)
    floor = measure_floor(_medians(cold_cells))
    floor["left_running"] = left  # what was still there after `settle` seconds: none, or the floor is not alone
    log(f"floor: {len(floor['durations'])} stand-ins, {floor['samples']} times each, in {floor['seconds']:.0f}s"
        + (f"; still running: {left}" if left else ""))
    return floor


def _floor_chance(project: Path, cold_cells: list[dict], repeats: int) -> dict:
    """The shortest cells' floor, `repeats` times, alone (floor.floor_chance)."""
    left = _settled(project)
    chance = floor_chance(_medians(cold_cells), repeats)
    chance["left_running"] = left
    within, measured = chance_within(chance)
    log(f"floor chance: {chance['stand_ins']} stand-ins under {chance['under']:g} s, {measured} repeats in "
        f"{chance['seconds']:.0f}s; within 1.5 in {within}" + (f"; still running: {left}" if left else ""))
    return chance


def _left_running(project: Path) -> list[str]:
    """Processes of ours' runs still alive: any naming the benchmark's copy, or the run's PostgreSQL folder."""
    names = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) != os.getpid() and (str(project) in command or "harness-postgres-" in command):
            names.append(command[:120])
    return names


def _failed(cells: dict) -> list[str]:
    """The cells of a run that did not pass (by attempts: a flaky pass is named too)."""
    return sorted(f"{name}: {c['outcome']}" for name, c in cells.items() if c["outcome"] not in ("pass", "xfail"))


def remeasure(args, argv, stamped: dict, project: Path, names: list[str], logs: Path, base: Path,
              sessions) -> int:
    """Parts of an earlier run measured again at this commit; the rest (the peers, the limit) stays as it was."""
    measured = json.loads(args.base.read_text())
    again = dict(stamped, parts=[],
                 command="python3 benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    earlier = measured.get("remeasured") or []
    measured["remeasured"] = ([earlier] if isinstance(earlier, dict) else earlier) + [again]  # one dict, once

    def done(part: str) -> None:
        """A part measured again replaces what an earlier line said of it; kept at once, so a run cut short
        keeps what it measured and says no more than that."""
        earlier = [dict(e, parts=[p for p in e["parts"] if p != part]) for e in measured["remeasured"][:-1]]
        measured["remeasured"] = [e for e in earlier if e["parts"]] + [again]
        again["parts"].append(part)
        (base / "measurements.json").write_text(json.dumps(measured, indent=1))

    if set(args.remeasure) - {"floor"}:  # the floor alone needs no env of ours
        run_ours(project, names, True, logs, "warmup-ours")
    if "rounds" in args.remeasure:
        freezes = peer_freezes(project, sessions)
        measured["rounds"] = []
        run_rounds(args, base, project, names, logs, sessions, freezes,
                   lambda row, ours: measured["rounds"].append(row))
        measured["limit"] = measure_limit(base, project, sessions, freezes)
        done("rounds")
    if "rerun" in args.remeasure:
        again["cold"] = [run_ours(project, names, True, logs, f"ours-cold-again-{n}")["seconds"] for n in (1, 2, 3)]
        measured["rerun"] = statistics.median(run_ours(project, names, False, logs, f"ours-no-change-{n}")["seconds"]
                                              for n in (1, 2, 3))
        done("rerun")
    if "spread" in args.remeasure:
        measured["cold_cells"], measured["cold_runs"] = [], []
        for number in range(1, args.cold_runs + 1):
            loop = loop_seconds()
            ours = run_ours(project, names, True, logs, f"ours-cold-{number}", probe=True)
            measured["cold_cells"].append(ours["cells"])
            measured["cold_runs"].append(_cold_run(ours, loop))
        measured["floor"] = _floor(project, measured["cold_cells"])
        done("spread")
    if "floor" in args.remeasure:
        measured["floor_chance"] = _floor_chance(project, measured["cold_cells"], args.floor_repeats)
        done("floor")
    if "minors" in args.remeasure:
        measured["minors"] = run_minors(project, logs)
        done("minors")
    if "shards" in args.remeasure:
        measured["minors_shards"] = run_minors_shards(project, logs)
        done("shards")
    log(f"measurements kept in {base / 'measurements.json'}")
    write_outputs(args, measured)
    if not args.keep:
        _remove_envs(base)
    return 0


def _remove_envs(base: Path) -> None:
    """The scratch folder's envs (ours', the limit's, the peers'); the logs and measurements.json stay."""
    for folder in (base / "ours" / ".matrix" / "envs", base / "limit", base / "plain" / ".nox",
                   base / "skilled" / ".nox"):
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
