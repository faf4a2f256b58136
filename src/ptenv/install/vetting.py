"""Where a wheel may come from, checked for every URL the resolution chose.

An index page, a mirror or a redirect picks the URLs the installer fetches. The gate
(install/gate.py) shows the installer only links that pass `refusal`; ptenv then reads the
resolution (uv's pylock, pip's report) and refuses any URL it would not have chosen itself:
https anywhere; plain http only on loopback or with --insecure; file:// only inside a folder
the user named (--find-links DIR, a file:// index and the folder above it). With uv this runs
before anything is downloaded; with pip (which resolves and installs in one step) before the
new venv replaces the old one.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ptenv import redact
from ptenv.errors import InstallFailed
from ptenv.install.lock import LockedPackage
from ptenv.install.sources import Source


def vet(packages: Sequence[LockedPackage], source: Source, *, insecure: bool) -> None:
    """InstallFailed naming the first package whose URL ptenv would not fetch."""
    roots = local_roots(source)
    for package in packages:
        why = refusal(package.url, roots, insecure)
        if why is not None:
            shown = redact.url(package.url or "")
            raise InstallFailed(
                f"The resolution would fetch {package.name} {package.version} from {shown}, "
                f"{why}; ptenv installs nothing from a URL it would not have chosen itself.",
                hint="The index or mirror links there: use another source, or fix its pages.",
            )


def vet_redirects(packages: Sequence[LockedPackage]) -> None:
    """InstallFailed naming the first wheel whose server redirects where ptenv does not follow
    (plain http elsewhere, a file:// or other scheme): the installer would follow it itself.
    Each http(s) URL is asked once (HEAD), in parallel; any other failure is left to the
    installer to report."""
    from ptenv import _http  # noqa: PLC0415 - the network stack only for remote wheels

    remote = [p for p in packages if p.url and p.url.startswith(("http://", "https://"))]

    def refused(package: LockedPackage) -> str | None:
        try:
            _http.where(package.url or "")
        except _http.RedirectRefused as error:
            return error.reason
        except _http.HttpError:
            pass  # unreachable or refused: the installer meets it and says so
        return None

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="ptenv-vet") as pool:
        answers = list(pool.map(refused, remote))
    for package, why in zip(remote, answers, strict=True):
        if why is not None:
            raise InstallFailed(
                f"The server of {package.name} {package.version} ({redact.url(package.url or '')})"
                f" {why}; ptenv installs nothing the installer would fetch from there.",
                hint="The index or mirror redirects its files there: use another source.",
            )


def refusal(url: str | None, roots: Sequence[Path], insecure: bool) -> str | None:
    if not url:
        return "without a URL"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return None
    if parts.scheme == "http":
        from ptenv import _http  # noqa: PLC0415 - urllib/ssl only once there is a URL to vet

        if _http.is_loopback(parts.hostname or "") or insecure:
            return None
        return "plain http on another host (it could be tampered with on the way)"
    if parts.scheme == "file":
        path = Path(urllib.parse.unquote(parts.path)).resolve()
        if any(path.is_relative_to(root) for root in roots):
            return None
        return "a local file in no folder named on the command line"
    return f"a {parts.scheme or 'scheme-less'} URL"


def local_roots(source: Source) -> list[Path]:
    """The local folders the user named: find-links folders, and for a file:// index the
    folder above its simple/ pages (where local indexes keep their files: /opt/pypi/simple
    links /opt/pypi/files/...)."""
    roots = []
    for entry in source.find_links:
        if entry.startswith("file://"):
            roots.append(_path(entry))
        elif "://" not in entry:
            roots.append(Path(entry).resolve())
    for url in (source.index_url, source.default_index, *source.extra_index_urls):
        if url and url.startswith("file://"):
            roots.append(_path(url).parent)
    return roots


def _path(url: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).resolve()
