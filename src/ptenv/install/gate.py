"""A loopback front for the remote pages the resolver reads: the installer never fetches a
URL that ptenv did not vet first.

Without it uv (resolving) and pip (resolving and installing in one step) read each index
page themselves and follow its links for metadata before ptenv sees the result: a remote
page linking file:///etc/shadow or a plain-http host had that file opened or that host
contacted before vetting could refuse it. With it, each remote index and flat listing of the
source becomes http://localhost:PORT/SECRET/ROUTE/ (bound to 127.0.0.1) for the installer.
The gate reads the real page through ptenv's HTTP seam (TLS, proxies, credentials, redirect
rules, deadline, size cap), keeps only the links vetting allows, with their PEP 503
attributes, and serves each file behind the gate too: its bytes (ranges, PEP 658 .metadata)
come from the real URL through the same seam, so its redirects are ptenv's to allow. The
resolution's record is mapped back to the real URLs (`restore`).

Not fronted: local folders and file:// indexes (the user named them), and the installer's
own default index (PyPI) where the source names none. The uv install step downloads the real
URLs itself (so uv's cache works); the workflow asks each where it leads first.
"""

from __future__ import annotations

import hashlib
import html
import os
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
from typing import Any

from ptenv import _http, redact, releases
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
    prefix: str = ""  # http://localhost:PORT/SECRET/ while it serves
    routes: dict[str, _Route] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # w12 -> the real file URL
    _adding: threading.Lock = field(default_factory=threading.Lock)

    def file_link(self, url: str) -> str:
        """The gate's URL for a file on a page (its filename last, as installers read it)."""
        real, _, fragment = url.partition("#")
        with self._adding:
            key = f"w{len(self.files)}"
            self.files[key] = real
        name = real.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.prefix}{key}/{name}" + (f"#{fragment}" if fragment else "")

    def restore(self, text: str) -> str:
        """A resolution's record (pylock TOML, pip's JSON report) with each gate file URL put
        back as the real one, escaped as both formats' strings need."""

        def real(match: re.Match[str]) -> str:
            found = self.files.get(match.group(1))
            if found is None:
                return match.group(0)
            return found.replace("\\", "\\\\").replace('"', '\\"')

        if not self.files:
            return text
        return re.sub(re.escape(self.prefix) + r"(w\d+)/[^\s\"'#]+", real, text)

    def unmask(self, text: str) -> str:
        """The installer's words with each gate URL put back as the real (redacted) one."""
        for key, route in self.routes.items():
            text = text.replace(f"{self.prefix}{key}/", redact.url(_slash(route.upstream)))
        return redact.text(self.restore(text))

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
def gated(source: Source, *, insecure: bool, env: Mapping[str, str]) -> Iterator[Gate]:
    """The source with its remote pages served through the gate, for as long as it is open."""
    gate = Gate(source=source, original=source)
    remote = [u for u in (source.index_url, source.default_index, *source.extra_index_urls,
                          *source.find_links) if u and _is_remote(u)]  # fmt: skip
    if not remote:
        yield gate
        return
    secret = _secret(env)  # other local users cannot guess where pages are
    server = _bind(secret, _handler(gate, secret, insecure))
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


