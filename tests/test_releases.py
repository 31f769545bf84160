"""Release list: reading the index, dropping what cannot be tested, profiles."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from harness.plan.releases import Release, fetch_releases, load_snapshot, nearest, select_releases, usable
from tests.conftest import SNAPSHOT


def _releases(*versions: str) -> list[Release]:
    return [Release(v, f"2024-01-{i + 1:02d}T00:00:00Z") for i, v in enumerate(versions)]


CANDIDATES = _releases("0.14.0", "0.15.13", "1.0.0", "1.4.1", "2.0.0", "2.0.4", "2.14.3", "2.14.21", "3.0.0", "3.9.1")


def _versions(releases):
    return [r.version for r in releases]


def test_majors_is_the_newest_of_each_major_line():
    assert _versions(select_releases(CANDIDATES, "majors")) == ["0.15.13", "1.4.1", "2.14.21", "3.9.1"]


def test_minors_is_the_newest_patch_of_each_minor():
    assert _versions(select_releases(CANDIDATES, "minors")) == [
        "0.14.0", "0.15.13", "1.0.0", "1.4.1", "2.0.4", "2.14.21", "3.0.0", "3.9.1"]


def test_edges_and_all():
    assert _versions(select_releases(CANDIDATES, "edges")) == ["0.14.0", "3.9.1"]
    assert _versions(select_releases(CANDIDATES[:1], "edges")) == ["0.14.0"]
    assert select_releases(CANDIDATES, "all") == CANDIDATES
    assert select_releases([], "majors") == []
    with pytest.raises(ValueError):
        select_releases(CANDIDATES, "favourites")


def test_usable_drops_yanked_and_prereleases_unless_asked():
    releases = [Release("2.7.4", "2022-12-01T00:00:00Z", yanked=True), Release("3.0.0rc1", "2024-08-01T00:00:00Z"),
                Release("3.0.0", "2024-09-01T00:00:00Z")]
    assert _versions(usable(releases)) == ["3.0.0"]
    assert _versions(usable(releases, prereleases=True)) == ["3.0.0rc1", "3.0.0"]


def test_the_committed_snapshot_matches_the_measured_facts():
    releases = load_snapshot(SNAPSHOT)
    by_version = {r.version: r for r in releases}
    assert by_version["2.7.4"].yanked and by_version["2.7.5"].yanked
    assert "2.14.7" not in by_version  # never published
    assert by_version["3.9.1"].requires_python.replace(" ", "") in (">=3.11,<3.16", "<3.16,>=3.11")
    assert by_version["1.4.1"].date.isoformat() == "2022-12-05"
    assert "2.7.4" not in _versions(usable(releases))


def test_nearest_suggests_neighbours():
    assert nearest(CANDIDATES, "2.14.7") == ["2.0.4", "2.14.3", "2.14.21", "3.0.0"]
    assert nearest(CANDIDATES, "9.0") == ["2.14.21", "3.0.0", "3.9.1"]


@pytest.fixture
def index():
    """A real simple-API (PEP 691 JSON) index on loopback."""
    files = [
        {"filename": "demo_pkg-1.0.0-py3-none-any.whl", "upload-time": "2023-01-02T10:00:00Z",
         "requires-python": ">=3.8", "yanked": False},
        {"filename": "demo_pkg-1.0.0.tar.gz", "upload-time": "2023-01-01T09:00:00Z",
         "requires-python": ">=3.8", "yanked": False},
        {"filename": "demo_pkg-1.1.0.tar.gz", "upload-time": "2023-02-01T00:00:00Z", "yanked": "broken build"},
        {"filename": "demo_pkg-2.0.0rc1-py3-none-any.whl", "upload-time": "2023-03-01T00:00:00Z", "yanked": False},
    ]
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo-pkg", "files": files,
                       "versions": ["1.0.0", "1.1.0", "1.2.0", "2.0.0rc1"]}).encode()
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen["path"], seen["accept"] = self.path, self.headers.get("Accept")
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/simple", seen
    server.shutdown()


def test_fetch_reads_dates_yanked_and_requires_python(index):
    url, seen = index
    releases = {r.version: r for r in fetch_releases("demo-pkg", url)}
    assert seen["path"] == "/simple/demo-pkg/" and "vnd.pypi.simple.v1+json" in seen["accept"]
    assert set(releases) == {"1.0.0", "1.1.0", "2.0.0rc1"}  # 1.2.0 never had files
    assert releases["1.0.0"].uploaded == "2023-01-01T09:00:00Z"  # earliest file
    assert releases["1.0.0"].requires_python == ">=3.8"
    assert releases["1.1.0"].yanked and not releases["1.0.0"].yanked
    assert _versions(usable(sorted(releases.values(), key=lambda r: r.parsed))) == ["1.0.0"]
