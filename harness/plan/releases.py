"""The package's releases: read from the configured index, kept as a snapshot.

Listing sessions and planning read only the committed snapshot, so they need
no network; `refresh_snapshot` (the `refresh` session) updates it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from harness.config.model import Demo


@dataclass(frozen=True)
class Release:
    version: str
    uploaded: str  # ISO date-time (UTC) of the earliest file upload
    requires_python: str = ""
    yanked: bool = False

    @property
    def parsed(self) -> Version:
        return _parse(self.version)

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.uploaded[:10])

    @property
    def line(self) -> str:
        """The major line, e.g. '2.x'."""
        return f"{self.parsed.major}.x"

    @property
    def minor(self) -> str:
        return f"{self.parsed.major}.{self.parsed.minor}"

    @property
    def exclude_newer(self) -> str:
        """The --exclude-newer date that resolves dependencies as of this release's upload day."""
        return (self.date + dt.timedelta(days=1)).isoformat()

    def python_ok(self, python_version: str) -> bool:
        if not self.requires_python:
            return True
        return _python_fits(self.requires_python, python_version)


@functools.cache
def _python_fits(requires_python: str, python_version: str) -> bool:
    """Cached: hundreds of releases share a handful of Requires-Python strings (the report asks per cell)."""
    try:
        return SpecifierSet(requires_python).contains(python_version, prereleases=True)
    except Exception:
        return True


class UnknownRelease(Exception):
    """A version that is not a usable release of the package; the message names the nearest ones."""


_VERSION_CACHE: dict[str, Version] = {}


def _parse(version: str) -> Version:
    parsed = _VERSION_CACHE.get(version)
    if parsed is None:
        parsed = _VERSION_CACHE[version] = Version(version)
    return parsed


class SnapshotError(Exception):
    pass


def load_snapshot(path: Path) -> list[Release]:
    if not path.is_file():
        raise SnapshotError(
            f"{path}: release snapshot not found; create it with `nox -s refresh` (another repository: "
            "`python3 -m harness --matrix FILE refresh`) "
            "(reads the index uv/pip are configured with)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        releases = [_checked_release(index, item) for index, item in enumerate(data["releases"])]
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: not a release snapshot ({str(exc)[:200]}); "
                            "rebuild it with `nox -s refresh`") from None
    return sorted(releases, key=lambda r: r.parsed)


def _checked_release(index: int, item: dict) -> Release:
    """A snapshot entry whose version and upload date parse (planning and reports rely on both)."""
    release = Release(**item)
    where = f"releases[{index}]"
    for key, kind in (("version", str), ("uploaded", str), ("requires_python", str), ("yanked", bool)):
        if not isinstance(getattr(release, key), kind):
            raise ValueError(f"{where}.{key}: expected a {kind.__name__}, got {getattr(release, key)!r}")
    try:
        _parse(release.version)
    except InvalidVersion:
        raise ValueError(f"{where}.version: {release.version!r} is not a version (PEP 440)") from None
    try:
        dt.datetime.fromisoformat(release.uploaded.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}.uploaded: {release.uploaded!r} is not an ISO date-time "
                         "(e.g. 2024-05-01T12:00:00Z)") from None
    return release


def usable(releases: list[Release], prereleases: bool = False) -> list[Release]:
    """Drop yanked releases and, unless asked, pre-releases."""
    return [r for r in releases if not r.yanked and (prereleases or not r.parsed.is_prerelease)]


# --- profiles -----------------------------------------------------------------


def select_releases(candidates: list[Release], profile: str) -> list[Release]:
    """Pick releases from one demo's in-range candidates (sorted oldest first)."""
    if not candidates:
        return []
    if profile == "all":
        return list(candidates)
    if profile == "edges":
        return [candidates[0]] if len(candidates) == 1 else [candidates[0], candidates[-1]]
    if profile in ("majors", "minors"):
        newest: dict[tuple, Release] = {}
        for release in candidates:
            key = release.parsed.release[:1] if profile == "majors" else release.parsed.release[:2]
            newest[key] = release  # candidates ascend, so the last one wins
        return sorted(newest.values(), key=lambda r: r.parsed)
    raise ValueError(f"unknown profile {profile!r}")


