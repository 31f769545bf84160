"""The options of a run and of its report, declared once.

`python -m harness run/report` and the nox sessions (their options after `--`) parse them with
the same argparse code, so both spell them alike and both refuse an unknown one. The MATRIX_*
variables are their defaults: an option given on the command line wins.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.config.environ import Environ
from harness.config.model import PROFILES, RESOLUTIONS
from harness.config.options import BACKENDS
from harness.plan.shards import parse_shard


class OptionsError(ValueError):
    """Options after `--` that the nox sessions do not accept."""


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def add_run_options(parser: argparse.ArgumentParser, environ: Environ) -> None:
    parser.add_argument("--force", action="store_true", default=environ.force,
                        help="run every cell, even those whose inputs are unchanged (MATRIX_FORCE=1)")
    parser.add_argument("--no-warm", action="store_true", default=not environ.warm,
                        help="run every demo as a fresh interpreter, no forking (MATRIX_WARM=0)")
    parser.add_argument("--shard", metavar="I/N", type=_shard,
                        help="run only shard I of N of the profile's sessions (balanced by recorded durations)")
    parser.add_argument("--profile", choices=PROFILES, help="the profile to run, or to shard (default: the matrix's)")
    add_backend_option(parser, environ)
    add_jobs_option(parser, environ)


def add_backend_option(parser: argparse.ArgumentParser, environ: Environ) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default=environ.backend,
                        help="the API servers' database (default: MATRIX_BACKEND, else [harness] backend)")


def add_jobs_option(parser: argparse.ArgumentParser, environ: Environ) -> None:
    parser.add_argument("--jobs", metavar="N", type=_jobs, default=environ.jobs,
                        help="demos of one env to run at once (default: MATRIX_JOBS, else [harness] jobs)")


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merge", nargs="+", metavar="DIR", type=Path,
                        help="the run is these state folders (e.g. CI shards' .matrix/), merged")
    parser.add_argument("--baseline", metavar="FILE", type=Path,
                        help="results.json to diff against (default: reports/results.json as committed in git HEAD, "
                             "else as it is on disk before this report rewrites it)")


def add_resolution_option(parser: argparse.ArgumentParser, environ: Environ) -> None:
    parser.add_argument("--resolution", choices=RESOLUTIONS, default=environ.resolution,
                        help="dependencies as of each release, or today's (default: MATRIX_RESOLUTION, "
                             "else [harness] resolution)")


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise OptionsError(message)


def session_parser(environ: Environ) -> argparse.ArgumentParser:
    """What nox passes after `--`: the run's options and the report's together, since `nox -t PROFILE -- …`
    hands the same list to the release sessions and to `report`; each uses its own and ignores the rest."""
    parser = _RaisingParser(prog="nox … --", add_help=False)
    add_run_options(parser, environ)
    add_report_options(parser)
    return parser


def session_options(posargs: list[str], environ: Environ) -> argparse.Namespace:
    """The options after `--`, or an OptionsError that says what is wrong and what is accepted."""
    parser = session_parser(environ)
    try:
        return parser.parse_args(posargs)
    except OptionsError as exc:
        raise OptionsError(f"options after --: {exc}; {' '.join(parser.format_usage().split())}") from None
