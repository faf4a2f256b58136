"""Reading a wheel index page (PEP 691 JSON, else PEP 503 HTML) with packaging's tags.

Pure parsers over text (tested on captured pages) and one fetch through the HTTP seam.
Plain http is refused except on loopback addresses.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from ptenv.errors import InstallFailed, NoCompatibleBuild, UsageError
from ptenv.models import Machine, Plan

if TYPE_CHECKING:
    from ptenv import _http

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str | None


@dataclass(frozen=True)
class Wheel:
    file: IndexFile
    name: str
    version: Version
    tags: frozenset[Tag]


# What an installer reads from an anchor besides its href: PEP 503, 592, 658 and 714.
PAGE_ATTRIBUTES = (
    "data-requires-python",
    "data-yanked",
    "data-dist-info-metadata",
    "data-core-metadata",
    "data-gpg-sig",
)


@dataclass(frozen=True)
class Anchor:
    """One file on a project page: its absolute URL (with any #sha256= fragment), the name
    the page gives it and the PEP 503 attributes it carries, as found."""

    url: str
    text: str
    attributes: tuple[tuple[str, str | None], ...] = ()

    @property
    def file(self) -> IndexFile:
        url, _, fragment = self.url.partition("#")
        sha256 = fragment.split("=", 1)[1] if fragment.startswith("sha256=") else None
        name = self.text or urllib.parse.unquote(url.rsplit("/", 1)[-1])
        return IndexFile(filename=name, url=url, sha256=sha256)


class _Anchors(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.anchors: list[Anchor] = []
        self._open: tuple[str, tuple[tuple[str, str | None], ...]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            href = found.get("href")
            kept = tuple((k, v) for k, v in attrs if k in PAGE_ATTRIBUTES)
            self._open = (href, kept) if href is not None else None
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            href, kept = self._open
            url = urllib.parse.urljoin(self.page_url, href)
            self.anchors.append(Anchor(url, "".join(self._text).strip(), kept))
            self._open = None


def html_anchors(page_url: str, text: str) -> list[Anchor]:
    """PEP 503: every anchor is a file; its text is the filename."""
    parser = _Anchors(page_url)
    parser.feed(text)
    return parser.anchors


def json_anchors(page_url: str, text: str) -> list[Anchor]:
    """PEP 691's files, as the anchors of the equivalent PEP 503 page."""
    document = json.loads(text)
    anchors = []
    for entry in document.get("files", []):
        url = urllib.parse.urljoin(page_url, entry["url"])
        sha = (entry.get("hashes") or {}).get("sha256")
        if sha:
            url = f"{url.partition('#')[0]}#sha256={sha}"
        attributes: list[tuple[str, str | None]] = []
        if entry.get("requires-python"):
            attributes.append(("data-requires-python", str(entry["requires-python"])))
        yanked = entry.get("yanked")
        if yanked:
            attributes.append(("data-yanked", yanked if isinstance(yanked, str) else ""))
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
        if metadata:
            digest = metadata.get("sha256") if isinstance(metadata, dict) else None
            value = f"sha256={digest}" if digest else "true"
            attributes += [("data-dist-info-metadata", value), ("data-core-metadata", value)]
        anchors.append(Anchor(url, str(entry["filename"]), tuple(attributes)))
    return anchors


def parse_simple_html(page_url: str, text: str) -> list[IndexFile]:
    return [anchor.file for anchor in html_anchors(page_url, text)]


def parse_simple_json(page_url: str, text: str) -> list[IndexFile]:
    """PEP 691: {"files": [{"filename", "url", "hashes": {"sha256"}}]}."""
    return [anchor.file for anchor in json_anchors(page_url, text)]


def wheels(files: Iterable[IndexFile], project: str) -> list[Wheel]:
    found = []
    for file in files:
        if not file.filename.endswith(".whl"):
            continue
        try:
            name, version, _, tags = parse_wheel_filename(file.filename)
        except InvalidWheelFilename:
            continue
        if name == canonicalize_name(project):
            found.append(Wheel(file, name, version, tags))
    return found


def target_tags(machine: Machine) -> list[Tag]:
    """Wheel tags the target interpreter accepts, most specific first."""
    python = machine.python
    major, minor = (int(part) for part in python.minor_version.split("."))
    abi = f"cp{major}{minor}" + ("t" if python.free_threaded else "")
    platforms = _platform_tags(machine)
    tags = list(cpython_tags((major, minor), abis=[abi, "abi3", "none"], platforms=platforms))
    tags += list(compatible_tags((major, minor), f"cp{major}{minor}", platforms=platforms))
    return tags


def _platform_tags(machine: Machine) -> list[str]:
    """Every platform tag the target accepts, most specific first (PEP 600, PEP 656, and
    packaging's macOS rules): the real nvidia-* wheels are manylinux2010 and manylinux1."""
    arch = machine.arch
    if machine.os.system == "windows":
        return ["win_amd64" if arch == "x86_64" else "win_arm64"]
    if machine.os.system == "macos":
        mac_arch = "arm64" if arch == "aarch64" else "x86_64"
        return list(mac_platforms(_macos_version(machine), mac_arch))
    if machine.os.libc_name == "musl":
        minor = _libc_minor(machine, default=2)
        return [*(f"musllinux_1_{k}_{arch}" for k in range(minor, -1, -1)), f"linux_{arch}"]
    return [*_manylinux(arch, _libc_minor(machine, default=40)), f"linux_{arch}"]


# The legacy manylinux names are aliases of glibc floors (PEP 600), for these arches only.
_LEGACY = {
    17: ("manylinux2014", {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}),
    12: ("manylinux2010", {"x86_64", "i686"}),
    5: ("manylinux1", {"x86_64", "i686"}),
}


def _manylinux(arch: str, glibc_minor: int) -> list[str]:
    tags = []
    for minor in range(glibc_minor, 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        legacy = _LEGACY.get(minor)
        if legacy is not None and arch in legacy[1]:
            tags.append(f"{legacy[0]}_{arch}")
    return tags


def _libc_minor(machine: Machine, default: int) -> int:
    """The target's libc minor (glibc 2.X, musl 1.X); a described target: assume new."""
    version = machine.os.libc_version
    if not version or "os" in machine.overridden:
        return default
    try:
        return int(version.split(".")[1])
    except (IndexError, ValueError):
        return default


def _macos_version(machine: Machine) -> tuple[int, int]:
    """macOS X.Y of the target; a described one (or an unreadable version): the newest."""
    if "os" not in machine.overridden:
        parts = machine.os.release.split(".")
        try:
            return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            pass
    return (30, 0)


def pick(found: Sequence[Wheel], version: Version, tags: Sequence[Tag]) -> Wheel | None:
    """The wheel of exactly `version` (local tag included) whose tags the target accepts."""
    rank = {tag: i for i, tag in enumerate(tags)}
    fitting = [w for w in found if w.version == version and w.tags & rank.keys()]
    return min(fitting, key=lambda w: min(rank[t] for t in w.tags if t in rank), default=None)


def check_url(url: str, insecure: bool = False, what: str = "--index-base") -> None:
    """A well-formed http(s) or file URL; plain http only on loopback (or with --insecure)."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise UsageError(
            f"{what} {url!r} contains spaces or control characters.",
            hint="Give the URL alone, e.g. https://mirror.example/whl.",
        )
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - parsing it is the check: a non-numeric port raises
    except ValueError:
        raise UsageError(
            f"{what} {url}: the port is not a number.",
            hint="Write it as https://host:8443/path, or leave the port out.",
        ) from None
    if parts.scheme in {"https", "http"} and not parts.hostname:
        raise UsageError(f"{what} {url}: no host in it.", hint="Give https://host/path.")
    if parts.scheme in {"https", "file"}:
        return
    if parts.scheme != "http":
        raise UsageError(
            f"{what} {url!r} is not an http(s) or file URL.", hint="Give an https:// index URL."
        )
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (loopback or insecure):
        raise UsageError(
            f"{url}: plain http is refused (packages could be tampered with).",
            hint="Use https, or --insecure if you trust this network.",
        )


def fetch_project(index_url: str, project: str) -> list[IndexFile]:
    """The files of one project on an index (PEP 691 JSON preferred, PEP 503 HTML otherwise)."""
    page = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    if page.startswith("file://"):
        return _local_project(page)
    from ptenv import _http  # noqa: PLC0415 - the network stack only when a page is read

    try:
        found = _http.get_page(page, accept=ACCEPT)
    except _http.HttpError as error:
        if error.status == 404:
            return []
        raise unreachable(error, "the index") from None
    return (
        parse_simple_json(found.url, found.text)
        if "json" in found.content_type
        else parse_simple_html(found.url, found.text)
    )


def unreachable(error: _http.HttpError, what: str) -> InstallFailed:
    """One sentence for a page ptenv could not read, with the seam's hint where it has one."""
    if error.status is not None:
        return InstallFailed(
            f"{what.capitalize()} answered HTTP {error.status} for {error.url}.",
            hint=error.hint or "Check --index-base / --mirror, or use --find-links.",
        )
    return InstallFailed(
        f"Cannot reach {what} {error.url}: {error.reason}.",
        hint=error.hint or "Check the network or use --mirror NAME / --find-links DIR.",
    )


def _local_project(page: str) -> list[IndexFile]:
    """A file:// index (as pip reads one): DIR/<project>/index.html; no folder = not there."""
    folder = Path(urllib.parse.unquote(urllib.parse.urlsplit(page).path))
    listing = folder / "index.html"
    if not listing.is_file():
        return []
    try:
        text = listing.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InstallFailed(
            f"Cannot read the local index page {listing}: {error.strerror}.",
            hint="Check the folder's permissions, or use --find-links DIR.",
        ) from None
    return parse_simple_html(listing.as_uri(), text)


def newer_than_data(where: str, versions: Iterable[Version], newest_known: Version) -> str | None:
    """Say plainly when a source holds a torch the release data does not describe."""
    newer = sorted(v for v in versions if v.release > newest_known.release)
    if not newer:
        return None
    return (
        f"{where} holds torch {newer[-1]}, newer than ptenv's release data "
        f"({newest_known}); its build matrix is unknown to ptenv, so it was not "
        "considered. Update ptenv."
    )


def verify_plan(plan: Plan, machine: Machine, newest_known: Version) -> Plan:
    """Confirm each pinned wheel exists on the plan's index for the target's tags."""
    tags = target_tags(machine)
    reasons, warnings = list(plan.reasons), list(plan.warnings)
    for pin in plan.packages:
        name, version = pin.name, pin.version
        found = wheels(fetch_project(plan.index_url, name), name)
        wheel = pick(found, version, tags)
        if wheel is None:
            held = sorted({str(w.version) for w in found}, key=Version)
            raise NoCompatibleBuild(
                f"{plan.index_url} has no {name} {version} wheel for Python {plan.python} on "
                f"{plan.platform}.",
                hint=(f"It holds {name} {', '.join(held[-8:])}" if held else f"It holds no {name}")
                + "; pick another --torch, or another index.",
            )
        reasons.append(f"Index check: {wheel.file.filename} is on {plan.index_url}.")
        newer = newer_than_data(plan.index_url, [w.version for w in found], newest_known)
        if name == "torch" and newer:
            warnings.append(newer)
    return replace(plan, reasons=tuple(reasons), warnings=tuple(warnings))
