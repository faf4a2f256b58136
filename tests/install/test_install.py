"""ptenv install against a real PEP 503 index on 127.0.0.1 with tiny real wheels, real uv and
real pip; the previous environment must survive every failure."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.context import Context
from ptenv.errors import InstallFailed
from ptenv.install import workflow as install_module
from ptenv.install.backends import PipInstaller, UserNetwork, UvInstaller, pip_network, uv_network
from ptenv.install.sources import Source, SourceKind, SourceOptions
from ptenv.install.staging import lock_path, stagings
from ptenv.install.workflow import InstallOptions
from ptenv.models import Request, Transfer
from tests.index_server import Index, make_wheel, serve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-manylinux_2_28_x86_64"
# The newest torch for this interpreter: 2.15 dropped Python 3.10.
LATEST = "2.15.0" if sys.version_info >= (3, 11) else "2.14.1"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as served:
        served.add("cpu", f"torch-2.15.0+cpu-{TAG}.whl")
        served.add("cpu", f"torch-2.14.1+cpu-{TAG}.whl")
        served.add("cpu", f"torch-2.14.0+cpu-{TAG}.whl")
        served.add("cpu", f"torchvision-0.29.1+cpu-{TAG}.whl")
        served.add("cpu", "torchaudio-2.11.1-py3-none-any.whl")
        served.add("cpu", "torchvision-0.29.2-py3-none-any.whl")
        yield served


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def ptenv_install(*args: str) -> tuple[int, dict[str, object], str]:
    result = runner.invoke(app, ["install", "--json", "--no-check", *args])
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, document, result.stderr


def read_lock(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return document


def torch_version_in(venv: Path) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


# --- argv ----------------------------------------------------------------------------------


def test_uv_argv() -> None:
    uv = UvInstaller("/opt/uv")
    source = Source(
        kind=SourceKind.INDEX,
        label="official index",
        index_url="https://download.pytorch.org/whl/cu126",
    )
    assert uv.venv_argv(Path("/v"), "/usr/bin/python3.12") == [
        "/opt/uv",
        "venv",
        "--no-project",
        "--no-config",
        "--python",
        "/usr/bin/python3.12",
        "/v",
    ]
    assert uv.install_argv(
        Path("/v/bin/python"), Path("/t/req.txt"), source, locked=False, network=UserNetwork()
    ) == [
        "/opt/uv",
        "pip",
        "install",
        "--python",
        "/v/bin/python",
        "--no-config",
        "--no-build",
        "--index-url",
        "https://download.pytorch.org/whl/cu126",
        "-r",
        "/t/req.txt",
    ]


def test_uv_argv_offline_locked() -> None:
    source = Source(
        kind=SourceKind.WHEELHOUSE, label="wheelhouse /w", index_url=None, find_links=("/w",)
    )
    assert UvInstaller("uv").install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=True, network=UserNetwork()
    ) == [
        "uv",
        "pip",
        "install",
        "--python",
        "/v/bin/python",
        "--no-config",
        "--no-build",
        "--no-index",
        "--find-links",
        "/w",
        "--require-hashes",
        "--no-deps",
        "-r",
        "/r",
    ]


def test_pip_argv() -> None:
    source = Source(
        kind=SourceKind.PIP_CONFIG,
        label="pip config",
        index_url="https://mirror.invalid/simple",
        find_links=("/w",),
        extra_index_urls=("https://extra.invalid/simple",),
    )
    assert PipInstaller().venv_argv(Path("/v"), "/usr/bin/python3") == [
        "/usr/bin/python3",
        "-m",
        "venv",
        "/v",
    ]
    assert PipInstaller().install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=False, network=UserNetwork()
    ) == [
        "/v/bin/python",
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--isolated",
        "--only-binary",
        ":all:",
        "--index-url",
        "https://mirror.invalid/simple",
        "--extra-index-url",
        "https://extra.invalid/simple",
        "--find-links",
        "/w",
        "-r",
        "/r",
    ]


# --- the happy paths ------------------------------------------------------------------------


def test_fresh_install_pins_records_sources_and_writes_the_lock(
    index: Index, tmp_path: Path
) -> None:
    code, document, _ = ptenv_install(
        "--venv", "env", "--index-base", index.url, "--with", "torchvision,torchaudio"
    )
    assert code == 0, document
    assert document["action"] == "installed" and document["installer"] == "uv"
    assert document["plan"]["packages"] == [  # type: ignore[index]
        f"torch=={LATEST}+cpu",
        "torchvision==0.29.2" if LATEST == "2.15.0" else "torchvision==0.29.1+cpu",
        "torchaudio==2.11.1",
    ]
    sources = {i["name"]: i["source"] for i in document["installed"]}  # type: ignore[attr-defined]
    assert sources["torch"].startswith(index.url + f"/cpu/torch-{LATEST}")
    assert torch_version_in(tmp_path / "env") == f"{LATEST}+cpu"
    lock = read_lock(tmp_path / "pylock.env.toml")
    assert {p["name"] for p in lock["packages"]} == {"torch", "torchvision", "torchaudio"}
    assert all(len(p["wheels"][0]["hashes"]["sha256"]) == 64 for p in lock["packages"])
    assert lock["tool"]["ptenv"]["venv"] == "env"
    assert not stagings(tmp_path / "env")
    assert not lock_path(tmp_path / "env").exists(), "the run left its lock file behind"


def test_already_installed_does_nothing(index: Index) -> None:
    assert ptenv_install("--venv", "env", "--index-base", index.url)[0] == 0
    downloads = len(index.served)
    code, document, _ = ptenv_install("--venv", "env", "--index-base", index.url)
    assert code == 0 and document["action"] == "already-installed"
    assert len(index.served) == downloads


def test_replacing_another_build_needs_yes(index: Index, tmp_path: Path) -> None:
    assert ptenv_install("--venv", "env", "--index-base", index.url, "--torch", "2.14.0")[0] == 0
    code, _, stderr = ptenv_install("--venv", "env", "--index-base", index.url)
    assert code == 2 and "--yes" in stderr
    assert torch_version_in(tmp_path / "env") == "2.14.0+cpu"
    code, _document, _ = ptenv_install("--venv", "env", "--index-base", index.url, "--yes")
    assert code == 0 and torch_version_in(tmp_path / "env") == f"{LATEST}+cpu"


def test_source_missing_the_planned_version_falls_back(tmp_path: Path) -> None:
    with serve(tmp_path / "lagging") as lagging:
        lagging.add("cpu", f"torch-2.14.0+cpu-{TAG}.whl")
        code, document, _ = ptenv_install("--venv", "env", "--index-base", lagging.url)
    assert code == 0
    assert document["plan"]["torch"] == "2.14.0"  # type: ignore[index]
    reasons = document["plan"]["reasons"]  # type: ignore[index]
    assert any(f"does not hold torch {LATEST}" in r for r in reasons)


def test_offline_wheelhouse(index: Index, tmp_path: Path) -> None:
    wheelhouse = index.root / "cpu"
    code, document, _ = ptenv_install(
        "--venv", "env", "--find-links", str(wheelhouse), "--torch", "2.14.1"
    )
    assert code == 0, document
    lock = read_lock(tmp_path / "pylock.env.toml")
    assert "index_url" not in lock["tool"]["ptenv"]["source"]
    assert lock["packages"][0]["wheels"][0]["url"].startswith("file://")


def test_lock_round_trip_is_hash_checked(index: Index, tmp_path: Path) -> None:
    assert ptenv_install("--venv", "env", "--index-base", index.url, "--torch", "2.14.1")[0] == 0
    lock = tmp_path / "pylock.env.toml"
    code, _document, _ = ptenv_install("--venv", "copy", "--lock", str(lock))
    assert code == 0 and torch_version_in(tmp_path / "copy") == "2.14.1+cpu"
    text = lock.read_text()
    sha = read_lock(lock)["packages"][0]["wheels"][0]["hashes"]["sha256"]
    bad = tmp_path / "pylock.bad.toml"
    bad.write_text(text.replace(sha, "0" * 64))
    code, _, stderr = ptenv_install("--venv", "third", "--lock", str(bad))
    assert code == 4 and "hash" in stderr.lower()
    assert not (tmp_path / "third").exists()


def test_pip_backend(index: Index, tmp_path: Path) -> None:
    code, document, _ = ptenv_install(
        "--venv", "env", "--index-base", index.url, "--installer", "pip"
    )
    assert code == 0, document
    assert document["installer"] == "pip"
    assert torch_version_in(tmp_path / "env") == f"{LATEST}+cpu"


def test_dry_run_changes_nothing_and_flags_foreign_links(tmp_path: Path) -> None:
    """A mirror whose pages link back upstream is named: downloads would not be mirrored."""
    with serve(tmp_path / "mirror") as mirror:
        mirror.add("cpu", f"torch-{LATEST}+cpu-{TAG}.whl")
        mirror.link_base = "https://download.pytorch.org"
        result = install_module.install(
            Request(),
            InstallOptions(
                venv=tmp_path / "env", dry_run=True, source=SourceOptions(index_base=mirror.url)
            ),
            Context(),
        )
    assert result.action is install_module.InstallAction.DRY_RUN and not (tmp_path / "env").exists()
    assert any("download.pytorch.org" in w and "not from the mirror" in w for w in result.warnings)
    assert mirror.served == []  # nothing was downloaded, from anywhere


# --- failures leave the previous environment intact --------------------------------------


@pytest.fixture
def previous(index: Index, tmp_path: Path) -> Path:
    assert ptenv_install("--venv", "env", "--index-base", index.url, "--torch", "2.14.0")[0] == 0
    return tmp_path / "env"


def test_unreachable_index(previous: Path) -> None:
    with serve(Path("/nonexistent")) as gone:
        url = gone.url
    code, _document, stderr = ptenv_install("--venv", str(previous), "--index-base", url, "--yes")
    assert code == 4 and "Cannot reach the index" in stderr and url in stderr
    assert torch_version_in(previous) == "2.14.0+cpu"


def test_variant_missing_on_the_index(previous: Path, index: Index) -> None:
    code, _, stderr = ptenv_install(
        "--venv",
        str(previous),
        "--index-base",
        index.url,
        "--cuda",
        "cu126",
        "--torch",
        "2.14.1",
        "--yes",
    )
    assert code == 3 and "holds no torch build" in stderr
    assert torch_version_in(previous) == "2.14.0+cpu"


def test_corrupt_wheel_hash_mismatch(previous: Path, index: Index) -> None:
    index.broken_hashes.add(f"torch-{LATEST}+cpu-{TAG}.whl")
    code, _, stderr = ptenv_install("--venv", str(previous), "--index-base", index.url, "--yes")
    assert code == 4 and "hash" in stderr.lower()
    assert torch_version_in(previous) == "2.14.0+cpu"
    assert not stagings(previous)


def test_too_little_disk(previous: Path, index: Index) -> None:
    with pytest.raises(InstallFailed) as caught:
        install_module.install(
            Request(),
            InstallOptions(
                venv=previous,
                yes=True,
                required_free_bytes=10**18,
                source=SourceOptions(index_base=index.url),
            ),
            Context(confirm=lambda _: True),
        )
    assert "GB free" in caught.value.message
    assert torch_version_in(previous) == "2.14.0+cpu"


def test_second_install_into_the_same_venv_is_refused(previous: Path, index: Index) -> None:
    with lock_path(previous).open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, stderr = ptenv_install("--venv", str(previous), "--index-base", index.url, "--yes")
    assert code == 4 and "Another ptenv install" in stderr


STOPPED = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGKILL: -9}


@pytest.mark.parametrize("how", list(STOPPED), ids=lambda s: s.name)
def test_install_stopped_midway(previous: Path, index: Index, how: signal.Signals) -> None:
    """Ctrl-C, CI's SIGTERM, a closed terminal's SIGHUP, even SIGKILL during the download:
    no process of the run is left, the previous venv imports the same torch, the next run
    succeeds."""
    index.delay_s = 30.0
    downloads_before = len(index.started)
    marker = uuid.uuid4().hex
    argv = [
        sys.executable,
        "-m",
        "ptenv",
        "install",
        "--venv",
        str(previous),
        "--index-base",
        index.url,
        "--yes",
        "--no-check",
    ]
    child = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "UV_CACHE_DIR": str(previous.parent / "c2"), "PTENV_TEST_RUN": marker},
    )
    deadline = time.monotonic() + 20
    while len(index.started) == downloads_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(index.started) > downloads_before, "the install never reached the download"
    assert _processes_of(marker), "the installer should be running now"
    child.send_signal(how)
    child.communicate(timeout=30)
    assert child.returncode == STOPPED[how]
    _wait_until_gone(marker)
    if how is not signal.SIGKILL:
        assert not stagings(previous)
        assert not lock_path(previous).exists()
    assert torch_version_in(previous) == "2.14.0+cpu"
    index.delay_s = 0.0
    code, _document, _ = ptenv_install("--venv", str(previous), "--index-base", index.url, "--yes")
    assert code == 0 and torch_version_in(previous) == f"{LATEST}+cpu"
    assert not stagings(previous)


def _processes_of(marker: str) -> list[int]:
    """Processes carrying this test's marker in their environment: the run and its children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"PTENV_TEST_RUN={marker}".encode() in environment:
                found.append(int(entry.name))
    return found


