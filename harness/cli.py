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

from harness.plan.check import check_matrix
from harness.config.model import MatrixError, PROFILES, RESOLUTIONS
from harness.plan.sessions import load_plan
from harness.plan.shards import assign_shards, parse_shard
from harness.plan.releases import SnapshotError, UnknownRelease, refresh_snapshot
from harness.results.store import MergeError
from harness.run.session import run_session
from harness.results.store import store_for
from harness.results.outcomes import GATING


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
    run.add_argument("--probe", action="store_true",
                     help="run every demo on the explicit releases, also outside its declared range")
    run.add_argument("--shard", metavar="I/N", help="run only shard I of N (balanced by the baseline's recorded durations)")
    run.add_argument("--jobs", type=int, help="demos of one env to run at once (default: [harness] jobs, or $MATRIX_JOBS)")
    reporting = commands.add_parser(
        "report", help="rebuild reports/ from recorded results, diff the run against the baseline, exit 1 on a regression")
    reporting.add_argument("--merge", nargs="+", metavar="DIR", type=Path,
                           help="the run is these state folders (e.g. CI shards' .matrix/), merged")
    reporting.add_argument("--baseline", type=Path,
                           help="results.json to diff against (default: reports/results.json as committed in git HEAD, "
                                "else as it is on disk before this report rewrites it)")
    picker = commands.add_parser("pick", help="which variant of each story to show on a release")
    picker.add_argument("version")
    picker.add_argument("--resolution", choices=RESOLUTIONS)
    picker.add_argument("--json", action="store_true")
    commands.add_parser("refresh", help="update the release snapshot from the configured index")
    args = parser.parse_args(argv)
    path = matrix_path(args.matrix)
    try:
        return COMMANDS[args.command](path, args)
    except (MatrixError, SnapshotError, UnknownRelease, MergeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_check(path: Path, args) -> int:
    matrix, releases = check_matrix(path)
    print(f"{path}: ok — {len(matrix.demos)} demos, {len(releases)} usable releases of {matrix.settings.package}")
    return 0


def _plan(path: Path, resolution: str | None, only: list[str] | None = None, probe: bool = False):
    try:
        return load_plan(path, resolution, only=only, probe=probe)
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
    if args.probe and not args.releases:
        raise SystemExit("error: --probe needs explicit releases (python -m harness run 1.3.1 --probe)")
    plan = _plan(path, args.resolution, only=args.releases or None, probe=args.probe)
    sessions = plan.by_profile("explicit") if args.releases else plan.by_profile(args.profile or plan.matrix.settings.default_profile)
    if args.shard:
        try:
            index, count = parse_shard(args.shard)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
        sessions = assign_shards(sessions, plan.seconds, count)[index - 1]
        print(f"shard {args.shard}: {', '.join(s.name for s in sessions) or 'no sessions'}", flush=True)
    bad = 0
    for number, session in enumerate(sessions, 1):
        print(f"=== session {number}/{len(sessions)}: {session.name}", flush=True)
        cells = run_session(plan.matrix, session, log=lambda line: print(f"    {line}", flush=True), force=args.force,
                            warm=not args.no_warm and os.environ.get("MATRIX_WARM") != "0",
                            jobs=args.jobs or jobs_from_environ())
        bad += sum(c.outcome in GATING for c in cells)
    if not args.no_report:
        cmd_report(path, args)
    print(f"harness peak memory: {peak_memory_mb():.0f} MB")
    return 1 if bad else 0


def peak_memory_mb() -> float:
    """Peak resident memory of this (the harness's) process; demos and services are not counted."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cmd_report(path: Path, args) -> int:
    from harness.report.build import build_reports  # pandas, matplotlib, jinja2: only the report needs them

    return build_reports(path, getattr(args, "baseline", None), getattr(args, "merge", None))


def cmd_pick(path: Path, args) -> int:
    from harness.report.pick import pick

    matrix, releases = check_matrix(path)
    rows = pick(matrix, releases, store_for(matrix).load(), args.version, args.resolution)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    print(f"{matrix.settings.package} {args.version}: the variant of each story to show, "
          "and the command that rehearses it in a fresh env\n")
    table = [(r.story, r.variant, r.verdict, r.command or "-") for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(show_lines=True)
        for header in ("story", "variant", "verdict", "rehearse by hand"):
            rich_table.add_column(header, overflow="fold")
        for row in table:
            rich_table.add_row(*row)
        Console().print(rich_table)
    else:
        print(tabulate(table, headers=["story", "variant", "verdict", "rehearse by hand"]))
    return 0


def cmd_refresh(path: Path, args) -> int:
    from harness.config.parse import load_matrix

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
