"""A session's journal: each cell appended to the result store the moment it is known, stamped with its inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import __version__
from harness.config.model import Demo, Matrix
from harness.plan.sessions import SessionPlan
from harness.results.records import CellResult, now_iso
from harness.results.store import ResultStore
from harness.run.cache import CacheInputs


@dataclasses.dataclass(frozen=True)
class Journal:
    store: ResultStore
    matrix: Matrix
    plan: SessionPlan
    inputs: CacheInputs
    cells: list[CellResult] = dataclasses.field(default_factory=list)  # recorded by this session, in order
    backend: str = ""  # the database of the env's API server (config.model.server_backend)

    def record(self, demo: Demo, outcome: str, **fields) -> CellResult:
        """A new record of the demo on this session's release; `fields` are CellResult's."""
        cell = CellResult(
            demo=demo.path, story=demo.story, variant=demo.variant, release=self.plan.release.version,
            resolution=self.plan.resolution, outcome=outcome, demo_hash=self.inputs.demo_hashes[demo.path],
            harness_version=__version__, started=fields.pop("started", None) or now_iso(),
            cache_key=self.inputs.keys[demo.path], matrix_version=self.matrix.version, backend=self.backend, **fields,
        )
        self.store.append(cell)
        self.cells.append(cell)
        return cell

    def repeat(self, earlier: CellResult) -> CellResult:
        """An earlier record whose inputs are unchanged, recorded again for this run (marked reused)."""
        cell = dataclasses.replace(earlier, reused=True, matrix_version=self.matrix.version)
        self.store.append(cell)
        self.cells.append(cell)
        return cell

    def link(self, path: Path) -> str:
        """How a record names a log: relative to the matrix folder when it is inside it."""
        try:
            return path.relative_to(self.matrix.root).as_posix()
        except ValueError:
            return str(path)