def _wait_until_gone(marker: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _processes_of(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_of(marker)
    assert not left, f"processes of the stopped run are still there: {left}"


def test_a_dry_run_leaves_the_folder_byte_identical(index: Index, tmp_path: Path) -> None:
    assert ptenv_install("--venv", "env", "--index-base", index.url, "--torch", "2.14.0")[0] == 0
    before = _tree(tmp_path)
    code, document, stderr = ptenv_install(
        "--venv", "env", "--index-base", index.url, "--dry-run", "--yes"
    )
    assert code == 0, stderr
    assert document["action"] == "dry-run"
    assert _tree(tmp_path) == before
    fresh = tmp_path / "deep" / "new" / "env"
    code, _, stderr = ptenv_install("--venv", str(fresh), "--index-base", index.url, "--dry-run")
    assert code == 0, stderr
    assert not (tmp_path / "deep").exists()


def _tree(folder: Path) -> dict[str, str]:
    """Every path under the folder with its content hash (or 'dir' / the link target)."""
    import hashlib

    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if "uv-cache" in key:
            continue
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# --- refusals -----------------------------------------------------------------------------


def test_refuses_the_environment_ptenv_runs_from() -> None:
    code, _, stderr = ptenv_install("--venv", sys.prefix)
    assert code == 2 and "ptenv itself runs from" in stderr


def test_refuses_a_folder_that_is_not_a_venv(tmp_path: Path, index: Index) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    code, _, _stderr = ptenv_install("--venv", "data", "--index-base", index.url)
    assert code == 2 and "not a venv" in _stderr
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_an_empty_folder_becomes_the_venv(tmp_path: Path, index: Index) -> None:
    (tmp_path / "empty").mkdir()
    assert ptenv_install("--venv", "empty", "--index-base", index.url)[0] == 0
    assert torch_version_in(tmp_path / "empty") == f"{LATEST}+cpu"


def test_plain_http_refused_off_loopback() -> None:
    code, _, stderr = ptenv_install(
        "--venv", "env", "--index-base", "http://mirror.example.invalid/whl"
    )
    assert code == 2 and "plain http" in stderr


def test_unknown_mirror_is_usage() -> None:
    code, _, stderr = ptenv_install("--venv", "env", "--mirror", "nowhere")
    assert code == 2 and "nju" in stderr


def test_doctor_reports_drift_from_the_lock(index: Index) -> None:
    assert ptenv_install("--venv", "env", "--index-base", index.url)[0] == 0
    same = runner.invoke(app, ["doctor", "--venv", "env", "--json"])
    assert "lock-drift" not in [f["code"] for f in json.loads(same.stdout)["findings"]]
    moved = runner.invoke(
        app, ["doctor", "--venv", "env", "--json", "--gpu", "8.6", "--driver", "550.54.15"]
    )
    findings = {f["code"]: f for f in json.loads(moved.stdout)["findings"]}
    assert "NVIDIA driver: none when locked, 550.54.15 now" in findings["lock-drift"]["message"]
    assert "torch-cpu-on-gpu-host" in findings


def test_unreachable_index_names_the_routes_that_may_work(tmp_path: Path) -> None:
    """pip's configured sources (where there are any) and PyPI's build of the planned release."""
    with serve(tmp_path / "gone") as served:
        url = served.url
    code, _document, stderr = ptenv_install(
        "--gpu", "RTX 4090", "--driver", "590.48", "--index-base", url
    )
    assert code == 4 and "Cannot reach the index" in stderr
    assert "PyPI holds torch 2.15.0 as the cu132 build" in stderr
    assert "--pypi installs it from PyPI" in stderr
    code, _document, stderr = ptenv_install("--cuda", "cpu", "--index-base", url)
    assert code == 4 and "--pypi" not in stderr  # PyPI's Linux build is never the CPU one
    from ptenv.install.sources import read_pip_config

    if any(key in read_pip_config() for key in ("index-url", "extra-index-url", "find-links")):
        assert "--use-pip-config" in stderr


def test_the_user_network_settings_reach_the_installers_and_sources_do_not(
    tmp_path: Path,
) -> None:
    """pip gets cert, proxy, trusted-host, keyring, timeout as flags (it runs --isolated);
    uv gets its config's system-certs, insecure hosts and keyring; index keys go nowhere."""
    config = {
        "index-url": "https://evil.invalid/simple",
        "cert": "/etc/corp-ca.pem",
        "client-cert": "/etc/me.pem",
        "proxy": "http://proxy.corp:3128",
        "trusted-host": "mirror.corp other.corp",
        "keyring-provider": "subprocess",
        "timeout": "60",
        "retries": "9",
    }
    source = Source(kind=SourceKind.INDEX, label="index", index_url="https://good.invalid/cu126")
    argv = PipInstaller().install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=False, network=pip_network(config)
    )
    assert argv[argv.index("--index-url") + 1] == "https://good.invalid/cu126"
    assert "https://evil.invalid/simple" not in argv
    pairs = [argv[i : i + 2] for i in range(len(argv) - 1)]
    for pair in (
        ["--cert", "/etc/corp-ca.pem"],
        ["--client-cert", "/etc/me.pem"],
        ["--proxy", "http://proxy.corp:3128"],
        ["--trusted-host", "mirror.corp"],
        ["--trusted-host", "other.corp"],
        ["--keyring-provider", "subprocess"],
        ["--timeout", "60"],
        ["--retries", "9"],
    ):
        assert pair in pairs, pair
    assert PipInstaller().environment(pip_network(config)) == {
        "PIP_CONFIG_FILE": os.devnull,
        "REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem",  # else requests lets the variable win
        "CURL_CA_BUNDLE": "/etc/corp-ca.pem",
    }

    uv_toml = tmp_path / "uv.toml"
    uv_toml.write_text(
        'native-tls = true\nallow-insecure-host = ["mirror.corp"]\n'
        'keyring-provider = "subprocess"\nindex-url = "https://evil.invalid/simple"\n'
    )
    network = uv_network({"UV_CONFIG_FILE": str(uv_toml)})
    argv = UvInstaller("uv").install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=False, network=network
    )
    assert "--native-tls" in argv and "--no-config" in argv and "--no-build" in argv
    assert ["--allow-insecure-host", "mirror.corp"] in [argv[i : i + 2] for i in range(len(argv))]
    assert ["--keyring-provider", "subprocess"] in [argv[i : i + 2] for i in range(len(argv))]
    assert "https://evil.invalid/simple" not in argv


