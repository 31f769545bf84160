"""The version-matrix harness: matrix.toml → envs per release → cells → report.

It never imports the package under test; it drives it in other interpreters.
"""

import sys
from pathlib import Path

__version__ = "0.7.0"

OWN_BYTECODE = Path(__file__).resolve().parent.parent / ".matrix" / "pycache"


def keep_own_bytecode() -> None:
    """Let the harness's own processes keep their bytecode when PYTHONDONTWRITEBYTECODE forbids it.

    Every nox process (the listing, each session worker, the report) imports the
    harness again; compiling it from source each time was a quarter of a run
    with nothing to run. The bytecode goes under the state folder beside the
    harness (`.matrix/pycache`, as the envs' bytecode does), never beside the
    sources, so the tree stays as clean as the setting asks. A chosen
    PYTHONPYCACHEPREFIX, or bytecode already allowed, is left as it is.
    """
    if sys.dont_write_bytecode and sys.pycache_prefix is None:
        sys.pycache_prefix = str(OWN_BYTECODE)
        sys.dont_write_bytecode = False
