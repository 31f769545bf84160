"""Sessions of the Prefect version matrix. Thin on purpose: the work is in harness/.

    nox                      default profile (majors), then the report
    nox --parallel auto      the same, one release session per core at a time (the README's main job)
    nox -t minors            another profile: majors, minors, edges, all, new
    nox -t 2.14.3            one release (every session is tagged with its release); -t 2.14.3 3.9.1 for two
    nox -s check | report | refresh | tests | bench
    nox -s pick -- 2.14.3
    nox -s bisect -- DEMO    the first release where a demo's behaviour changes (--good X --bad Y, --repeat N)
    nox -s init -- FOLDER    a starter matrix.toml for another folder of scripts
    nox -s ranges            each demo's range from the evidence (-- --bisect runs missing probes, --write, --check)
    nox -- --force           rerun cells whose inputs are unchanged (or MATRIX_FORCE=1); --no-warm, --jobs N
    nox -t majors -- --shard 2/4 [--profile majors]    one CI shard; nox -s shards -- 4 majors lists them
    nox -s report -- --merge DIR... [--baseline FILE]  merge shards' records, diff against the baseline

MATRIX_FILE points at another matrix (demo paths relative to it);
MATRIX_RESOLUTION=latest resolves with today's dependencies (the README lists every MATRIX_* variable).
"""

import json
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))

from harness import keep_own_bytecode  # noqa: E402

keep_own_bytecode()  # before the harness's modules are imported: each nox process imports them again

from harness import cli  # noqa: E402
from harness.config.environ import EnvironError, read_environ  # noqa: E402
from harness.config.model import PROFILES  # noqa: E402
from harness.nox_sessions import options_of, register_release_sessions, shard_list  # noqa: E402

try:
    ENVIRON = read_environ()  # the one read of the MATRIX_* variables; the sessions get them from here
except EnvironError as exc:
    sys.exit(f"error: {exc}")
nox.options.default_venv_backend = "none"
MATRIX = cli.matrix_path(None, ENVIRON, default=Path(__file__).parent / "matrix.toml")
PLAN_PROBLEM = register_release_sessions(MATRIX, ENVIRON)
if PLAN_PROBLEM is not None:  # said on every nox command: it is why no release session exists
    print(f"error: {PLAN_PROBLEM}\n(no release session is registered until the matrix is fixed; "
          "`nox -s check` checks it)", file=sys.stderr)


def _harness(session: nox.Session, *args: str) -> None:
    code = cli.main(["--matrix", str(MATRIX), *args], ENVIRON)
    if code:
        session.error(f"`python -m harness {' '.join(args)}` exited {code}")


@nox.session(default=PLAN_PROBLEM is not None)
def check(session: nox.Session) -> None:
    """Validate matrix.toml against demos/ and the release snapshot."""
    _harness(session, "check")


@nox.session(tags=list(PROFILES))
def report(session: nox.Session) -> None:
    """Rebuild reports/ from recorded results; diff against the baseline (fails on a regression)."""
    options = options_of(session, ENVIRON)  # --force, --shard… are the release sessions'; the report takes the rest
    code = cli.run_command(MATRIX, "report", options)
    if code:
        session.error(f"the report exited {code}")


@nox.session(default=False)
def shards(session: nox.Session) -> None:
    """The CI matrix as JSON: nox -s shards -- N [PROFILE] (balanced by recorded durations)."""
    count = int(session.posargs[0]) if session.posargs and session.posargs[0].isdigit() else 0
    if count < 1:
        session.error("usage: nox -s shards -- N [PROFILE]   (N runners, 1 or more)")
    profile = session.posargs[1] if len(session.posargs) > 1 else "majors"
    print(json.dumps(shard_list(Path(__file__), MATRIX, ENVIRON, count, profile)))


@nox.session(default=False)
def pick(session: nox.Session) -> None:
    """Which variant of each story to show on a release: nox -s pick -- 2.14.3 [--json]."""
    if not session.posargs:
        session.error("usage: nox -s pick -- VERSION [--json]")
    _harness(session, "pick", *session.posargs)


@nox.session(default=False)
def bisect(session: nox.Session) -> None:
    """The first release where a demo's behaviour changes: nox -s bisect -- DEMO [--good X --bad Y] [--repeat N]."""
    if not session.posargs:
        session.error("usage: nox -s bisect -- DEMO [--good VERSION] [--bad VERSION] [--repeat N] [--any-failure]")
    _harness(session, "bisect", *session.posargs)


@nox.session(default=False)
def ranges(session: nox.Session) -> None:
    """Each demo's range as the recorded cells support it: nox -s ranges [-- --bisect] [--write] [--check]."""
    _harness(session, "ranges", *session.posargs)


@nox.session(default=False)
def init(session: nox.Session) -> None:
    """A starter matrix.toml for another folder of scripts: nox -s init -- FOLDER (never overwrites one)."""
    if not session.posargs:
        session.error("usage: nox -s init -- FOLDER")
    code = cli.main(["init", *session.posargs], ENVIRON)  # no --matrix: the new matrix goes into FOLDER
    if code:
        session.error(f"`python -m harness init` exited {code}")


@nox.session(default=False)
def refresh(session: nox.Session) -> None:
    """Update reports/releases.json from the index uv/pip are configured with."""
    _harness(session, "refresh")


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """The harness's own test suite (pytest); pass pytest options after --."""
    session.run(sys.executable, str(Path(__file__).parent / "tests" / "setup_browser.py"))  # chromium for the HTML test
    session.run(sys.executable, "-m", "pytest", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Plain nox, a skilled nox user and the true limit vs the harness; writes benchmarks/RESULTS.md and
    benchmarks/results.json (options after --: --rounds, --no-minors…)."""
    session.run(sys.executable, str(Path(__file__).parent / "benchmarks" / "bench.py"), *session.posargs)
