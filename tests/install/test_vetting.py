"""Every URL a resolution chose is vetted: https anywhere, plain http on loopback (or with
--insecure), file:// only inside a folder the user named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.errors import InstallFailed
from ptenv.install.lock import LockedPackage
from ptenv.install.sources import Source, SourceKind
from ptenv.install.vetting import vet
from tests.index_server import Index, serve

runner = CliRunner()
TAG = "cp311-cp311-manylinux_2_28_x86_64"
INDEX = Source(kind=SourceKind.INDEX, label="an index", index_url="https://index.example/whl/cpu")


def _package(url: str) -> LockedPackage:
    return LockedPackage(name="torch", version="2.15.0", filename=None, url=url, sha256="0" * 64)


@pytest.mark.parametrize(
    "url",
    [
        "https://index.example/whl/cpu/torch-2.15.0%2Bcpu-cp312-cp312-linux_x86_64.whl",
        "https://another.example/files/torch.whl",  # a CDN: https anywhere is fine
        "http://127.0.0.1:8080/whl/torch.whl",
        "http://[::1]:8080/whl/torch.whl",
    ],
)
def test_https_anywhere_and_plain_http_on_loopback_pass(url: str) -> None:
    vet([_package(url)], INDEX, insecure=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://mirror.example/whl/torch.whl", "plain http on another host"),
        ("file:///etc/shadow", "a local file in no folder named on the command line"),
        ("ftp://mirror.example/torch.whl", "a ftp URL"),
        ("", "without a URL"),
    ],
)
def test_a_url_ptenv_would_not_choose_is_refused(url: str, why: str) -> None:
    with pytest.raises(InstallFailed, match=why):
        vet([_package(url)], INDEX, insecure=False)


def test_insecure_allows_plain_http_but_never_a_stray_local_file() -> None:
    vet([_package("http://mirror.example/whl/torch.whl")], INDEX, insecure=True)
    with pytest.raises(InstallFailed):
        vet([_package("file:///etc/shadow")], INDEX, insecure=True)


def test_files_inside_a_named_wheelhouse_pass(tmp_path: Path) -> None:
    house = Source(kind=SourceKind.WHEELHOUSE, label="wheelhouse", index_url=None,
                   find_links=(str(tmp_path),))  # fmt: skip
    vet([_package((tmp_path / "torch.whl").as_uri())], house, insecure=False)
    with pytest.raises(InstallFailed):
        vet([_package((tmp_path.parent / "elsewhere.whl").as_uri())], house, insecure=False)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as served:
        served.add("cpu", f"torch-2.15.0+cpu-{TAG}.whl")
        yield served


def test_a_remote_page_linking_a_local_file_is_refused_before_anything_is_installed(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page is on a server; its link is file:///...: the file is on this disk (the
    server's own folder), but the user named no such folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    local = tmp_path / "local"
    local.mkdir()
    (local / "whl").symlink_to(index.root)
    index.link_base = local.as_uri()
    result = runner.invoke(
        app, ["install", "--json", "--no-check", "--venv", "env", "--index-base", index.url]
    )
    assert result.exit_code == 4, result.output
    error = json.loads(result.stdout)["error"]
    assert "a local file in no folder named on the command line" in error["message"]
    assert not (tmp_path / "env").exists()


def test_a_local_index_may_link_files_beside_its_pages(tmp_path: Path) -> None:
    """pip's file:///opt/pypi/simple links /opt/pypi/files/...: one local tree, one owner."""
    local = Source(kind=SourceKind.INDEX, label="pip config", index_url=None,
                   extra_index_urls=((tmp_path / "pypi" / "simple").as_uri(),))  # fmt: skip
    vet([_package((tmp_path / "pypi" / "files" / "torch.whl").as_uri())], local, insecure=False)
    with pytest.raises(InstallFailed):
        vet([_package((tmp_path / "elsewhere" / "torch.whl").as_uri())], local, insecure=False)
