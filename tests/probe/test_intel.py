"""Intel GPUs from recorded PCI files: a family the xpu wheels are built for gets the xpu
build, with its UNVERIFIED hardware list said; an older iGPU gets the CPU build, said why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.probe.intel import family_of, probe_intel
from tests.sysroots import amd_machine, intel_machine

runner = CliRunner()
ARC_B580 = 0xE20B
ARC_A770 = 0x56A0
TIGER_LAKE_IGPU = 0x9A49  # Xe-LP (11th gen Core): not on PyTorch's hardware list


@pytest.mark.parametrize(
    ("device", "family", "xpu"),
    [
        ("0xe20b", "Arc B-Series (Battlemage)", True),
        ("0x56a0", "Arc A-Series (Alchemist)", True),
        ("0x0bd5", "Data Center GPU Max (Ponte Vecchio)", True),
        ("0x56c0", "Data Center GPU Flex (Arctic Sound-M)", False),
    ],
)
def test_device_ids_name_their_family(device: str, family: str, xpu: bool) -> None:
    found = family_of(device)
    assert found is not None and (found["name"], found["xpu"]) == (family, xpu)


def test_the_pci_bus_gives_each_intel_display_device(tmp_path: Path) -> None:
    info = probe_intel(intel_machine(tmp_path, [ARC_B580, TIGER_LAKE_IGPU]))
    assert [(g.device_id, g.xpu, g.driver) for g in info.gpus] == [
        ("0xe20b", True, "xe"),
        ("0x9a49", False, "xe"),
    ]
    assert info.level_zero


def _plan(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PTENV_SYSROOT", str(root))
    result = runner.invoke(app, ["plan", "--json", "--python", "3.12"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_an_arc_gpu_gets_the_xpu_build_with_its_unverified_list_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(intel_machine(tmp_path, [ARC_A770]), monkeypatch)
    assert plan["variant"] == "xpu"
    assert any("UNVERIFIED" in w for w in plan["warnings"])


def test_without_level_zero_the_plan_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(intel_machine(tmp_path, [ARC_B580], level_zero=False), monkeypatch)
    assert plan["variant"] == "xpu"
    assert any("Level Zero" in w for w in plan["warnings"])


def test_an_older_igpu_gets_the_cpu_build_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(intel_machine(tmp_path, [TIGER_LAKE_IGPU]), monkeypatch)
    assert plan["variant"] == "cpu"
    assert any("0x9a49" in r and "--cuda xpu" in r for r in plan["reasons"])


def test_an_amd_gpu_beside_an_intel_igpu_gets_rocm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = amd_machine(tmp_path, [(110000, 0x744C, "gfx1100")])
    intel_machine(root, [0x7D55], level_zero=False)
    assert _plan(root, monkeypatch)["variant"] == "rocm7.2"
