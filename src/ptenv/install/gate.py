"""A loopback front for the remote pages the resolver reads: the installer never fetches a
URL that ptenv did not vet first.

Without it uv (resolving) and pip (resolving and installing in one step) read each index
page themselves and follow its links for metadata before ptenv sees the result: a remote
page linking file:///etc/shadow or a plain-http host had that file opened or that host
contacted before vetting could refuse it. With it, each remote index and flat listing of the
source becomes http://localhost:PORT/SECRET/ROUTE/ (bound to 127.0.0.1) for the installer.
The gate reads the real page through ptenv's HTTP seam (TLS, proxies, credentials, redirect
rules, deadline, size cap), keeps only the links vetting allows and serves them absolute,
with their PEP 503 attributes; the installer then fetches exactly those wheels and their
metadata.

Not fronted: local folders and file:// indexes (the user named them), and the installer's
own default index (PyPI) where the source names none. Still the installer's own: a redirect
answered by a wheel URL itself, at download time.
"""

from __future__ import annotations

import html
import re
import secrets
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ptenv import _http, redact
from ptenv.errors import InstallFailed
from ptenv.install import index, vetting
from ptenv.install.sources import Source

_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class _Route:
    upstream: str  # the real index (PEP 503 root) or flat listing, credentials included
    flat: bool  # a find-links listing: the page itself, not one page per project


@dataclass(frozen=True)
class Refusal:
    url: str  # redacted
    why: str


@dataclass
class Gate:
    """What one gated resolution saw: the links left out and the pages that failed."""

    source: Source  # the source as the installer is told it (gate URLs for remote pages)
    original: Source
    refused: list[Refusal] = field(default_factory=list)
    failures: list[_http.HttpError] = field(default_factory=list)
    prefix: str = ""  # http://127.0.0.1:PORT/SECRET/ while it serves
    routes: dict[str, _Route] = field(default_factory=dict)

    def unmask(self, text: str) -> str:
        """The installer's words with each gate URL put back as the real (redacted) one."""
        for key, route in self.routes.items():
            text = text.replace(f"{self.prefix}{key}/", redact.url(_slash(route.upstream)))
        return text

    def installer_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """NO_PROXY with the gate added, so the installer reaches it directly."""
        if not self.routes:
            return {}
        current = env.get("NO_PROXY") or env.get("no_proxy") or ""
        value = ",".join(filter(None, (current, "localhost")))
        return {"NO_PROXY": value, "no_proxy": value}

    def refused_summary(self) -> str | None:
        if not self.refused:
            return None
        unique = list(dict.fromkeys(self.refused))
        shown = "; ".join(f"{r.url} ({r.why})" for r in unique[:3])
        more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
        return f"ptenv left out {len(unique)} link(s) it would not fetch: {shown}{more}"


