"""bootstrap.py: the README's first command, on a stock python3 (stdlib only).

The whole path (Debian's /usr/bin/python3, a throwaway HOME, no uv on PATH) runs in .ci/run;
these tests hold its parts: which uv wheel fits, fetching it from a loopback index (PEP 503
and PEP 691), and reading pip's configuration for the sources.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent
VERSION = "0.13.9"
# uv's wheel names as published (maturin's tags), plus its sdist.
REAL_NAMES = [
    f"uv-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    f"uv-{VERSION}-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
    f"uv-{VERSION}-py3-none-musllinux_1_1_x86_64.whl",
    f"uv-{VERSION}-py3-none-macosx_10_12_x86_64.whl",
    f"uv-{VERSION}-py3-none-macosx_11_0_arm64.whl",
    f"uv-{VERSION}-py3-none-win_amd64.whl",
    f"uv-{VERSION}.tar.gz",
]


def _bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap", ROOT / "bootstrap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = _bootstrap()


@pytest.mark.parametrize(
    ("system", "machine", "libc", "expected"),
    [
        ("Linux", "x86_64", ("glibc", 2, 36), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("Linux", "aarch64", ("glibc", 2, 17), "manylinux_2_17_aarch64.manylinux2014_aarch64"),
        ("Linux", "x86_64", ("musl", 1, 2), "musllinux_1_1_x86_64"),
        ("Darwin", "arm64", None, "macosx_11_0_arm64"),
        ("Darwin", "x86_64", None, "macosx_10_12_x86_64"),
        ("Windows", "AMD64", None, "win_amd64"),
    ],
)
def test_the_uv_wheel_for_each_platform_is_picked(
    system: str, machine: str, libc: tuple[str, int, int] | None, expected: str
) -> None:
    tags = bootstrap.platform_tags(system, machine, libc)
    assert bootstrap.pick_uv_wheel(REAL_NAMES, tags) == f"uv-{VERSION}-py3-none-{expected}.whl"


def test_an_old_glibc_gets_no_uv_wheel() -> None:
    tags = bootstrap.platform_tags("Linux", "x86_64", ("glibc", 2, 12))
    assert bootstrap.pick_uv_wheel(REAL_NAMES, tags) is None


def test_the_newest_release_wins_and_prereleases_are_skipped() -> None:
    tags = bootstrap.platform_tags("Linux", "x86_64", ("glibc", 2, 36))
    names = [
        "uv-0.9.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "uv-0.14.0rc1-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    assert bootstrap.pick_uv_wheel(names, tags) == names[1]


def test_pip_configuration_gives_the_sources(tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    config.write_text(
        "[global]\nindex-url = https://mirror.example/simple\ncert = /etc/ca.pem\n"
        "[install]\nextra-index-url = https://a.example/simple https://b.example/simple\n"
        f"find-links = {wheels} {tmp_path / 'missing'}\n",
        encoding="utf-8",
    )
    sources = bootstrap.read_sources(None, {"PIP_CONFIG_FILE": str(config)})
    assert sources.index_url == "https://mirror.example/simple"
    assert sources.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert sources.find_links == (str(wheels),)  # a missing folder is skipped, as pip does
    assert sources.cert == "/etc/ca.pem"
    named = bootstrap.read_sources("https://named.example/simple", {"PIP_CONFIG_FILE": str(config)})
    assert named.index_url == "https://named.example/simple"
    from_env = bootstrap.read_sources(
        None, {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "https://env.example/simple"}
    )
    assert from_env.index_url == "https://env.example/simple"


def _fake_uv_wheel(folder: Path) -> Path:
    """A wheel named and laid out like uv's; its `uv` prints a version like the real one."""
    wheel = folder / f"uv-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"uv-{VERSION}.data/scripts/uv", f"#!/bin/sh\necho uv {VERSION}\n")
        archive.writestr(f"uv-{VERSION}.data/scripts/uvx", "#!/bin/sh\n")
        archive.writestr(f"uv-{VERSION}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return wheel


@contextmanager
def _index(wheel: Path, as_json: bool) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            if self.path == "/simple/uv/":
                if as_json:
                    files = [{"filename": wheel.name, "url": f"../../files/{wheel.name}"}]
                    body, kind = json.dumps({"files": files}).encode(), "application/json"
                else:
                    link = f'<a href="../../files/{wheel.name}#sha256=0">{wheel.name}</a>'
                    body, kind = link.encode(), "text/html"
            elif self.path == f"/files/{wheel.name}":
                body, kind = wheel.read_bytes(), "application/octet-stream"
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


GLIBC_X86_64 = (
    platform.system() == "Linux"
    and platform.machine() == "x86_64"
    and (bootstrap.this_libc() or ("",))[0] == "glibc"
)


@pytest.mark.skipif(not GLIBC_X86_64, reason="the fake wheel is tagged for x86_64 glibc Linux")
@pytest.mark.parametrize("as_json", [False, True], ids=["pep503-html", "pep691-json"])
def test_uv_is_fetched_from_an_index_and_runs(tmp_path: Path, as_json: bool) -> None:
    wheel = _fake_uv_wheel(tmp_path)
    with _index(wheel, as_json) as url:
        uv = bootstrap.fetch_uv_from(bootstrap.uv_links(url), tmp_path / "bin")
    assert uv == tmp_path / "bin" / "uv"
    done = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"uv {VERSION}"


def test_an_unreachable_index_is_one_sentence_and_a_hint(tmp_path: Path) -> None:
    wheel = _fake_uv_wheel(tmp_path)
    with _index(wheel, False) as url:
        pass  # the server is gone again
    with pytest.raises(bootstrap.BootstrapError) as caught:
        bootstrap.uv_links(url)
    assert "Cannot reach" in str(caught.value) and "--index-url" in caught.value.hint
