"""A wheel index on 127.0.0.1 laid out like the official one: /whl/<variant>/<project>/.

Serves PEP 503 HTML, or PEP 691 JSON when the client asks for it, and the wheel files
themselves. Wheels are tiny but real (installable) and named like the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import ssl
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename


def make_wheel(
    folder: Path,
    filename: str,
    requires: tuple[str, ...] = (),
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """An installable wheel whose only module records its own version (plus extra_files)."""
    name, version, _, tags = parse_wheel_filename(filename)
    dist_name = filename.split("-", maxsplit=1)[0]
    dist_info = f"{dist_name}-{version}.dist-info"
    module = dist_name.lower()
    files = {
        f"{module}/__init__.py": f"__version__ = {str(version)!r}\n".encode(),
        f"{dist_info}/METADATA": "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
            + [f"Requires-Dist: {r}" for r in requires]
        ).encode()
        + b"\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: ptenv-tests\nRoot-Is-Purelib: "
            "false\n" + "".join(f"Tag: {t}\n" for t in sorted(map(str, tags)))
        ).encode(),
    }
    files.update(extra_files or {})
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    target = folder / filename
    with zipfile.ZipFile(target, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Index:
    root: Path  # files live in root/<variant>/<filename>
    url: str = ""  # http://127.0.0.1:PORT/whl
    requests: list[str] = field(default_factory=list)
    broken_hashes: set[str] = field(default_factory=set)  # filenames announced with a bad hash
    served: list[str] = field(default_factory=list)  # wheel files downloaded (GET, whole)
    started: list[str] = field(default_factory=list)  # wheel downloads begun (GET)
    delay_s: float = 0.0  # wait before sending a wheel (to interrupt an install midway)
    link_base: str | None = None  # page links point here instead of this server (a mirror
    #                               whose pages link back upstream)
    auth: str | None = None  # "user:password" required (HTTP basic), else 401
    unavailable: int = 0  # answer this many requests with 503 before serving
    drip_wheels: bool = False  # send a wheel's headers and 10 bytes, then nothing
    drip_pages_s: float = 0.0  # send pages a byte at a time, this long apart
    redirect_pages: str | None = None  # answer every page with a 302 to this base URL
    redirect_files: dict[str, str] = field(default_factory=dict)  # wheel name -> a 302's Location
    seen_auth: list[str] = field(default_factory=list)  # Authorization headers received
    ranges: bool = True  # answer Range requests with 206 (else the whole file, as some do)
    ranged: list[tuple[str, int, str]] = field(default_factory=list)  # (file, bytes, User-Agent)
    pages: dict[str, bytes] = field(default_factory=dict)  # "cpu/filelock" -> a page as written
    #                                                        (a hostile server's own HTML)

    def add(self, variant: str, filename: str, requires: tuple[str, ...] = ()) -> Path:
        folder = self.root / variant
        folder.mkdir(parents=True, exist_ok=True)
        return make_wheel(folder, filename, requires)


def _handler(index: Index) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - small methods, one class
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_HEAD(self) -> None:
            self._head_only = True
            try:
                self.do_GET()
            finally:
                self._head_only = False

        def do_GET(self) -> None:
            index.requests.append(self.path)
            index.seen_auth.append(self.headers.get("Authorization", ""))
            if index.auth is not None and self.headers.get("Authorization") != _basic(index.auth):
                return self._send(401, "text/plain", b"credentials needed", realm=True)
            if index.unavailable > 0:
                index.unavailable -= 1
                return self._send(503, "text/plain", b"busy")
            path = urllib.parse.unquote(self.path.split("?")[0])
            parts = [p for p in path.split("/") if p]
            if len(parts) == 3 and parts[0] == "whl" and parts[2] in index.redirect_files:
                return self._redirect(index.redirect_files[parts[2]])
            if len(parts) == 3 and parts[0] == "whl" and parts[2].endswith(_FILES):
                return self._file(index.root / parts[1] / parts[2])
            if len(parts) == 2 and parts[0] == "whl" and path.endswith("/"):
                return self._flat(parts[1])
            if len(parts) == 3 and parts[0] == "whl":
                if index.redirect_pages is not None:
                    return self._redirect(f"{index.redirect_pages}/{parts[1]}/{parts[2]}/")
                written = index.pages.get(f"{parts[1]}/{parts[2]}")
                if written is not None:
                    return self._send(200, "text/html", written)
                return self._project(parts[1], parts[2])
            return self._send(404, "text/plain", b"not found")

        def _file(self, file: Path) -> None:
            if not file.is_file():
                return self._send(404, "text/plain", b"not found")
            wanted = _byte_range(self.headers.get("Range", ""), file.stat().st_size)
            if wanted is not None and index.ranges:
                return self._range(file, *wanted)
            if getattr(self, "_head_only", False):
                return self._send(200, "application/octet-stream", b"", size=file.stat().st_size)
            index.started.append(file.name)
            time.sleep(index.delay_s)
            if index.drip_wheels:
                index.served.append(file.name)
                return self._drip(file.read_bytes())
            try:
                self._send(200, "application/octet-stream", file.read_bytes())
            except (ConnectionResetError, BrokenPipeError):
                return None  # the client hung up without reading it all: not served
            index.served.append(file.name)
            return None

        def _range(self, file: Path, first: int, last: int) -> None:
            with file.open("rb") as handle:
                handle.seek(first)
                body = handle.read(last - first + 1)
            index.ranged.append((file.name, len(body), self.headers.get("User-Agent", "")))
            self.send_response(206)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Range", f"bytes {first}-{last}/{file.stat().st_size}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _flat(self, variant: str) -> None:
            """A flat listing of one folder (the --find-links URL layout of some mirrors)."""
            folder = index.root / variant
            if not folder.is_dir():
                return self._send(404, "text/plain", b"not found")
            links = "".join(
                f'<a href="{urllib.parse.quote(p.name)}">{html.escape(p.name)}</a><br>\n'
                for p in sorted(folder.iterdir())
                if p.name.endswith(_FILES)
            )
            return self._send(200, "text/html", f"<html><body>{links}</body></html>".encode())

        def _drip(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(120)  # the link died; the client must give up on its own

        def _project(self, variant: str, project: str) -> None:
            accept = self.headers.get("Accept", "")
            return self._send(*_project_page(index, variant, project, accept))

        def _send(
            self, status: int, kind: str, body: bytes, realm: bool = False, size: int | None = None
        ) -> None:
            self.send_response(status)
            if realm:
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
            if kind == "application/octet-stream" and index.ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body) if size is None else size))
            self.end_headers()
            if getattr(self, "_head_only", False):
                return
            if index.drip_pages_s and kind.startswith(("text/", "application/vnd.pypi")):
                for at in range(len(body)):  # alive, but never done in time
                    self.wfile.write(body[at : at + 1])
                    self.wfile.flush()
                    time.sleep(index.drip_pages_s)
                return
            self.wfile.write(body)

    return Handler


def _project_page(index: Index, variant: str, project: str, accept: str) -> tuple[int, str, bytes]:
    """A project's page as PEP 691 JSON when asked for, else PEP 503 HTML."""
    folder = index.root / variant
    files = sorted(
        p
        for p in folder.glob("*")
        if p.name.endswith(_FILES)
        and canonicalize_name(p.name.split("-")[0]) == canonicalize_name(project)
    )
    if not folder.is_dir() or not files:
        return 404, "text/plain", b"not found"
    entries = []
    for path in files:
        digest = "0" * 64 if path.name in index.broken_hashes else sha256(path)
        quoted = urllib.parse.quote(path.name)
        entries.append((path.name, f"{index.link_base or ''}/whl/{variant}/{quoted}", digest))
    if "application/vnd.pypi.simple.v1+json" in accept:
        document = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "files": [{"filename": n, "url": u, "hashes": {"sha256": d}} for n, u, d in entries],
        }
        return 200, "application/vnd.pypi.simple.v1+json", json.dumps(document).encode()
    links = "".join(
        f'<a href="{html.escape(u)}#sha256={d}">{html.escape(n)}</a><br>\n' for n, u, d in entries
    )
    return 200, "text/html", f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()


_FILES = (".whl", ".tar.gz")


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a `bytes=a-b`, `bytes=a-` or `bytes=-n` Range header."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if found is None or not any(found.groups()) or size == 0:
        return None
    first, last = found.groups()
    if not first:
        return max(size - int(last), 0), size - 1
    return int(first), min(int(last) if last else size - 1, size - 1)


def _basic(userinfo: str) -> str:
    return "Basic " + base64.b64encode(userinfo.encode()).decode()


@contextmanager
def serve(root: Path, tls: tuple[Path, Path] | None = None) -> Iterator[Index]:
    """Serve root on 127.0.0.1; with tls=(certificate, key) over HTTPS."""
    index = Index(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    server.daemon_threads = True  # a request held by delay_s must not hold up the shutdown
    server.block_on_close = False
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    index.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/whl"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