def nearest(releases: list[Release], version: str, count: int = 3) -> list[str]:
    """Releases closest to a version that does not exist, for error messages."""
    try:
        target = Version(version)
    except InvalidVersion:
        return [r.version for r in releases[-count:]]
    below = [r.version for r in releases if r.parsed < target][-count:]
    above = [r.version for r in releases if r.parsed > target][:count]
    return below[-2:] + above[:2] if below and above else below + above


# --- the index ------------------------------------------------------------------


def configured_index_url() -> str:
    """The simple index that uv and pip would use, without naming any host here."""
    for var in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=30,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    from pip._internal.models.index import PyPI  # pip's own default index

    return PyPI.simple_url


def fetch_releases(package: str, index_url: str | None = None, timeout: float = 60) -> list[Release]:
    """Read every release with its upload date, Requires-Python and yanked flag (PEP 691/700)."""
    index_url = (index_url or configured_index_url()).rstrip("/")
    data = _read_index_page(f"{index_url}/{package}/", timeout)
    files: dict[str, list[dict]] = {}
    for item in data.get("files", []):
        version = _file_version(item["filename"])
        if version is not None:
            files.setdefault(version, []).append(item)
    releases = []
    for version, items in files.items():  # versions that never had files are absent here
        uploaded = min(i.get("upload-time") or "9999" for i in items)
        if uploaded == "9999":
            continue  # the index gives no dates: cannot resolve as released
        requires = next((i.get("requires-python") for i in items if i.get("requires-python")), "") or ""
        releases.append(
            Release(
                version=version,
                uploaded=uploaded.replace("Z", "+00:00")[:19] + "Z",
                requires_python=requires,
                yanked=all(bool(i.get("yanked")) for i in items),
            )
        )
    return sorted(releases, key=lambda r: r.parsed)


def _read_index_page(url: str, timeout: float) -> dict:
    """The index's JSON page of a package; an unreachable or unreadable index is a SnapshotError naming the URL."""
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    shown = _without_credentials(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        raise SnapshotError(f"{shown}: the index answered HTTP {exc.code} ({exc.reason}); is the package name "
                            "right, and is this the index uv/pip are configured with?") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts and refused connections are OSErrors
        reason = getattr(exc, "reason", None) or exc
        raise SnapshotError(f"{shown}: cannot read the release list ({reason}); check the network and the index "
                            "uv/pip are configured with (UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL or "
                            "pip config), then rerun `nox -s refresh`") from None
    if not isinstance(data, dict):
        raise SnapshotError(f"{shown}: not a package page of a simple index (PEP 691 JSON expected)")
    return data


def _without_credentials(url: str) -> str:
    """The URL as an error message may show it: a user or token in it is left out."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _file_version(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    match = re.match(r".+-(\d[^-]*)\.(?:tar\.bz2|egg)$", filename)
    return match.group(1) if match else None


def write_snapshot(path: Path, package: str, releases: list[Release]) -> None:
    payload = {
        "package": package,
        "fetched": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "releases": [asdict(r) for r in releases],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def refresh_snapshot(path: Path, package: str, index_url: str | None = None) -> tuple[list[Release], list[Release]]:
    """Update the snapshot; return (all releases, releases new since the old snapshot)."""
    try:
        old = {r.version for r in load_snapshot(path)}
    except SnapshotError:  # missing or unreadable: this refresh is what replaces it
        old = set()
    releases = fetch_releases(package, index_url)
    if not releases:
        raise SnapshotError(f"the index has no files for {package!r}; is the package name right?")
    write_snapshot(path, package, releases)
    return releases, [r for r in releases if r.version not in old]


def demo_candidates(demo: Demo, releases: list[Release]) -> list[Release]:
    return [r for r in releases if demo.claims(r.parsed)]