@contextmanager
def gated(source: Source, *, insecure: bool) -> Iterator[Gate]:
    """The source with its remote pages served through the gate, for as long as it is open."""
    gate = Gate(source=source, original=source)
    remote = [u for u in (source.index_url, source.default_index, *source.extra_index_urls,
                          *source.find_links) if u and _is_remote(u)]  # fmt: skip
    if not remote:
        yield gate
        return
    secret = secrets.token_urlsafe(16)  # other local users cannot guess where pages are
    server = _Server(("127.0.0.1", 0), _handler(gate, secret, insecure))
    # Named localhost, not 127.0.0.1: NO_PROXY can then exempt the gate alone (neither uv nor
    # pip skips the proxy for loopback by itself) and an index on 127.0.0.1 keeps its proxy.
    gate.prefix = f"http://localhost:{server.server_address[1]}/{secret}/"

    def front(url: str, flat: bool) -> str:
        if not _is_remote(url):
            return url
        key = f"{'f' if flat else 'i'}{len(gate.routes)}"
        gate.routes[key] = _Route(upstream=url, flat=flat)
        return f"{gate.prefix}{key}/"

    gate.source = replace(
        source,
        index_url=front(source.index_url, False) if source.index_url else None,
        default_index=front(source.default_index, False) if source.default_index else None,
        extra_index_urls=tuple(front(u, False) for u in source.extra_index_urls),
        find_links=tuple(front(u, True) for u in source.find_links),
    )
    thread = threading.Thread(target=server.serve_forever, name="ptenv-gate", daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the installer hung up (it had what it wanted, or it was stopped)
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def as_seen_by_ptenv(failed: InstallFailed, front: Gate) -> InstallFailed:
    """An installer failure told with the real pages: the one that could not be read, else the
    installer's words with the gate's URLs put back and the links the gate left out."""
    if front.failures:
        return index.unreachable(front.failures[0], front.original.label)
    hint = failed.hint
    summary = front.refused_summary()
    if summary:
        hint = f"{summary}. {hint}"
    return InstallFailed(front.unmask(failed.message), hint=front.unmask(hint))


def _handler(gate: Gate, secret: str, insecure: bool) -> type[BaseHTTPRequestHandler]:
    roots = vetting.local_roots(gate.original)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args  # the installer reports what it fetched

        def do_GET(self) -> None:
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if len(parts) < 2 or parts[0] != secret or parts[1] not in gate.routes:
                return self._answer(404, b"not a page of this gate\n")
            route = gate.routes[parts[1]]
            if route.flat and len(parts) == 2:
                upstream = route.upstream
            elif not route.flat and len(parts) == 3 and _PROJECT.fullmatch(parts[2]):
                upstream = f"{_slash(route.upstream)}{parts[2]}/"
            else:
                return self._answer(404, b"no such page\n")
            try:
                page = _http.get_page(upstream, accept=index.ACCEPT)
            except _http.HttpError as error:
                if error.status == 404:
                    return self._answer(404, b"not on the index\n")
                gate.failures.append(error)
                return self._answer(502, f"{error}\n".encode())
            body = _vetted_page(page, route, roots, insecure, gate.refused)
            self._answer(200, body, "text/html; charset=utf-8")

        def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _vetted_page(
    page: _http.Page,
    route: _Route,
    roots: Sequence[Path],
    insecure: bool,
    refused: list[Refusal],
) -> bytes:
    """The page as PEP 503 HTML: only links vetting allows, absolute, attributes kept."""
    try:
        anchors = (
            index.json_anchors(page.url, page.text)
            if "json" in page.content_type
            else index.html_anchors(page.url, page.text)
        )
    except (ValueError, KeyError, TypeError):
        anchors = []  # not an index page: the installer finds nothing here
    rows = []
    for anchor in anchors:
        why = vetting.refusal(anchor.url.partition("#")[0], roots, insecure)
        if why is not None:
            refused.append(Refusal(redact.url(anchor.url.partition("#")[0]), why))
            continue
        url = _with_credentials(anchor.url, route.upstream)
        attributes = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"' if value is not None else f" {name}"
            for name, value in anchor.attributes
        )
        text = html.escape(anchor.file.filename)
        rows.append(f'<a href="{html.escape(url, quote=True)}"{attributes}>{text}</a><br>')
    document = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(rows) + "\n</body></html>\n"
    return document.encode("utf-8")


def _with_credentials(url: str, upstream: str) -> str:
    """Files on the index's own host get the index URL's user info, as the installer would
    have sent it there (netrc needs nothing: the installer reads it itself)."""
    base = urllib.parse.urlsplit(upstream)
    if not base.username:
        return url
    link = urllib.parse.urlsplit(url)
    if link.username or (link.scheme, link.hostname, link.port) != (
        base.scheme,
        base.hostname,
        base.port,
    ):
        return url
    userinfo = base.netloc.rpartition("@")[0]
    return urllib.parse.urlunsplit(link._replace(netloc=f"{userinfo}@{link.netloc}"))


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