def test_the_install_step_reports_what_it_wrote_against_the_wheels_unpacked_size(
    index: Index, tmp_path: Path
) -> None:
    """For a live bar: the total comes from range reads of each wheel's zip directory."""
    heard: list[Transfer] = []
    install_module.install(
        Request(),
        InstallOptions(venv=tmp_path / "env", source=SourceOptions(index_base=index.url)),
        Context(transfer=heard.append, wants_totals=True),
    )
    last = [t for t in heard if t.what == "uv install"][-1]
    wheel = index.root / "cpu" / f"torch-{LATEST}+cpu-{TAG}.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert last.done and last.expected == sum(i.file_size for i in archive.infolist())
    assert index.served.count(wheel.name) == 1, "the total cost a download"
    assert [agent for *_, agent in index.ranged if agent.startswith("ptenv/")]


def test_without_a_live_display_no_wheel_is_range_read(index: Index, tmp_path: Path) -> None:
    heard: list[Transfer] = []
    install_module.install(
        Request(),
        InstallOptions(venv=tmp_path / "env", source=SourceOptions(index_base=index.url)),
        Context(transfer=heard.append),
    )
    assert heard and all(t.expected is None for t in heard)
    assert not [agent for *_, agent in index.ranged if agent.startswith("ptenv/")]


