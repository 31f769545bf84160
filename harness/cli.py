"""`python -m harness COMMAND`: the same entry points the nox sessions call.

Useful outside nox (scripts, tests, another demo repository): every command
takes --matrix, defaulting to $MATRIX_FILE, then ./matrix.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tabulate import tabulate

from harness.check import check_matrix
from harness.interpreters import discover_interpreters
from harness.matrix import PROFILES, RESOLUTIONS, MatrixError
from harness.plan import build_plan
from harness.releases import SnapshotError, load_snapshot, refresh_snapshot
from harness.report import UnknownRelease, pick, write_report
from harness.session import BAD, run_session, store_for


def matrix_path(explicit: str | None = None) -> Path:
    """--matrix, else $MATRIX_FILE, else matrix.toml in the current folder."""
    return Path(explicit or os.environ.get("MATRIX_FILE") or "matrix.toml").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("--matrix", help="the matrix file (default: $MATRIX_FILE or ./matrix.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate the matrix against the demos folder and the release snapshot")
    listing = commands.add_parser("list", help="the sessions a profile selects")
    listing.add_argument("--profile", choices=PROFILES)
    listing.add_argument("--resolution", choices=RESOLUTIONS)
    listing.add_argument("--json", action="store_true")
    run = commands.add_parser("run", help="run the sessions of a profile, or of explicit releases, then report")
    run.add_argument("releases", nargs="*", help="explicit releases (default: the default profile)")
    run.add_argument("--profile", choices=PROFILES)
    run.add_argument("--resolution", choices=RESOLUTIONS)
    run.add_argument("--no-report", action="store_true")
    run.add_argument("--force", action="store_true", help="run every cell, even those whose inputs are unchanged")
    run.add_argument("--no-warm", action="store_true", help="run every demo as a fresh interpreter (no forking)")
    run.add_argument("--jobs", type=int, help="demos of one env to run at once (default: [harness] jobs, or $MATRIX_JOBS)")
    commands.add_parser("report", help="rebuild reports/ from recorded results")
    picker = commands.add_parser("pick", help="which variant of each story to show on a release")
    picker.add_argument("version")
    picker.add_argument("--resolution", choices=RESOLUTIONS)
    picker.add_argument("--json", action="store_true")
    commands.add_parser("refresh", help="update the release snapshot from the configured index")
    args = parser.parse_args(argv)
    path = matrix_path(args.matrix)
    try:
        return COMMANDS[args.command](path, args)
    except (MatrixError, SnapshotError, UnknownRelease) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_check(path: Path, args) -> int:
    matrix, releases = check_matrix(path)
    print(f"{path}: ok — {len(matrix.demos)} demos, {len(releases)} usable releases of {matrix.settings.package}")
    return 0


def _plan(path: Path, resolution: str | None, only: list[str] | None = None):
    matrix, _ = check_matrix(path)
    snapshot = load_snapshot(matrix.resolve(matrix.settings.releases_file))
    interpreters = discover_interpreters(cache=matrix.resolve(matrix.settings.state_dir) / "interpreters.json")
    try:
        return build_plan(matrix, snapshot, interpreters, resolution, only=only)
    except ValueError as exc:
        raise UnknownRelease(str(exc)) from None


def cmd_list(path: Path, args) -> int:
    plan = _plan(path, args.resolution)
    profile = args.profile or plan.matrix.settings.default_profile
    sessions = plan.by_profile(profile)
    if args.json:
        print(json.dumps([{"session": s.name, "release": s.release.version, "python": s.python,
                           "demos": [d.path for d in s.demos], "tags": s.tags} for s in sessions], indent=1))
    else:
        print(tabulate([(s.name, len(s.demos), ",".join(sorted(s.profiles))) for s in sessions],
                       headers=["session", "demos", "profiles"]))
    return 0


def jobs_from_environ() -> int | None:
    """$MATRIX_JOBS, when set: demos of one env to run at once."""
    value = os.environ.get("MATRIX_JOBS", "")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"error: MATRIX_JOBS={value!r}; expected a whole number, 1 or more")
    return int(value)


def cmd_run(path: Path, args) -> int:
    plan = _plan(path, args.resolution, only=args.releases or None)
    sessions = plan.by_profile("explicit") if args.releases else plan.by_profile(args.profile or plan.matrix.settings.default_profile)
    bad = 0
    for number, session in enumerate(sessions, 1):
        print(f"=== session {number}/{len(sessions)}: {session.name}", flush=True)
        cells = run_session(plan.matrix, session, log=lambda line: print(f"    {line}", flush=True), force=args.force,
                            warm=not args.no_warm and os.environ.get("MATRIX_WARM") != "0",
                            jobs=args.jobs or jobs_from_environ())
        bad += sum(c.outcome in BAD for c in cells)
    if not args.no_report:
        cmd_report(path, args)
    print(f"harness peak memory: {peak_memory_mb():.0f} MB")
    return 1 if bad else 0


def peak_memory_mb() -> float:
    """Peak resident memory of this (the harness's) process; demos and services are not counted."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cmd_report(path: Path, args) -> int:
    matrix, _ = check_matrix(path)
    store = store_for(matrix)
    results = store.load()
    written = [store.write_results_json(results), write_report(matrix, results)]
    print(f"{len(results.cells)} cells recorded; wrote " + ", ".join(str(p.relative_to(matrix.root)) for p in written))
    return 0


def cmd_pick(path: Path, args) -> int:
    matrix, releases = check_matrix(path)
    rows = pick(matrix, releases, store_for(matrix).load(), args.version, args.resolution)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(f"{matrix.settings.package} {args.version}: the variant of each story to show\n")
        print(tabulate([(r.story, r.variant, r.verdict) for r in rows], headers=["story", "variant", "verdict"]))
        print("\nTo rehearse by hand in a fresh env:")
        for row in rows:
            if row.command:
                print(f"  # {row.story}\n  {row.command}")
    return 0


def cmd_refresh(path: Path, args) -> int:
    from harness.matrix import load_matrix

    matrix = load_matrix(path)
    started = time.monotonic()
    snapshot = matrix.resolve(matrix.settings.releases_file)
    releases, new = refresh_snapshot(snapshot, matrix.settings.package)
    print(f"{snapshot}: {len(releases)} releases of {matrix.settings.package} "
          f"({time.monotonic() - started:.1f}s); new since the last snapshot: {', '.join(r.version for r in new) or 'none'}")
    return 0


COMMANDS = {
    "check": cmd_check,
    "list": cmd_list,
    "run": cmd_run,
    "report": cmd_report,
    "pick": cmd_pick,
    "refresh": cmd_refresh,
}