def _secret(env: Mapping[str, str]) -> str:
    """This user's gate secret, kept (mode 0600) so the gate's URLs, and with them uv's cache
    keys, stay the same from run to run; a fresh one where it cannot be kept or is not private."""
    path = releases.data_dir(env) / "gate-secret"
    try:
        if path.stat().st_mode & 0o077 == 0:
            kept = path.read_text(encoding="ascii").strip()
            if re.fullmatch(r"[A-Za-z0-9_-]{22,64}", kept):
                return kept
    except (OSError, UnicodeDecodeError):
        pass
    fresh = secrets.token_urlsafe(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(fresh + "\n")
    except OSError:
        pass
    return fresh


def _bind(secret: str, handler: type[BaseHTTPRequestHandler]) -> _Server:
    """On this user's usual port where it is free (a stable URL for uv's cache), else any."""
    usual = 20000 + int.from_bytes(hashlib.sha256(secret.encode()).digest()[:4], "big") % 30000
    try:
        return _Server(("127.0.0.1", usual), handler)
    except OSError:
        return _Server(("127.0.0.1", 0), handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the installer hung up (it had what it wanted, or it was stopped)
        super().handle_error(request, client_address)  # type: ignore[arg-type]


# What a file's answer carries that the installer uses (ranges for metadata, its size).
_PASSED_ON = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag",
              "Last-Modified")  # fmt: skip


class _Restarted(Exception):
    """The upstream read failed after the answer began; the installer retries itself."""


class _ClientGone(Exception):
    """The installer hung up mid-file (not an OSError, so no upstream retry follows)."""


class _ToClient:
    """The handler's socket as a file the relay writes to; a write error ends the relay."""

    def __init__(self, wfile: Any) -> None:
        self._wfile = wfile

    def write(self, data: bytes) -> int:
        try:
            written: int = self._wfile.write(data)
        except OSError as error:
            raise _ClientGone(str(error)) from None
        return written


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def as_seen_by_ptenv(failed: InstallFailed, front: Gate) -> InstallFailed:
    """An installer failure told with the real pages: the one that could not be read, else the
    installer's words with the gate's URLs put back and the links the gate left out."""
    if front.failures:
        first = front.failures[0]
        if isinstance(first, _http.RedirectRefused):
            return InstallFailed(
                f"The server of {first.url} {first.reason}; ptenv installs nothing the installer "
                "would fetch from there.",
                hint="The index or mirror sends its files there: use another source.",
            )
        return index.unreachable(first, front.original.label)
    message = front.unmask(failed.message)
    summary = front.refused_summary()
    if summary:  # most often the cause: what the installer lacked was what ptenv left out
        message = f"{summary}; then {message[0].lower()}{message[1:]}"
    return InstallFailed(message, hint=front.unmask(failed.hint))


def _handler(gate: Gate, secret: str, insecure: bool) -> type[BaseHTTPRequestHandler]:
    roots = vetting.local_roots(gate.original)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args  # the installer reports what it fetched

        def do_GET(self) -> None:
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if len(parts) == 3 and parts[0] == secret and parts[1] in gate.files:
                return _pass_file(self, gate, gate.files[parts[1]], parts[2], "GET")
            upstream = _page_url(gate, secret, parts)
            if upstream is None:
                return _answer(self, 404, b"not a page of this gate\n")
            route = gate.routes[parts[1]]
            try:
                page = _http.get_page(upstream, accept=index.ACCEPT)
            except _http.HttpError as error:
                if error.status == 404:
                    return _answer(self, 404, b"not on the index\n")
                gate.failures.append(error)
                return _answer(self, 502, f"{error}\n".encode())
            body = _vetted_page(page, route, roots, insecure, gate)
            _answer(self, 200, body, "text/html; charset=utf-8")

        def do_HEAD(self) -> None:
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if len(parts) == 3 and parts[0] == secret and parts[1] in gate.files:
                return _pass_file(self, gate, gate.files[parts[1]], parts[2], "HEAD")
            _answer(self, 405, b"")

    return Handler


def _page_url(gate: Gate, secret: str, parts: Sequence[str]) -> str | None:
    """The real page behind /SECRET/ROUTE/ (a flat listing) or /SECRET/ROUTE/PROJECT/."""
    if len(parts) < 2 or parts[0] != secret or parts[1] not in gate.routes:
        return None
    route = gate.routes[parts[1]]
    if route.flat and len(parts) == 2:
        return route.upstream
    if not route.flat and len(parts) == 3 and _PROJECT.fullmatch(parts[2]):
        return f"{_slash(route.upstream)}{parts[2]}/"
    return None


def _answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "text/plain"
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)


def _pass_file(
    handler: BaseHTTPRequestHandler, gate: Gate, real: str, asked: str, method: str
) -> None:
    """A file (or its PEP 658 .metadata) passed on from its real URL: ptenv's HTTP seam
    follows only the redirects it allows, so the installer never meets another."""
    own = urllib.parse.unquote(real.rstrip("/").rsplit("/", 1)[-1])
    metadata = urllib.parse.unquote(asked) == own + ".metadata"
    url = real + ".metadata" if metadata else real
    # the installer's Range and its User-Agent: upstream sees the request it would have made
    wanted = {k: handler.headers[k] for k in ("Range", "User-Agent") if handler.headers.get(k)}
    started: list[int] = []

    def start(status: int, headers: Any) -> _http.Sink | None:
        if started:
            raise _Restarted(url)  # a retry after bytes went out: cannot be spliced
        started.append(status)
        handler.send_response(status)
        for header in _PASSED_ON:
            if headers.get(header):
                handler.send_header(header, headers[header])
        handler.end_headers()
        return _ToClient(handler.wfile)

    try:
        _http.relay(url, wanted, method, start)
    except _http.HttpError as error:
        if started:
            return
        if isinstance(error, _http.RedirectRefused) or error.status is None:
            gate.failures.append(error)
            return _answer(handler, 502, f"{error}\n".encode())
        _answer(handler, error.status, b"")
    except (_Restarted, _ClientGone):
        handler.close_connection = True


def _vetted_page(
    page: _http.Page, route: _Route, roots: Sequence[Path], insecure: bool, gate: Gate
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
            gate.refused.append(Refusal(redact.url(anchor.url.partition("#")[0]), why))
            continue
        url = _with_credentials(anchor.url, route.upstream)
        if _is_remote(url):
            url = gate.file_link(url)  # fetched through the gate, redirects and all
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
