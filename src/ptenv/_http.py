"""The one HTTP seam: every request ptenv itself makes (index pages, flat listings).

Imported only where a request is made, so `ptenv --help` and `ptenv doctor` never load
urllib.request, http.client or ssl. What it does for every request:
- TLS verified against the OS trust store (truststore where installed) plus SSL_CERT_FILE,
  SSL_CERT_DIR, REQUESTS_CA_BUNDLE and pip's `cert` (with --use-pip-config);
- proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and pip's `proxy`);
- credentials from the URL's user info or from netrc, sent only to that host (never after
  a redirect to another one);
- redirects followed by hand: never to plain http on another host off loopback (so never
  from https down to http), never to anything but http(s);
- connect and read timeouts, bounded retries with backoff for connection errors, 429 and
  5xx; one cache of pages per run.
Errors come back as HttpError with the status (None: not reached), a reason and a hint.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import netrc
import os
import re
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ptenv import __version__, redact

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # no byte for this long ends a read
DEADLINE_S = 120.0  # a page or range read finishes within this, however slowly it drips
MAX_BODY = 64 * 2**20  # a simple-index page of every torch wheel is ~2 MB; a zip directory less
RETRIES = 3
MAX_REDIRECTS = 5
MAX_RETRY_AFTER_S = 10.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


@dataclass(frozen=True)
class Page:
    url: str  # after redirects, without credentials
    content_type: str
    text: str


class HttpError(Exception):
    def __init__(self, url: str, status: int | None, reason: str, hint: str = "") -> None:
        shown = redact.url(url)
        super().__init__(f"{shown}: {reason}")
        self.url = shown
        self.status = status  # None: not reached at all
        self.reason = redact.text(reason)
        self.hint = hint


class RedirectRefused(HttpError):
    """The server sent ptenv somewhere it does not follow (not http(s), or plain http)."""


@dataclass(frozen=True, kw_only=True)
class Network:
    """How ptenv reaches the network, read once from the environment (and pip's config)."""

    ca_files: tuple[str, ...] = ()
    ca_dirs: tuple[str, ...] = ()
    client_cert: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)  # scheme -> proxy URL
    no_proxy: tuple[str, ...] = ()
    netrc_file: Path | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    retries: int = RETRIES
    backoff_s: float = 0.5
    deadline: float = DEADLINE_S

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], pip_config: Mapping[str, str] | None = None
    ) -> Network:
        pip = pip_config or {}
        files = [env[v] for v in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE") if env.get(v)]
        if pip.get("cert"):
            files.append(pip["cert"])
        files = list(dict.fromkeys(files))  # often the same bundle twice
        dirs = [env["SSL_CERT_DIR"]] if env.get("SSL_CERT_DIR") else []
        proxies = {}
        for scheme in ("http", "https"):
            value = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
            if value or pip.get("proxy"):
                proxies[scheme] = value or pip["proxy"]
        bypass = env.get("no_proxy") or env.get("NO_PROXY") or ""
        home = env.get("HOME")
        netrc_file = env.get("NETRC") or (str(Path(home) / ".netrc") if home else None)
        return cls(
            ca_files=tuple(files),
            ca_dirs=tuple(dirs),
            client_cert=pip.get("client-cert") or None,
            proxies=proxies,
            no_proxy=tuple(h.strip().lower() for h in bypass.split(",") if h.strip()),
            netrc_file=Path(netrc_file) if netrc_file else None,
            connect_timeout=_seconds(env, "PTENV_HTTP_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S),
            read_timeout=_seconds(env, "PTENV_HTTP_TIMEOUT", READ_TIMEOUT_S),
            retries=int(_seconds(env, "PTENV_HTTP_RETRIES", RETRIES)),
            deadline=_seconds(env, "PTENV_HTTP_DEADLINE", DEADLINE_S),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass
class _Run:
    """This run's settings and pages (one per process; the CLI starts each command afresh)."""

    network: Network | None = None
    pages: dict[tuple[str, str], Page] = field(default_factory=dict)


_run = _Run()


def configure(network: Network | None) -> None:
    """Use these settings for the rest of the run (None: read the environment again); the
    page cache starts empty."""
    _run.network = network
    _run.pages.clear()


def settings() -> Network:
    if _run.network is None:
        _run.network = Network.from_env(os.environ)
    return _run.network


def get_page(url: str, *, accept: str | None = None, timeout: float | None = None) -> Page:
    """GET one text page (cached for the run); HttpError on an error status or when unreachable."""
    key = (url, accept or "")
    if key in _run.pages:
        return _run.pages[key]
    network = settings()
    if timeout is not None:
        network = replace(network, read_timeout=timeout)
    headers = {"Accept": accept} if accept else {}
    final, _status, response_headers, body = _request(url, headers, network)
    page = Page(
        url=final,
        content_type=response_headers.get("Content-Type", ""),
        text=body.decode("utf-8", errors="replace"),
    )
    _run.pages[key] = page
    return page


@dataclass(frozen=True)
class Chunk:
    data: bytes
    start: int  # where data begins in the file
    size: int  # the whole file's size, from Content-Range


class RangesRefused(HttpError):
    """The server answered a range request with the whole file (or not at all with a range)."""


def get_range(url: str, start: int | None, length: int) -> Chunk:
    """`length` bytes of url from `start`, or its last `length` bytes when start is None.

    RangesRefused (without reading the body) when the server ignores the Range header."""
    wanted = f"bytes=-{length}" if start is None else f"bytes={start}-{start + length - 1}"
    final, status, headers, body = _request(url, {"Range": wanted}, settings())
    found = _CONTENT_RANGE.match(headers.get("Content-Range", "")) if status == 206 else None
    if found is None:
        raise RangesRefused(
            final,
            status,
            f"the server does not answer range requests (HTTP {status} to {wanted})",
            hint="Download the file and give its path, or use --download.",
        )
    first, size = int(found.group(1)), int(found.group(3))
    return Chunk(data=body, start=first, size=size)


def download(url: str, target: BinaryIO) -> str:
    """The whole file into `target` (streamed, not held in memory); the URL it came from."""
    final, _status, _headers, _body = _request(url, {}, settings(), _Ask(sink=target))
    return final


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


# Called with the final answer's status and headers; returns where its body goes (None: none).
Start = Callable[[int, Any], Sink | None]


@dataclass(frozen=True)
class _Ask:
    """What one request wants besides its URL and headers: the method, and where the body of
    the final answer goes (a file to stream a wheel into, or a relay's `start`)."""

    method: str = "GET"
    sink: BinaryIO | None = None
    start: Start | None = None


def relay(url: str, headers: Mapping[str, str], method: str, start: Start) -> str:
    """Fetch url as a download is fetched (credentials, vetted redirects, retries before the
    answer), hand the final answer's status and headers to `start`, then its body to the file
    `start` returns; for a front that passes files on. The final URL comes back.

    `start` is called once: an error after it (a dropped upstream or client) propagates."""
    final, _status, _headers, _body = _request(
        url, dict(headers), settings(), _Ask(method=method, start=start)
    )
    return final


def where(url: str) -> str:
    """Where url really is: its redirects followed (and vetted, as for every request) by a
    HEAD, or a one-byte ranged GET for a server that does not answer HEAD. HttpError on a
    redirect ptenv refuses."""
    try:
        final, _status, _headers, _body = _request(url, {}, settings(), _Ask(method="HEAD"))
    except HttpError as error:
        if error.status not in (405, 501):
            raise
        final, _status, _headers, _body = _request(url, {"Range": "bytes=0-0"}, settings())
    return final


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)$")


# --- one request: credentials, redirects, retries ----------------------------------------------


def _request(
    url: str, headers: dict[str, str], network: Network, ask: _Ask = _Ask()
) -> tuple[str, int, Any, bytes]:
    credentials = _credentials(url, network)
    current = redact.strip_credentials(url)
    for _hop in range(MAX_REDIRECTS + 1):
        sent = {"User-Agent": f"ptenv/{__version__}", **headers}
        auth = credentials.get(_origin(current))
        if auth:
            sent["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        status, response_headers, body = _with_retries(current, sent, network, ask)
        if status not in _REDIRECT_STATUSES:
            return current, status, response_headers, body
        location = response_headers.get("Location")
        if not location:
            raise HttpError(url, status, f"HTTP {status} without a Location")
        target = urllib.parse.urljoin(current, location)
        _vet_redirect(current, target)
        current = target
    raise HttpError(url, None, f"more than {MAX_REDIRECTS} redirects")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _credentials(url: str, network: Network) -> dict[tuple[str, str, int | None], str]:
    """user:password for the URL's own origin only: from its user info, else netrc."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None and not redact.is_redacted(url):
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        return {_origin(url): f"{user}:{password}"}
    found = _from_netrc(parts.hostname or "", network.netrc_file)
    return {_origin(url): found} if found else {}


def _from_netrc(host: str, path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None:
        return None
    login, _account, password = entry
    return f"{login}:{password or ''}"


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _vet_redirect(source: str, target: str) -> None:
    """Follow only to http(s), and to plain http only on loopback or the same http host."""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https"):
        raise RedirectRefused(
            source,
            None,
            f"redirected to {redact.url(target)}, which is not http(s); refused",
            hint="Ask the index's owner to fix the redirect, or use another source.",
        )
    origin = urllib.parse.urlsplit(source)
    same_host = (origin.scheme, origin.hostname) == (parts.scheme, parts.hostname)
    if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not same_host:
        raise RedirectRefused(
            source,
            None,
            f"redirected to plain http on another host ({redact.url(target)}); refused, "
            "since packages could be tampered with on the way",
            hint="Use the https address the server should have sent, or another source.",
        )


def _with_retries(
    url: str, headers: dict[str, str], network: Network, ask: _Ask = _Ask()
) -> tuple[int, Any, bytes]:
    attempt = 0
    while True:
        if ask.sink is not None:  # a retry starts the file again
            ask.sink.seek(0)
            ask.sink.truncate()
        try:
            return _once(url, headers, network, ask)
        except _Transient as problem:
            if attempt >= network.retries:
                raise problem.error from None
            wait = problem.retry_after
            if wait is None:
                wait = network.backoff_s * 2**attempt
            time.sleep(min(wait, MAX_RETRY_AFTER_S))
            attempt += 1


class _Transient(Exception):
    def __init__(self, error: HttpError, retry_after: float | None = None) -> None:
        super().__init__(error.reason)
        self.error = error
        self.retry_after = retry_after


def _once(
    url: str, headers: dict[str, str], network: Network, ask: _Ask = _Ask()
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers, method=ask.method)  # noqa: S310 - vetted
    try:
        with _opener(url, network).open(request) as response:
            if ask.start is not None and response.status not in _REDIRECT_STATUSES:
                return response.status, response.headers, _relay(request, response, ask.start)
            body = _read_body(url, request, response, network, ask.sink)
            return response.status, response.headers, body
    except urllib.error.HTTPError as error:
        status = error.code
        if status in _REDIRECT_STATUSES:
            return status, error.headers, b""
        failure = HttpError(url, status, f"HTTP {status}", hint=_status_hint(status))
        if status in _RETRY_STATUSES:
            raise _Transient(failure, _retry_after(error.headers.get("Retry-After"))) from None
        raise failure from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise HttpError(url, None, _certificate_reason(reason), hint=_CERT_HINT) from None
        if isinstance(reason, ssl.SSLError):
            raise HttpError(url, None, f"TLS failed ({reason})", hint=_CERT_HINT) from None
        if isinstance(reason, (TimeoutError, socket.timeout)):
            failure = HttpError(url, None, f"no answer within {network.read_timeout:g} s")
        else:
            failure = HttpError(url, None, str(reason))
        raise _Transient(failure) from None


def _relay(request: Any, response: Any, start: Start) -> bytes:
    target = start(response.status, response.headers)
    if target is not None and request.get_method() != "HEAD":
        shutil.copyfileobj(response, target, 2**20)
    return b""


def _read_body(
    url: str, request: Any, response: Any, network: Network, sink: BinaryIO | None
) -> bytes:
    """What the caller wants of the body: nothing for a HEAD or for a whole file sent to a
    Range request (never read), a whole wheel into `sink`, else the bounded page."""
    if request.get_method() == "HEAD":
        return b""
    if request.has_header("Range") and response.status != 206:
        return b""
    if sink is not None:  # a whole wheel: as long as bytes keep coming (read timeout)
        shutil.copyfileobj(response, sink, 2**20)
        return b""
    return _bounded_body(url, response, network)


def _bounded_body(url: str, response: Any, network: Network) -> bytes:
    """The body, within the overall deadline and size cap: a server dripping a byte a second
    never holds ptenv for more than `deadline` seconds (the read timeout alone would)."""
    ends = time.monotonic() + network.deadline
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(url, None, f"its answer is larger than {MAX_BODY // 2**20} MB")
        if time.monotonic() > ends:  # not retried: a drip feed would only drip again
            raise HttpError(url, None, f"its answer took longer than {network.deadline:g} s")
        chunks.append(chunk)


_CERT_HINT = (
    "If a company proxy or private CA signs this server's certificate, point SSL_CERT_FILE "
    "at that CA bundle (PEM); pip's `cert` setting is used with --use-pip-config."
)


def _certificate_reason(error: ssl.SSLCertVerificationError) -> str:
    detail = error.verify_message or error.reason or str(error)
    return f"its TLS certificate could not be verified ({detail})"


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return (
            "The server wants credentials: put them in ~/.netrc (machine HOST login USER "
            "password TOKEN) or in the URL (https://user:token@host/...)."
        )
    return ""


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


# --- the opener: TLS context, proxies, timeouts -------------------------------------------------


def _opener(url: str, network: Network) -> urllib.request.OpenerDirector:
    parts = urllib.parse.urlsplit(url)
    proxies = {} if _bypassed(parts.hostname or "", network.no_proxy) else dict(network.proxies)
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(proxies),
        _TimedHttpHandler(network),
        _NoRedirects(),
    ]
    if parts.scheme == "https":  # loading the trust store costs ~0.1 s: only when it is used
        context = _tls_context(network.ca_files, network.ca_dirs, network.client_cert)
        handlers.append(_TimedHttpsHandler(network, context))
    return urllib.request.build_opener(*handlers)


def _bypassed(host: str, no_proxy: tuple[str, ...]) -> bool:
    host = host.lower()
    for entry in no_proxy:
        if entry == "*":
            return True
        bare = entry.lstrip(".").split(":")[0]
        if host == bare or host.endswith("." + bare):
            return True
    return False


_contexts: dict[tuple[tuple[str, ...], tuple[str, ...], str | None], ssl.SSLContext] = {}


def _tls_context(
    ca_files: tuple[str, ...], ca_dirs: tuple[str, ...], client_cert: str | None
) -> ssl.SSLContext:
    key = (ca_files, ca_dirs, client_cert)
    if key not in _contexts:
        _contexts[key] = _new_context(ca_files, ca_dirs, client_cert)
    return _contexts[key]


def _new_context(
    ca_files: tuple[str, ...], ca_dirs: tuple[str, ...], client_cert: str | None
) -> ssl.SSLContext:
    context: ssl.SSLContext
    if ca_files or ca_dirs:  # OpenSSL's own store (which honours SSL_CERT_*), plus these
        context = ssl.create_default_context()
    else:
        try:
            import truststore  # noqa: PLC0415 - the OS store (macOS keychain, Windows store)

            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        except ImportError:
            context = ssl.create_default_context()
    for path in ca_files:
        _load(context, path, as_dir=False)
    for path in ca_dirs:
        _load(context, path, as_dir=True)
    if client_cert:
        try:
            context.load_cert_chain(client_cert)
        except (OSError, ssl.SSLError) as error:
            raise HttpError(
                client_cert, None, f"the client certificate cannot be loaded ({error})"
            ) from None
    return context


def _load(context: ssl.SSLContext, path: str, *, as_dir: bool) -> None:
    try:
        if as_dir:
            context.load_verify_locations(capath=path)
        else:
            context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as error:
        raise HttpError(
            path,
            None,
            f"the CA {'folder' if as_dir else 'bundle'} cannot be read ({error})",
            hint="Point SSL_CERT_FILE at a PEM file of CA certificates.",
        ) from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects come back as responses; _request follows them after vetting."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _timed(base: type[http.client.HTTPConnection], network: Network) -> Any:
    class Connection(base):  # type: ignore[valid-type, misc]
        """Connects within the connect timeout, then reads with the read timeout."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["timeout"] = network.connect_timeout
            super().__init__(*args, **kwargs)

        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(network.read_timeout)

    return Connection


class _TimedHttpHandler(urllib.request.HTTPHandler):
    def __init__(self, network: Network) -> None:
        super().__init__()
        self._connection = _timed(http.client.HTTPConnection, network)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _TimedHttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, network: Network, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._connection = _timed(http.client.HTTPSConnection, network)
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._tls)
