"""The committed baseline stays compact: what reports, the diff and `pick` need, not every cell's output."""

from __future__ import annotations

import json

from harness.results.records import CellResult, ResultSet
from harness.results.store import BASELINE_TAIL, ResultStore


def test_a_pass_keeps_no_output_and_other_outcomes_keep_a_trimmed_tail(tmp_path):
    store = ResultStore(tmp_path / ".matrix", tmp_path / "reports")
    long_output = "line\n" * 2000 + "RuntimeError: the end\n"
    results = ResultSet()
    for demo, outcome in (("a.py", "pass"), ("b.py", "fail"), ("c.py", "flaky")):
        cell = CellResult(demo=demo, story=demo, variant="v", release="1.4.1", resolution="as-released",
                          outcome=outcome, output_tail=long_output, error="RuntimeError: the end",
                          started="2026-01-01T00:00:00")
        store.append(cell)
        results.add(cell)
    written = json.loads(store.write_results_json(results).read_text())
    tails = {c["demo"]: c["output_tail"] for c in written["cells"]}
    assert tails["a.py"] == ""
    for demo in ("b.py", "c.py"):
        assert len(tails[demo]) == BASELINE_TAIL + 1 and tails[demo].endswith("RuntimeError: the end\n")
    assert all(c["error"] == "RuntimeError: the end" for c in written["cells"])  # what the reports show stays
    kept = store.load(committed=False).cells  # this machine's own records keep the whole tail
    assert all(c.output_tail == long_output for c in kept.values())