def test_the_installers_environment_keeps_network_variables_and_drops_source_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE, proxies, UV_HTTP_TIMEOUT, NETRC reach the installer; PIP_INDEX_URL not."""
    seen = tmp_path / "env.json"
    script = tmp_path / "show-env"
    dump = f"import json, os; json.dump(dict(os.environ), open({str(seen)!r}, 'w'))"
    script.write_text(f"#!{sys.executable}\n{dump}\n")
    script.chmod(0o755)
    keep = {
        "SSL_CERT_FILE": "/etc/ca.pem",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "UV_HTTP_TIMEOUT": "120",
        "UV_NATIVE_TLS": "1",
        "NETRC": "/home/me/.netrc",
    }
    drop = {"PIP_INDEX_URL": "https://evil.invalid", "UV_DEFAULT_INDEX": "https://evil.invalid"}
    for name, value in {**keep, **drop}.items():
        monkeypatch.setenv(name, value)
    from ptenv.install.backends import run_installer

    run_installer([str(script)], "showing the environment", {"PIP_CONFIG_FILE": os.devnull})
    env = json.loads(seen.read_text())
    assert {k: env.get(k) for k in keep} == keep
    assert not set(drop) & set(env)
    assert env["PIP_CONFIG_FILE"] == os.devnull


def test_an_untagged_wheel_is_not_taken_for_the_cpu_build(tmp_path: Path) -> None:
    """PyPI's Linux torch wheel carries no +cpu tag and is a CUDA build: never the cpu one."""
    from tests.index_server import make_wheel

    house = tmp_path / "house"
    house.mkdir()
    make_wheel(house, f"torch-{LATEST}-{TAG}.whl")
    make_wheel(house, f"torch-2.14.0+cpu-{TAG}.whl")
    code, document, stderr = ptenv_install(
        "--venv", "env", "--cuda", "cpu", "--find-links", str(house), "--dry-run"
    )
    assert code == 0, stderr
    assert document["plan"]["packages"] == ["torch==2.14.0+cpu"]  # type: ignore[index]


