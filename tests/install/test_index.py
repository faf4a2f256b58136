from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename
from packaging.version import Version
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.errors import InstallFailed, NoCompatibleBuild, UsageError
from ptenv.install import index
from ptenv.models import Request
from ptenv.probe.overrides import TargetOverrides, apply_overrides
from ptenv.releases import ReleaseData
from ptenv.resolve import resolve
from tests.conftest import make_machine
from tests.index_server import Index, serve

runner = CliRunner()
CP312 = "cp312-cp312-manylinux_2_28_x86_64"


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "whl") as served:
        served.add("cpu", f"torch-2.15.0+cpu-{CP312}.whl")
        served.add("cpu", "torch-2.15.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
        served.add("cpu", "torch-2.14.1+cpu-cp312-cp312-manylinux_2_28_x86_64.whl")
        served.add("cu126", f"torch-2.14.1+cu126-{CP312}.whl")
        served.add("cu126", "torch-2.14.1+cu126-cp312-cp312-win_amd64.whl")
        yield served


def test_html_page_parsing() -> None:
    page = (
        '<a href="../../torch-2.14.1%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl'
        '#sha256=abc">torch-2.14.1+cu126-cp312-cp312-manylinux_2_28_x86_64.whl</a>'
    )
    (file,) = index.parse_simple_html("https://example.invalid/whl/cu126/torch/", page)
    assert file.filename == "torch-2.14.1+cu126-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert file.sha256 == "abc"
    assert file.url.startswith("https://example.invalid/")


def test_json_page_parsing() -> None:
    page = json.dumps(
        {
            "files": [
                {
                    "filename": "torch-2.15.0-cp312-none-macosx_14_0_arm64.whl",
                    "url": "t.whl",
                    "hashes": {"sha256": "ff"},
                }
            ]
        }
    )
    (file,) = index.parse_simple_json("https://x.invalid/simple/torch/", page)
    assert file.url == "https://x.invalid/simple/torch/t.whl" and file.sha256 == "ff"


def test_glibc_limits_manylinux_tags(data: ReleaseData) -> None:
    machine = make_machine()
    from dataclasses import replace

    old = replace(machine, os=replace(machine.os, libc_version="2.26"))
    found = index.wheels([index.IndexFile(f"torch-2.14.1+cu126-{CP312}.whl", "u", None)], "torch")
    assert index.pick(found, Version("2.14.1+cu126"), index.target_tags(machine)) is not None
    assert index.pick(found, Version("2.14.1+cu126"), index.target_tags(old)) is None


# The real names of pytorch-compat.md §13.2 (and an Intel Mac wheel): old manylinux aliases.
REAL_WHEELS = (
    "nvidia_cuda_nvrtc_cu12-12.6.77-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
    "nvidia_nvjitlink_cu12-12.6.85-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
    "nvidia_nvtx_cu12-12.6.77-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl",
    "nvidia_cudnn_cu12-9.5.1.17-py3-none-manylinux_2_28_x86_64.whl",
    "triton-3.9.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
)


@pytest.mark.parametrize("filename", REAL_WHEELS)
def test_linux_tags_reach_down_to_manylinux1(filename: str) -> None:
    machine = make_machine()  # glibc 2.39
    name, version, _, _ = parse_wheel_filename(filename)
    found = index.wheels([index.IndexFile(filename, "u", None)], name)
    assert index.pick(found, version, index.target_tags(machine)) is not None


def test_linux_tags_follow_packaging_order_and_aliases() -> None:
    platforms = index._platform_tags(make_machine())
    assert platforms[0] == "manylinux_2_39_x86_64"
    assert platforms[-4:] == [
        "manylinux_2_6_x86_64",
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
        "linux_x86_64",
    ]
    assert platforms.index("manylinux2014_x86_64") == platforms.index("manylinux_2_17_x86_64") + 1
    assert platforms.index("manylinux2010_x86_64") == platforms.index("manylinux_2_12_x86_64") + 1
    aarch64 = index._platform_tags(make_machine(arch="aarch64"))
    assert "manylinux2014_aarch64" in aarch64 and "manylinux1_aarch64" not in aarch64


def test_an_intel_mac_takes_macosx_10_9_wheels() -> None:
    from dataclasses import replace

    machine = make_machine(arch="x86_64")
    mac = replace(machine, os=replace(machine.os, system="macos", release="13.6.1"))
    filename = "torch-2.2.2-cp312-none-macosx_10_9_x86_64.whl"
    found = index.wheels([index.IndexFile(filename, "u", None)], "torch")
    assert index.pick(found, Version("2.2.2"), index.target_tags(mac)) is not None


def test_musl_takes_musllinux_never_manylinux() -> None:
    from dataclasses import replace

    machine = make_machine()
    alpine = replace(machine, os=replace(machine.os, libc_name="musl", libc_version="1.2.5"))
    platforms = index._platform_tags(alpine)
    assert platforms[:3] == ["musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64"]
    assert not any(p.startswith("manylinux") for p in platforms)


def test_plain_http_refused_except_loopback() -> None:
    index.check_url("http://127.0.0.1:8000/whl")
    index.check_url("http://localhost/whl")
    index.check_url("http://[::1]:9/whl")
    with pytest.raises(UsageError):
        index.check_url("http://mirror.example.invalid/whl")
    index.check_url("http://mirror.example.invalid/whl", insecure=True)


@pytest.mark.parametrize("accept_json", [True, False])
def test_verify_plan_against_a_loopback_index(
    local_index: Index, data: ReleaseData, accept_json: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not accept_json:
        monkeypatch.setattr(index, "ACCEPT", "text/html")
    machine = apply_overrides(make_machine(), TargetOverrides(gpu="none"), data)
    plan = resolve(machine, Request(index_base=local_index.url), data)
    verified = index.verify_plan(plan, machine, data.newest.latest)
    assert f"torch-2.15.0+cpu-{CP312}.whl is on" in verified.reasons[-1]


def test_verify_plan_missing_wheel_names_what_the_index_holds(
    local_index: Index, data: ReleaseData
) -> None:
    machine = apply_overrides(make_machine(), TargetOverrides(gpu="none", python="3.13"), data)
    plan = resolve(machine, Request(index_base=local_index.url), data)
    with pytest.raises(NoCompatibleBuild) as caught:
        index.verify_plan(plan, machine, data.newest.latest)
    assert "It holds torch 2.14.1+cpu, 2.15.0+cpu" in caught.value.hint


def test_index_newer_than_the_data_is_said_plainly(local_index: Index, data: ReleaseData) -> None:
    local_index.add("cpu", f"torch-2.16.0+cpu-{CP312}.whl")
    machine = apply_overrides(make_machine(), TargetOverrides(gpu="none"), data)
    plan = resolve(machine, Request(index_base=local_index.url), data)
    verified = index.verify_plan(plan, machine, data.newest.latest)
    assert plan.torch == "2.15.0"
    assert any("torch 2.16.0+cpu, newer than ptenv's release data" in w for w in verified.warnings)


def test_unreachable_index_is_an_install_failure() -> None:
    with serve(Path("/nonexistent")) as served:
        url = served.url
    with pytest.raises(InstallFailed) as caught:
        index.fetch_project(url, "torch")
    assert "Cannot reach the index" in caught.value.message


def test_cli_verify_index(local_index: Index) -> None:
    result = runner.invoke(
        app,
        [
            "plan",
            "--json",
            "--gpu",
            "none",
            "--python",
            "3.12",
            "--index-base",
            local_index.url,
            "--verify-index",
        ],
    )
    assert result.exit_code == 0, result.output
    assert any("Index check" in r for r in json.loads(result.stdout)["reasons"])
    missing = runner.invoke(
        app,
        [
            "plan",
            "--json",
            "--gpu",
            "none",
            "--python",
            "3.10",
            "--index-base",
            local_index.url,
            "--verify-index",
        ],
    )
    assert missing.exit_code == 3


def test_a_file_index_is_read_like_pip_reads_it(tmp_path: Path) -> None:
    project = tmp_path / "simple" / "torch"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        '<a href="../../files/torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl">'
        "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl</a>",
        encoding="utf-8",
    )
    simple = (tmp_path / "simple").as_uri()
    files = index.fetch_project(simple, "torch")
    assert [f.filename for f in files] == ["torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl"]
    assert index.fetch_project(simple, "numpy") == []  # no folder: not on this index
