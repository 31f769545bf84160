"""How long the warm runner takes to run a demo that does nothing: request, fork, exit, reply.

    python3 benchmarks/fork_roundtrip.py [--runs 60]

The harness's side of every warm cell's duration. Uses only the standard library in the runner
(a one-line module stands in for Prefect), so it measures the runner, not an import.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.run.process import isolated_environ  # noqa: E402
from harness.run.warm import WarmRunner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="demos to run, one after another (default 60)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="fork-roundtrip-") as folder:
        tmp = Path(folder)
        (tmp / "lib").mkdir()
        (tmp / "lib" / "standin.py").write_text("LOADED = True\n")
        (tmp / "noop.py").write_text("pass\n")
        extra = {"PYTHONPATH": str(tmp / "lib")}
        parent_env = isolated_environ({}, "standin", tmp / "parent", extra)
        runner = WarmRunner(Path(sys.executable), ("standin",), "", parent_env, tmp, tmp / "warm.log")
        try:
            if not runner.ready:
                print(f"the warm runner did not start: {runner.info}", file=sys.stderr)
                return 1
            durations = []
            for i in range(runs):
                env = isolated_environ({}, "standin", tmp / f"cell{i}", extra)
                result = runner.run(tmp / "noop.py", tmp, env, tmp / "logs" / f"{i}.log", 30)
                if result is None or result.exit_code != 0:
                    print(f"run {i} did not fork or failed: {result}", file=sys.stderr)
                    return 1
                durations.append(result.duration * 1000)
        finally:
            runner.close()
    print(f"{runs} no-op demos: median {statistics.median(durations):.1f} ms, max {max(durations):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
