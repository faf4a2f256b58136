"""The networks users have, rebuilt on 127.0.0.1: a private CA, basic auth and netrc, a
forwarding proxy, a busy server, a dead link, a hostile redirect, an sdist-only dependency.

Every server is started and stopped by the test; no traffic leaves loopback (the hostile
redirect names a TEST-NET address that is refused before anything is sent to it).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index, make_wheel, serve
from tests.torch_venv import TORCH_VERSION, NoTorchWheel, real_wheelhouse

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-manylinux_2_28_x86_64"
LATEST = "2.15.0" if sys.version_info >= (3, 11) else "2.14.1"
TOKEN = "s3cr3t-t0ken-4f9a"  # must never show up anywhere ptenv prints or writes
USER = "alice"


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("ca")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=ptenv test CA", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
            "-out", "server.pem")  # fmt: skip
    return Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")


@pytest.fixture(scope="module")
def real_torch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The real CPU torch wheel and its dependencies (fetched before pip's config is hidden)."""
    cache = tmp_path_factory.mktemp("torch-cache")
    try:
        wheel = real_wheelhouse(cache)
    except NoTorchWheel as reason:
        pytest.skip(str(reason))
    return wheel, sorted((cache / "deps").glob("*.whl"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc but the test's own
    (tmp_path / "home").mkdir()
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PTENV_HTTP_RETRIES", "0")  # failures in these tests are not transient
    # This machine's pip config names a CA bundle (and local wheel folders): none of it here.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_CERT", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def ptenv(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def verify(index_url: str) -> tuple[int, str, str]:
    """`ptenv plan --verify-index`: ptenv's own reads of the index, and nothing else."""
    return ptenv("plan", "--cuda", "cpu", "--index-base", index_url, "--verify-index")


def with_credentials(url: str) -> str:
    return url.replace("://", f"://{USER}:{TOKEN}@", 1)


def assert_no_token_anywhere(tmp_path: Path, *outputs: str) -> None:
    for output in outputs:
        assert TOKEN not in output
    for path in tmp_path.rglob("*"):
        skipped = path.name == ".netrc" or "uv-cache" in path.parts
        suffixes = ("", ".lock", ".json", ".cfg", ".toml")
        if path.is_file() and not skipped and path.suffix in suffixes:
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.fixture
def private_index(tmp_path: Path, tls: Tls) -> Iterator[Index]:
    """HTTPS with the private CA and basic auth, holding small CPU torch wheels."""
    with serve(tmp_path / "served", tls=(tls.cert, tls.key)) as index:
        index.auth = f"{USER}:{TOKEN}"
        index.add("cpu", f"torch-{LATEST}+cpu-{TAG}.whl", requires=("filelock",))
        index.add("cpu", "filelock-3.20.0-py3-none-any.whl")
        yield index


# --- TLS and credentials -----------------------------------------------------------------------


def test_a_private_ca_is_trusted_through_ssl_cert_file(
    private_index: Index, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = with_credentials(private_index.url)
    code, _out, err = verify(url)
    assert code == 4
    assert "certificate" in err and "SSL_CERT_FILE" in err
    assert TOKEN not in err
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    code, out, err = ptenv("plan", "--cuda", "cpu", "--index-base", url, "--verify-index", "--json")
    assert code == 0, err
    assert json.loads(out)["index_url"].startswith(f"https://{USER}:****@127.0.0.1")
    assert TOKEN not in out + err


def test_credentials_come_from_netrc_and_only_go_to_their_host(
    private_index: Index, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    code, _out, err = verify(private_index.url)
    assert code == 4 and "HTTP 401" in err and "netrc" in err
    netrc = tmp_path / "home" / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {TOKEN}\n")
    netrc.chmod(0o600)
    code, _out, err = verify(private_index.url)
    assert code == 0, err
    assert TOKEN not in err


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_install_from_an_https_index_with_a_token(
    private_index: Index, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    url = with_credentials(private_index.url)
    args = ["--venv", "env", "--cuda", "cpu", "--index-base", url, "--installer", installer]
    code, out, err = ptenv("install", "--json", "--no-check", *args)
    assert code == 0, err
    document = json.loads(out)
    assert {item["name"] for item in document["installed"]} >= {"torch", "filelock"}
    lock = (tmp_path / "pylock.env.toml").read_text()
    assert f"{USER}:****@127.0.0.1" in lock
    assert_no_token_anywhere(tmp_path, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_the_real_cpu_torch_from_an_https_index_with_basic_auth(
    tmp_path: Path,
    tls: Tls,
    monkeypatch: pytest.MonkeyPatch,
    installer: str,
    real_torch: tuple[Path, list[Path]],
) -> None:
    wheel, deps = real_torch
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    with serve(tmp_path / "served", tls=(tls.cert, tls.key)) as index:
        index.auth = f"{USER}:{TOKEN}"
        folder = index.root / "cpu"
        folder.mkdir(parents=True)
        shutil.copy(wheel, folder)
        for dep in deps:
            shutil.copy(dep, folder)
        code, out, err = ptenv(
            "install", "--json", "--no-check", "--venv", "env", "--torch", TORCH_VERSION,
            "--cuda", "cpu", "--index-base", with_credentials(index.url), "--installer", installer,
        )  # fmt: skip
    assert code == 0, err
    done = subprocess.run(
        [str(tmp_path / "env" / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"{TORCH_VERSION}+cpu"
    assert_no_token_anywhere(tmp_path, out, err)


# --- proxies -------------------------------------------------------------------------------------


@dataclass
class Proxy:
    url: str = ""
    seen: list[str] = field(default_factory=list)  # request lines that passed through


@contextmanager
def forwarding_proxy() -> Iterator[Proxy]:
    """A forwarding proxy on loopback: absolute-URI GETs for http, CONNECT tunnels for https."""
    proxy = Proxy()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_HEAD(self) -> None:
            self.do_GET(method="HEAD")

        def do_GET(self, method: str = "GET") -> None:
            proxy.seen.append(f"{method} {self.path}")
            import urllib.request  # the test's own client, not ptenv's

            request = urllib.request.Request(self.path, headers=dict(self.headers), method=method)
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=10) as upstream:
                    body, status, kind = upstream.read(), upstream.status, upstream.headers
            except urllib.error.HTTPError as error:
                body, status, kind = error.read(), error.code, error.headers
            self.send_response(status)
            self.send_header("Content-Type", kind.get("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            proxy.seen.append(f"CONNECT {self.path}")
            host, port = self.path.split(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            self.send_response(200)
            self.end_headers()
            sockets = [self.connection, upstream]
            while True:
                ready, _, _ = select.select(sockets, [], [], 10)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        upstream.close()
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as index:
        index.add("cpu", f"torch-{LATEST}+cpu-{TAG}.whl")
        yield index


def test_every_request_goes_through_the_proxy_unless_no_proxy_covers_it(
    plain_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("plan", "--cuda", "cpu", "--index-base", plain_index.url, "--verify-index")
    with forwarding_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        code, _out, err = ptenv(*args)
        assert code == 0, err
        assert proxy.seen and all(" http://127.0.0.1" in line for line in proxy.seen)
        assert len(proxy.seen) == len(plain_index.requests)
        proxy.seen.clear()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        code, _out, err = ptenv(*args)
        assert code == 0, err
        assert proxy.seen == []


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_the_installer_downloads_through_the_proxy_too(
    plain_index: Index, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    with forwarding_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        code, _out, err = ptenv(
            "install", "--no-check", "--venv", "env", "--cuda", "cpu", "--index-base",
            plain_index.url, "--installer", installer,
        )  # fmt: skip
    assert code == 0, err
    assert any(line.endswith(".whl") for line in proxy.seen), proxy.seen
    assert len(proxy.seen) == len(plain_index.requests)  # nothing went around it


def test_https_goes_through_the_proxy_as_a_tunnel(
    private_index: Index, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    url = with_credentials(private_index.url)
    with forwarding_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, _out, err = verify(url)
    assert code == 0, err
    assert proxy.seen and all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.seen)


# --- busy, dead and hostile servers ------------------------------------------------------------


def test_a_busy_server_is_retried_with_backoff(
    plain_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTENV_HTTP_RETRIES", "3")
    plain_index.unavailable = 2
    code, _out, err = verify(plain_index.url)
    assert code == 0, err
    assert len(plain_index.requests) == 3  # 503, 503, 200


def test_a_server_that_stays_busy_is_exit_4_after_the_retries(
    plain_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTENV_HTTP_RETRIES", "2")
    plain_index.unavailable = 100
    code, _out, err = verify(plain_index.url)
    assert code == 4 and "HTTP 503" in err
    assert len(plain_index.requests) == 3


def test_a_redirect_to_plain_http_on_another_host_is_refused(plain_index: Index) -> None:
    plain_index.redirect_pages = "http://192.0.2.7/whl"  # TEST-NET-1: never contacted
    code, _out, err = verify(plain_index.url)
    assert code == 4
    assert "redirected to plain http on another host" in err and "192.0.2.7" in err


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_download_that_stalls_ends_with_exit_4_naming_it(
    plain_index: Index, installer: str
) -> None:
    plain_index.drip_wheels = True
    code, _out, err = ptenv(
        "install", "--no-check", "--venv", "env", "--cuda", "cpu", "--index-base",
        plain_index.url, "--installer", installer, "--stall-timeout", "4",
    )  # fmt: skip
    assert code == 4, err
    assert "stalled: nothing arrived for 4 s" in err
    assert "official index" not in err and "index" in err
    assert not Path("env").exists()


# --- never build from source -------------------------------------------------------------------


def sdist_with_a_build_backend(folder: Path, marker: Path) -> Path:
    """evil-1.0.tar.gz whose in-tree build backend writes `marker` the moment it runs."""
    source = folder / "evil-1.0"
    (source / "backend").mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "evil_backend"\n'
        'backend-path = ["backend"]\n[project]\nname = "evil"\nversion = "1.0"\n'
    )
    hook = f"open({str(marker)!r}, 'w').write('ran')\n"
    (source / "backend" / "evil_backend.py").write_text(
        hook
        + "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
        + "def prepare_metadata_for_build_wheel(d, config_settings=None):\n    raise SystemExit\n"
        + "def build_wheel(d, config_settings=None, metadata_directory=None):\n"
        + "    raise SystemExit\n"
    )
    (source / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    archive = folder / "evil-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="evil-1.0")
    shutil.rmtree(source)
    return archive


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_an_sdist_only_dependency_is_never_built(tmp_path: Path, installer: str) -> None:
    marker = tmp_path / "the-sdist-ran"
    with serve(tmp_path / "served") as index:
        index.add("cpu", f"torch-{LATEST}+cpu-{TAG}.whl", requires=("evil",))
        sdist_with_a_build_backend(index.root / "cpu", marker)
        code, _out, err = ptenv(
            "install", "--no-check", "--venv", "env", "--cuda", "cpu", "--index-base",
            index.url, "--installer", installer,
        )  # fmt: skip
    assert code == 4, err
    assert "no wheel of evil" in err and "never runs a package's build code" in err
    assert not marker.exists()
    assert not Path("env").exists()


# --- PyPI's own build --------------------------------------------------------------------------

RTX_4090 = ("--gpu", "RTX 4090", "--driver", "590.48")


def pypi_torch(folder: Path, version_py: str = "2.15.0+cu132", cuda: str = "13.2") -> Path:
    """A wheel shaped like PyPI's: no local tag in its name; torch/version.py says the build."""
    folder.mkdir(parents=True, exist_ok=True)
    return make_wheel(
        folder,
        f"torch-2.15.0-{TAG}.whl",
        requires=("filelock",),
        extra_files={
            "torch/version.py": f"__version__ = {version_py!r}\ncuda = {cuda!r}\n".encode()
        },
    )


@pytest.mark.skipif(sys.version_info < (3, 11), reason="torch 2.15 has no Python 3.10 wheels")
def test_a_pip_download_wheelhouse_is_pypis_cuda_build(tmp_path: Path) -> None:
    house = tmp_path / "house"
    pypi_torch(house)
    make_wheel(house, "filelock-3.20.0-py3-none-any.whl")
    code, out, err = ptenv(
        "plan", "--json", "--find-links", str(house),
        "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", *RTX_4090,
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert plan["packages"] == ["torch==2.15.0"] and plan["variant"] == "cu132"
    assert any("PyPI's torch 2.15.0 is the cu132 build" in r for r in plan["reasons"])
    code, out, err = ptenv(
        "install", "--json", "--no-check", "--venv", "env", "--find-links", str(house),
        "--cuda", "cu132", "--driver", "590.48",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["plan"]["packages"] == ["torch==2.15.0"]
    code, out, err = ptenv(
        "install", "--json", "--no-check", "--venv", "env", "--find-links", str(house),
        "--cuda", "cu132", "--driver", "590.48",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["action"] == "already-installed"  # version.py's +cu132 meets it


@pytest.mark.skipif(sys.version_info < (3, 11), reason="torch 2.15 has no Python 3.10 wheels")
def test_an_untagged_torch_that_is_not_the_planned_build_is_not_kept(tmp_path: Path) -> None:
    house = tmp_path / "house"
    pypi_torch(house, version_py="2.15.0+cu130", cuda="13.0")
    make_wheel(house, "filelock-3.20.0-py3-none-any.whl")
    code, _out, err = ptenv(
        "install", "--no-check", "--venv", "env", "--find-links", str(house),
        "--cuda", "cu132", "--driver", "590.48",
    )  # fmt: skip
    assert code == 4
    assert "turned out to be the cu130 build" in err
    assert not Path("env").exists()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="torch 2.15 has no Python 3.10 wheels")
def test_a_pypi_shaped_mirror_serves_torch_with_pypi(tmp_path: Path) -> None:
    with serve(tmp_path / "served") as index:
        pypi_torch(index.root / "simple")
        make_wheel(index.root / "simple", "filelock-3.20.0-py3-none-any.whl")
        mirror = f"{index.url}/simple"
        code, out, err = ptenv(
            "install", "--json", "--no-check", "--venv", "env", "--pypi", "--pypi-mirror",
            mirror, "--cuda", "cu132", "--driver", "590.48",
        )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["plan"]["packages"] == ["torch==2.15.0"]
    assert document["plan"]["index_url"] == mirror
    assert all(item["source"].startswith(mirror) for item in document["installed"])


def test_pypi_is_never_the_cpu_build_on_linux() -> None:
    code, _out, err = ptenv("plan", "--pypi", "--cuda", "cpu", "--os", "linux")
    assert code == 3 and "No torch build on PyPI fits" in err


def test_a_flat_mirror_takes_its_dependencies_from_the_pypi_mirror(tmp_path: Path) -> None:
    """--find-links URL (a flat listing) plus --pypi-mirror: torch from one, filelock from the
    other, both read and recorded."""
    with serve(tmp_path / "flat") as flat, serve(tmp_path / "pypi") as pypi:
        flat.add("cpu", f"torch-{LATEST}+cpu-{TAG}.whl", requires=("filelock",))
        pypi.add("simple", "filelock-3.20.0-py3-none-any.whl")
        code, out, err = ptenv(
            "install", "--json", "--no-check", "--venv", "env", "--cuda", "cpu",
            "--find-links", f"{flat.url}/cpu/", "--pypi-mirror", f"{pypi.url}/simple",
        )  # fmt: skip
    assert code == 0, err
    assert any("filelock" in path for path in pypi.requests)
    sources = {item["name"]: item["source"] for item in json.loads(out)["installed"]}
    assert sources["torch"].startswith(flat.url) and sources["filelock"].startswith(pypi.url)


def test_a_page_that_drips_ends_at_the_overall_deadline_not_hours_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.2 s resets every per-read timeout; the deadline still ends it."""
    monkeypatch.setenv("PTENV_HTTP_DEADLINE", "2")
    with serve(tmp_path / "served") as served:
        served.add("cpu", "torch-2.15.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl")
        served.drip_pages_s = 0.2
        started = time.monotonic()
        result = runner.invoke(
            app, ["plan", "--json", "--verify-index", "--index-base", served.url, "--gpu", "none"]
        )
        took = time.monotonic() - started
    assert result.exit_code == 4, result.output
    assert "took longer than 2 s" in json.loads(result.stdout)["error"]["message"]
    assert took < 10
