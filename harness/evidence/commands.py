"""`bisect` and `ranges` as commands: options in, a verdict out (cli.py parses, these run and print)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from harness.config.model import Demo, Matrix, MatrixError
from harness.evidence.bisector import Bisector, BisectResult, BisectStopped, ordered_window
from harness.evidence.edges import Mark, catalog_evidence, mark_of
from harness.evidence.probes import ProbeRunner
from harness.evidence.rewrite import proposed_changes, rewritten, unified
from harness.evidence.steps import BisectError
from harness.evidence.survey import survey
from harness.evidence.verdicts import check_problems, edge_counts, evidence_rows
from harness.plan.check import check_matrix
from harness.plan.releases import Release, UnknownRelease, nearest, usable
from harness.results.records import ResultSet
from harness.results.store import store_for
from harness.run.lock import state_lock
from harness.run.stop import stop_on_signals


def add_evidence_commands(commands, add_resolution, add_probe_options) -> None:
    """The `bisect` and `ranges` subcommands (cli.py owns the parser and the shared options: the resolution,
    and the probes' --jobs and --backend)."""
    bisect = commands.add_parser("bisect", help="the first release where one demo's behaviour changes")
    bisect.add_argument("demo", help="the demo's path as matrix.toml gives it (or its file name)")
    bisect.add_argument("--good", metavar="VERSION", help="a release it passes on (default: from the records)")
    bisect.add_argument("--bad", metavar="VERSION", help="a release it fails on (default: from the records)")
    bisect.add_argument("--repeat", metavar="N", type=int, default=1,
                        help="run each candidate N times; one that both passes and fails is flaky, not bad")
    bisect.add_argument("--any-failure", action="store_true",
                        help="any failure is bad (default: only one that fails like the bad end)")
    bisect.add_argument("--prereleases", action="store_true", help="pre-releases are candidates too")
    ranges = commands.add_parser("ranges", help="each demo's range as the recorded cells support it")
    ranges.add_argument("--bisect", action="store_true",
                        help="run the probes that prove every unproven edge (neighbours outside, bisects of gaps)")
    ranges.add_argument("--write", action="store_true", help="apply the evidence's ranges to the matrix file")
    ranges.add_argument("--check", action="store_true",
                        help="exit 1 on a claimed fail, a pass outside a range, an unproven edge")
    for parser in (bisect, ranges):
        add_resolution(parser)
        add_probe_options(parser)


def _releases(matrix: Matrix, releases: list[Release], prereleases: bool = False) -> list[Release]:
    return usable(releases, prereleases or matrix.settings.prereleases)


def find_demo(matrix: Matrix, name: str) -> Demo:
    wanted = name.removeprefix("./")
    found = [d for d in matrix.demos if d.path == wanted or Path(d.path).name == Path(wanted).name
             or Path(d.path).stem == wanted]
    if len(found) != 1:
        close = [d.path for d in matrix.demos if Path(wanted).stem.split("_")[0] in d.path][:5]
        raise MatrixError(matrix.path, [f"demos: {name!r} {'is ambiguous' if found else 'is not a declared demo'}"
                                        + (f" (did you mean {', '.join(close)}?)" if close else "")])
    return found[0]


def find_release(releases: list[Release], version: str, package: str) -> Release:
    for release in releases:
        if release.version == version:
            return release
    raise UnknownRelease(f"{version} is not a usable release of {package} "
                         f"(nearest: {', '.join(nearest(releases, version))})")


def ends_from_records(demo: Demo, releases: list[Release], results: ResultSet, resolution: str) -> tuple[Release,
                                                                                                            Release]:
    """The newest change in the records: a pass and a fail with no measured release between them."""
    measured = []
    for release in releases:
        mark = mark_of(results.cells.get((demo.path, release.version, resolution)))
        if mark in (Mark.WORKS, Mark.FAILS):
            measured.append((release, mark))
    changes = [(a, b) for a, b in zip(measured, measured[1:], strict=False) if a[1] != b[1]]
    if not changes:
        raise BisectError(f"{demo.path}: the records hold no pass next to a fail ({len(measured)} measured "
                          "release(s)); give both ends: --good VERSION --bad VERSION")
    (older, older_mark), (newer, _) = changes[-1]
    return (older, newer) if older_mark == Mark.WORKS else (newer, older)


def cmd_bisect(path: Path, args: argparse.Namespace) -> int:
    matrix, snapshot = check_matrix(path)
    matrix = matrix.with_backend(args.backend)  # the probes' API servers: --backend, MATRIX_BACKEND, the matrix's
    releases = _releases(matrix, snapshot, args.prereleases)
    resolution = args.resolution or matrix.settings.resolution
    demo = find_demo(matrix, args.demo)
    recorded = store_for(matrix).load()
    package = matrix.settings.package
    try:
        if args.good and args.bad:
            good, bad = find_release(releases, args.good, package), find_release(releases, args.bad, package)
        else:
            good, bad = ends_from_records(demo, releases, recorded, resolution)
            good = find_release(releases, args.good, package) if args.good else good
            bad = find_release(releases, args.bad, package) if args.bad else bad
        if good == bad:
            raise BisectError("--good and --bad are the same release")
        window = ordered_window(releases, good, bad)
        print(f"bisect {demo.path}: good {good.version}, bad {bad.version}, {len(window) - 2} release(s) between")
        with stop_on_signals(), state_lock(matrix.resolve(matrix.settings.state_dir)), \
                ProbeRunner(matrix, resolution, _indented, args.jobs) as runner:
            bisector = Bisector(runner, demo, recorded, resolution, _indented, args.repeat, args.any_failure, package)
            result = bisector.run(window)
    except BisectError as exc:
        print(f"error: {exc}")
        return 2
    except BisectStopped as exc:
        print(f"bisect interrupted: {exc}")
        return 130
    print_bisect(result)
    return 0


def _indented(line: str) -> None:
    print(f"    {line}", flush=True)


def print_bisect(result: BisectResult) -> None:
    bisection = result.bisection
    good, bad = bisection.window
    if bisection.isolated:
        print(f"\n{result.demo.path}: last good {good.version}, first bad {bad.version}")
    else:
        skipped = ", ".join(r.version for r in bisection.inside)
        print(f"\n{result.demo.path}: the change lies between {good.version} (good) and {bad.version} (bad); "
              f"these could not decide it: {skipped}")
        if any("fails differently" in note for note in result.notes):
            print("  (they fail, but not like the bad end: --any-failure counts any failure as bad, or choose a "
                  "--bad that fails like them)")
    print(f"  {good.version}: {result.good_cell.outcome}")
    print(f"  {bad.version}: {result.bad_cell.outcome}: {result.bad_cell.error or '(no error line)'}")
    for note in result.notes:
        print(f"  skipped {note}")
    for line in result.why:
        print(f"  what differs: {line}")
    print(f"  the demo's range on this side: {result.specifier()}")
    print(f"  {result.runs} cell(s) run; envs installed ahead while another candidate ran: "
          f"{', '.join(result.ahead) or 'none'}")


def cmd_ranges(path: Path, args: argparse.Namespace) -> int:
    matrix, snapshot = check_matrix(path)
    matrix = matrix.with_backend(args.backend)  # the probes' API servers: --backend, MATRIX_BACKEND, the matrix's
    releases = _releases(matrix, snapshot)
    resolution = args.resolution or matrix.settings.resolution
    if args.bisect:
        with stop_on_signals() as stop, state_lock(matrix.resolve(matrix.settings.state_dir)):
            evidence = survey(matrix, releases, resolution, _indented, args.jobs)
        if stop.requested:
            print("ranges --bisect interrupted: the probes recorded so far stand")
            return 130
    else:
        evidence = catalog_evidence(matrix, releases, store_for(matrix).load(), resolution)
    print(tabulate(evidence_rows(evidence, releases),
                   headers=["demo", "declared", "evidence", "releases", "lower edge | proof", "upper edge | proof"]))
    counts = edge_counts(evidence)
    total = sum(counts.values())
    print(f"\nedges that need evidence: {total}; " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    text = path.read_text(encoding="utf-8")
    after = rewritten(text, proposed_changes(evidence, releases), path)
    if after != text:
        print("\n" + unified(text, after, path))
        if args.write:
            path.write_text(after, encoding="utf-8")
            matrix, _ = check_matrix(path)  # the ranges as written: what the check below is about
            evidence = catalog_evidence(matrix, releases, store_for(matrix).load(), resolution)
            print(f"wrote {path}")
    problems = check_problems(evidence, releases)
    for problem in problems:
        print(f"problem: {problem}")
    if args.check and problems:
        print(f"ranges --check: {len(problems)} problem(s)")
        return 1
    return 0