def test_extra_indexes_without_an_index_keep_the_default_index() -> None:
    """pip config with only extra-index-url: pip still uses its default index, so must we."""
    source = Source(
        kind=SourceKind.PIP_CONFIG,
        label="pip config",
        index_url=None,
        find_links=("/w",),
        extra_index_urls=("file:///opt/simple",),
    )
    argv = UvInstaller("uv").install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=False, network=UserNetwork()
    )
    assert "--no-index" not in argv
    assert argv[argv.index("--extra-index-url") + 1] == "file:///opt/simple"


def test_a_flat_listing_mirror_leaves_the_default_index_on_for_dependencies() -> None:
    """A flat-listing mirror holds torch wheels only; --no-index would starve filelock & co."""
    source = Source(
        kind=SourceKind.MIRROR,
        label="mirror aliyun",
        index_url=None,
        find_links=("https://mirrors.example/pytorch-wheels/cu126",),
    )
    argv = UvInstaller("uv").install_argv(
        Path("/v/bin/python"), Path("/r"), source, locked=False, network=UserNetwork()
    )
    assert "--no-index" not in argv and "--find-links" in argv


def test_plan_reads_the_source_install_would_and_agrees_with_it(tmp_path: Path) -> None:
    """A wheelhouse holding only 2.14.0: plan and install both say 2.14.0, not the newest."""
    from tests.index_server import make_wheel

    house = tmp_path / "house"
    house.mkdir()
    make_wheel(house, f"torch-2.14.0+cpu-{TAG}.whl")
    planned = runner.invoke(app, ["plan", "--json", "--cuda", "cpu", "--find-links", str(house)])
    assert planned.exit_code == 0, planned.output
    code, installing, stderr = ptenv_install(
        "--venv", "env", "--cuda", "cpu", "--find-links", str(house), "--dry-run"
    )
    assert code == 0, stderr
    assert json.loads(planned.stdout)["packages"] == ["torch==2.14.0+cpu"]
    assert installing["plan"]["packages"] == ["torch==2.14.0+cpu"]  # type: ignore[index]


