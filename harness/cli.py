"""`python -m harness COMMAND`: the same entry points the nox sessions call.

Useful outside nox (scripts, tests, another demo repository): every command
takes --matrix, defaulting to $MATRIX_FILE, then ./matrix.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tabulate import tabulate

from harness.config.environ import Environ, EnvironError, read_environ
from harness.config.model import PROFILES, MatrixError
from harness.evidence.steps import BisectError
from harness.options import (
    add_backend_option,
    add_jobs_option,
    add_report_options,
    add_resolution_option,
    add_run_options,
)
from harness.plan.check import check_matrix
from harness.plan.releases import SnapshotError, UnknownRelease, refresh_snapshot
from harness.plan.sessions import load_plan
from harness.plan.shards import assign_shards
from harness.results.outcomes import GATING, Outcome
from harness.results.store import MergeError, StoreError, store_for
from harness.run.lock import StateBusy, state_lock
from harness.run.stop import stop_on_signals


def matrix_path(explicit: str | None, environ: Environ, default: Path = Path("matrix.toml")) -> Path:
    """--matrix, else $MATRIX_FILE, else `default` (matrix.toml in the current folder)."""
    return Path(explicit or environ.matrix_file or default).resolve()


def build_parser(environ: Environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("--matrix", help="the matrix file (default: $MATRIX_FILE or ./matrix.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate the matrix against the demos folder and the release snapshot")
    listing = commands.add_parser("list", help="the sessions a profile selects")
    listing.add_argument("--profile", choices=PROFILES)
    add_resolution_option(listing, environ)
    listing.add_argument("--json", action="store_true")
    run = commands.add_parser("run", help="run the sessions of a profile, or of explicit releases, then report")
    run.add_argument("releases", nargs="*", help="explicit releases (default: the default profile)")
    add_run_options(run, environ)
    add_resolution_option(run, environ)
    run.add_argument("--no-report", action="store_true")
    run.add_argument("--probe", action="store_true",
                     help="run every demo on the explicit releases, also outside its declared range")
    reporting = commands.add_parser(
        "report", help="rebuild reports/ from recorded results, diff the run against the baseline, "
                       "exit 1 on a regression")
    add_report_options(reporting)
    picker = commands.add_parser("pick", help="which variant of each story to show on a release")
    picker.add_argument("version")
    add_resolution_option(picker, environ)
    picker.add_argument("--json", action="store_true")
    commands.add_parser("refresh", help="update the release snapshot from the configured index")
    init = commands.add_parser("init", help="write a starter matrix.toml for a folder of scripts, then fetch the "
                                            "release snapshot (never overwrites a matrix)")
    init.add_argument("folder", nargs="?", default=".", help="the folder of scripts (default: the current one)")
    from harness.evidence.commands import add_evidence_commands

    add_evidence_commands(commands, lambda p: add_resolution_option(p, environ),
                          lambda p: (add_jobs_option(p, environ), add_backend_option(p, environ)))
    return parser


def main(argv: list[str] | None = None, environ: Environ | None = None) -> int:
    """`environ`: the MATRIX_* variables as the caller read them (default: read them now)."""
    try:
        environ = environ or read_environ()
    except EnvironError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(environ).parse_args(argv)
    from harness.run.database import postgres_scope

    try:
        with postgres_scope():  # a PostgreSQL server this command started ends with it
            return run_command(matrix_path(args.matrix, environ), args.command, args)
    except KeyboardInterrupt:  # outside a run's own handling (planning, the report): nothing was left half done
        print("interrupted", file=sys.stderr)
        return 130


def run_command(path: Path, command: str, args: argparse.Namespace) -> int:
    """One command on parsed options; a matrix, snapshot, records or merge problem is a one-line error and exit 2."""
    try:
        return COMMANDS[command](path, args)
    except (MatrixError, SnapshotError, UnknownRelease, MergeError, StoreError, StateBusy, BisectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_check(path: Path, args) -> int:
    matrix, releases = check_matrix(path)
    store_for(matrix).load_baseline()  # the committed results are read by every other command
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


def cmd_run(path: Path, args) -> int:
    if args.probe and not args.releases:
        raise SystemExit("error: --probe needs explicit releases (python -m harness run 1.3.1 --probe)")
    plan = _plan(path, args.resolution, only=args.releases or None, probe=args.probe)
    profile = "explicit" if args.releases else args.profile or plan.matrix.settings.default_profile
    sessions = plan.by_profile(profile)
    if args.shard:
        index, count = args.shard
        sessions = assign_shards(sessions, plan.seconds, count)[index - 1]
        print(f"shard {index}/{count}: {', '.join(s.name for s in sessions) or 'no sessions'}", flush=True)
    from harness.run.session import run_session

    bad = recorded = 0
    with stop_on_signals() as stop, state_lock(plan.matrix.resolve(plan.matrix.settings.state_dir)):
        for number, session in enumerate(sessions, 1):
            if stop.requested:
                break
            print(f"=== session {number}/{len(sessions)}: {session.name}", flush=True)
            cells = run_session(plan.matrix.with_backend(args.backend), session,
                                log=lambda line: print(f"    {line}", flush=True),
                                force=args.force, warm=not args.no_warm, jobs=args.jobs)
            bad += sum(c.outcome in GATING for c in cells)
            recorded += sum(c.outcome != Outcome.INTERRUPTED for c in cells)
    if stop.requested:  # the report would take longer than a stopped run should
        print(stop.summary(recorded), flush=True)
        return stop.exit_code
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
    from harness.plan.sessions import state_interpreters
    from harness.report.pick import pick

    matrix, releases = check_matrix(path)
    rows = pick(matrix, releases, store_for(matrix).load(), args.version, args.resolution,
                state_interpreters(matrix))
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    print(f"{matrix.settings.package} {args.version}: the variant of each story to show, the evidence for it "
          "as released and as installed today, and the command that rehearses it in a fresh env\n")
    headers = ("story", "variant", "as released", "installed today", "rehearse by hand")
    table = [(r.story, r.variant, r.verdict, r.today or "-", r.command or "-") for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(show_lines=True)
        for header in headers:
            rich_table.add_column(header, overflow="fold")
        for row in table:
            rich_table.add_row(*row)
        Console().print(rich_table)
    else:
        print(tabulate(table, headers=headers))
    return 0


def cmd_refresh(path: Path, args) -> int:
    from harness.config.parse import load_matrix

    matrix = load_matrix(path)
    started = time.monotonic()
    snapshot = matrix.resolve(matrix.settings.releases_file)
    first = not snapshot.is_file()
    releases, new = refresh_snapshot(snapshot, matrix.settings.package)
    print(f"{snapshot}: {len(releases)} releases of {matrix.settings.package} ({time.monotonic() - started:.1f}s)"
          + ("; a first snapshot" if first else f"; new since the last snapshot: "
             f"{', '.join(r.version for r in new) or 'none'}"))
    return 0


def cmd_init(path: Path, args) -> int:
    """`path` is ignored unless --matrix was given: the matrix goes into the folder."""
    from harness.config.init import starter_matrix

    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        print(f"error: {folder} is not a folder")
        return 2
    target = path if args.matrix else folder / "matrix.toml"
    if target.exists():
        print(f"error: {target} exists; init never overwrites a matrix (move it away to start again)")
        return 2
    text, guesses = starter_matrix(folder)
    if not guesses:
        print(f"error: no Python scripts under {folder}")
        return 2
    target.write_text(text, encoding="utf-8")
    eras = {era: sum(g.era == era for g in guesses) for era in ("classic", "modern", "unknown")}
    print(f"wrote {target}: {len(guesses)} demo(s) ({eras['classic']} classic, {eras['modern']} modern, "
          f"{eras['unknown']} without an era)")
    for g in guesses:
        if g.calls_nothing:
            print(f"  {g.path}: defines flows but calls none; its cell will only prove it imports")
    snapshot = target.parent / "reports" / "releases.json"
    if snapshot.is_file():
        print(f"{snapshot}: kept as it is (`refresh` updates it)")
    else:
        cmd_refresh(target, args)
    shown = f"python3 -m harness --matrix {target}"
    print(f"next: {shown} check; {shown} run RELEASE...; {shown} ranges --bisect")
    return 0


def cmd_bisect(path: Path, args) -> int:
    from harness.evidence.commands import cmd_bisect as bisect

    return bisect(path, args)


def cmd_ranges(path: Path, args) -> int:
    from harness.evidence.commands import cmd_ranges as ranges

    return ranges(path, args)


# The nox processes import this module for `main` and `run_command`: a command's own modules are imported
# when it runs (a run with nothing to run starts six such processes).
COMMANDS = {
    "check": cmd_check,
    "list": cmd_list,
    "run": cmd_run,
    "report": cmd_report,
    "pick": cmd_pick,
    "refresh": cmd_refresh,
    "bisect": cmd_bisect,
    "ranges": cmd_ranges,
    "init": cmd_init,
}
