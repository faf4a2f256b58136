"""AMD GPUs read from recorded KFD and PCI files (PTENV_SYSROOT), planned onto ROCm builds
whose gfx targets include them; never the CPU build in silence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.probe.amd import gfx_name, probe_amd
from tests.sysroots import amd_machine

runner = CliRunner()
RX_7900_XTX = (110000, 0x744C, "gfx1100")  # RDNA3
RX_6700_XT = (100301, 0x73DF, "gfx1031")  # RDNA2: not in any ROCm wheel's list
MI300X = (90402, 0x74A1, "gfx942")


@pytest.mark.parametrize(
    ("version", "name"),
    [(110000, "gfx1100"), (90010, "gfx90a"), (90402, "gfx942"), (100300, "gfx1030"),
     (120001, "gfx1201"), (110501, "gfx1151"), (0, None)],
)  # fmt: skip
def test_kfd_target_versions_read_as_gfx_names(version: int, name: str | None) -> None:
    assert gfx_name(version) == name


def test_the_kfd_topology_gives_each_gpu_and_skips_the_cpu_agent(tmp_path: Path) -> None:
    root = amd_machine(tmp_path, [RX_7900_XTX, MI300X])
    found = probe_amd({}, root)
    assert [(g.gfx, g.device_id) for g in found.gpus] == [
        ("gfx1100", "0x744c"),
        ("gfx942", "0x74a1"),
    ]
    assert found.kfd and found.kernel_driver == "6.12.12"


def test_hip_visible_devices_selects_like_cuda_visible_devices(tmp_path: Path) -> None:
    root = amd_machine(tmp_path, [RX_7900_XTX, MI300X])
    found = probe_amd({"HIP_VISIBLE_DEVICES": "1"}, root)
    assert [g.gfx for g in found.visible_gpus] == ["gfx942"]
    assert probe_amd({"ROCR_VISIBLE_DEVICES": ""}, root).visible_gpus == ()


def test_a_gpu_on_pci_without_kfd_is_still_seen(tmp_path: Path) -> None:
    root = amd_machine(tmp_path, [RX_7900_XTX], pci_only=True, kfd=False)
    found = probe_amd({}, root)
    assert len(found.gpus) == 1 and found.gpus[0].gfx is None and not found.kfd


def _plan(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("PTENV_SYSROOT", str(root))
    result = runner.invoke(app, ["plan", "--json", "--python", "3.12", *args])
    return result.exit_code, json.loads(result.stdout)


def test_an_rx_7900_gets_the_newest_rocm_build_not_the_cpu_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, plan = _plan(amd_machine(tmp_path, [RX_7900_XTX]), monkeypatch)
    assert code == 0, plan
    assert plan["variant"] == "rocm7.2" and plan["torch"] == "2.14.1"
    assert any("gfx1100" in r for r in plan["reasons"])


def test_a_gfx_no_rocm_wheel_targets_is_exit_3_with_the_override_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, document = _plan(amd_machine(tmp_path, [RX_6700_XT]), monkeypatch)
    assert code == 3
    error = document["error"]
    assert "gfx1031" in error["message"]
    assert "HSA_OVERRIDE_GFX_VERSION=10.3.0" in error["hint"] and "--cuda cpu" in error["hint"]


def test_an_amd_gpu_without_kfd_is_exit_3_not_the_cpu_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, document = _plan(
        amd_machine(tmp_path, [RX_7900_XTX], pci_only=True, kfd=False), monkeypatch
    )
    assert code == 3 and "KFD" in document["error"]["message"]


def test_cuda_cpu_is_still_honoured_on_an_amd_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, plan = _plan(amd_machine(tmp_path, [RX_6700_XT]), monkeypatch, "--cuda", "cpu")
    assert code == 0 and plan["variant"] == "cpu"


def test_doctor_lists_the_amd_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTENV_SYSROOT", str(amd_machine(tmp_path, [MI300X])))
    result = runner.invoke(app, ["doctor", "--json"])
    gpus = json.loads(result.stdout)["machine"]["amd"]["gpus"]
    assert [g["gfx"] for g in gpus] == ["gfx942"]