def _interpreters(minor: str) -> list[Path]:
    """pythonX.Y on PATH, and beside this interpreter's installation (pyenv's layout)."""
    import shutil

    found = [Path(p) for p in [shutil.which(f"python{minor}")] if p]
    return found + sorted(Path(sys.base_prefix).parent.glob(f"{minor}*/bin/python{minor}"))


def test_plan_for_a_venv_plans_for_its_python(tmp_path: Path) -> None:
    """Not for ptenv's own Python: a venv of another minor gets that minor's plan."""

    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    other = next(
        (
            (minor, str(python))
            for minor in ("3.12", "3.13", "3.10")
            if minor != mine
            for python in _interpreters(minor)
            if subprocess.run([python, "-c", "pass"], check=False, capture_output=True).returncode
            == 0
        ),
        None,
    )
    if other is None:
        pytest.skip("no other Python minor on this machine")
    venv = tmp_path / "target"
    subprocess.run([other[1], "-m", "venv", "--without-pip", str(venv)], check=True)
    result = runner.invoke(app, ["plan", "--json", "--venv", str(venv)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["python"] == other[0]
    missing = runner.invoke(app, ["plan", "--venv", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2


def test_verbose_shows_each_installer_command(index: Index) -> None:
    result = runner.invoke(
        app, ["install", "--no-check", "-v", "--venv", "env", "--index-base", index.url]
    )
    assert result.exit_code == 0, result.output
    commands = [line for line in result.stderr.splitlines() if "$ " in line]
    assert any(" venv " in line for line in commands)
    assert any(" pip install " in line for line in commands)


def test_a_lock_that_cannot_be_written_does_not_undo_the_install(
    index: Index, tmp_path: Path
) -> None:
    """The lock is written after the swap: the venv has the new torch, and no lock lies."""
    result = install_module.install(
        Request(),
        InstallOptions(
            venv=tmp_path / "env",
            lock=tmp_path / "gone" / "ptenv.lock",  # its folder does not exist
            source=SourceOptions(index_base=index.url),
        ),
        Context(),
    )
    assert result.action is install_module.InstallAction.INSTALLED
    assert torch_version_in(tmp_path / "env") == f"{LATEST}+cpu"
    assert result.lock is None
    assert any("could not be written" in w for w in result.warnings)


def test_the_install_says_how_to_use_the_venv_by_hand(index: Index, tmp_path: Path) -> None:
    """A uv venv has no pip: `pip install numpy` after activating would go elsewhere."""
    result = runner.invoke(
        app,
        ["install", "--no-check", "--venv", "env", "--index-base", index.url],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert f"Use it: source {tmp_path / 'env'}/bin/activate" in result.stdout
    assert "It has no pip" not in result.stdout  # ensurepip's wheel: pip install stays inside
    assert (tmp_path / "env" / "bin" / "pip").exists()


def test_an_install_waits_for_no_check_and_a_check_for_no_install(
    previous: Path, index: Index
) -> None:
    """check holds the venv shared, install exclusive: neither runs under the other."""
    from ptenv.install.staging import venv_lock

    with venv_lock(previous, shared=True) as held:  # as a running `ptenv check` does
        assert held
        code, document, _ = ptenv_install(
            "--venv", str(previous), "--index-base", index.url, "--torch", "2.14.1", "--yes"
        )
    assert code == 4 and "A ptenv check is running" in document["error"]["message"]  # type: ignore[index]
    assert torch_version_in(previous) == "2.14.0+cpu"
    with venv_lock(previous, shared=False) as held:  # as a running install does
        assert held
        checked = runner.invoke(app, ["check", "--venv", str(previous), "--no-compile"])
    assert checked.exit_code == 2 and "install into" in checked.stderr


def test_a_damaged_torch_is_a_doctor_finding_and_the_next_install_repairs_it(
    tmp_path: Path,
) -> None:
    """A shared library deleted from torch (RECORD names it and its size)."""
    library = "torch/lib/libtorch_cpu.so"
    with serve(tmp_path / "served") as served:
        (served.root / "cpu").mkdir(parents=True)
        make_wheel(
            served.root / "cpu",
            f"torch-{LATEST}+cpu-{TAG}.whl",
            extra_files={library: b"\x7fELF" + b"\0" * 4096},
        )
        assert ptenv_install("--venv", "env", "--index-base", served.url)[0] == 0
        site = next((tmp_path / "env" / "lib").glob("python3*/site-packages"))
        (site / library).unlink()
        doctor = runner.invoke(app, ["doctor", "--json", "--venv", "env"])
        codes = {f["code"] for f in json.loads(doctor.stdout)["findings"]}
        assert doctor.exit_code == 1 and "torch-damaged" in codes
        code, document, _ = ptenv_install("--venv", "env", "--index-base", served.url)
        assert code == 0 and document["action"] == "installed", document
        assert (site / library).stat().st_size == 4100
        again = runner.invoke(app, ["doctor", "--json", "--venv", "env"])
        assert "torch-damaged" not in {f["code"] for f in json.loads(again.stdout)["findings"]}
        assert ptenv_install("--venv", "env", "--index-base", served.url)[1]["action"] == (
            "already-installed"
        )
