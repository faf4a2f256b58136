"""A wheel index on 127.0.0.1 laid out like the official one: /whl/<variant>/<project>/.

Serves PEP 503 HTML, or PEP 691 JSON when the client asks for it, and the wheel files
themselves. Wheels are tiny but real (installable) and named like the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
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


def make_wheel(folder: Path, filename: str, requires: tuple[str, ...] = ()) -> Path:
    """An installable wheel whose only module records its own version."""
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
    served: list[str] = field(default_factory=list)  # wheel files downloaded
    delay_s: float = 0.0  # wait before sending a wheel (to interrupt an install midway)
    link_base: str | None = None  # page links point here instead of this server (a mirror
    #                               whose pages link back upstream)

    def add(self, variant: str, filename: str, requires: tuple[str, ...] = ()) -> Path:
        folder = self.root / variant
        folder.mkdir(parents=True, exist_ok=True)
        return make_wheel(folder, filename, requires)


def _handler(index: Index) -> type[BaseHTTPRequestHandler]:
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
            path = urllib.parse.unquote(self.path.split("?")[0])
            parts = [p for p in path.split("/") if p]
            if len(parts) == 3 and parts[0] == "whl" and parts[2].endswith(".whl"):
                file = index.root / parts[1] / parts[2]
                if file.is_file():
                    index.served.append(file.name)
                    time.sleep(index.delay_s)
                    return self._send(200, "application/octet-stream", file.read_bytes())
            elif len(parts) == 3 and parts[0] == "whl":
                return self._project(parts[1], parts[2])
            return self._send(404, "text/plain", b"not found")

        def _project(self, variant: str, project: str) -> None:
            accept = self.headers.get("Accept", "")
            return self._send(*_project_page(index, variant, project, accept))

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not getattr(self, "_head_only", False):
                self.wfile.write(body)

    return Handler


def _project_page(index: Index, variant: str, project: str, accept: str) -> tuple[int, str, bytes]:
    """A project's page as PEP 691 JSON when asked for, else PEP 503 HTML."""
    folder = index.root / variant
    files = sorted(
        p
        for p in folder.glob("*.whl")
        if canonicalize_name(p.name.split("-")[0]) == canonicalize_name(project)
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


@contextmanager
def serve(root: Path) -> Iterator[Index]:
    index = Index(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    server.daemon_threads = True  # a request held by delay_s must not hold up the shutdown
    server.block_on_close = False
    index.url = f"http://127.0.0.1:{server.server_address[1]}/whl"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
