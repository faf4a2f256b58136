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
from tests.sysroots import amd_machine, nvidia_machine

runner = CliRunner()
DATA = Path(__file__).parent.parent / "data"
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


# --- ROCm's own tools, where the kernel's files name no gfx target -------------------------
# Recorded outputs: rocminfo's agent blocks and `amd-smi static --asic --json` as ROCm 6.x
# prints them (shapes from ROCm's documentation and public bug reports; no AMD GPU here).


def test_rocminfo_s_gpu_agents_give_the_gfx_target_and_skip_the_cpu() -> None:
    from ptenv.probe.amd import parse_rocminfo

    gpus = parse_rocminfo((DATA / "rocminfo_rx7900xtx.txt").read_text())
    assert [(g.name, g.gfx, g.device_id) for g in gpus] == [
        ("Radeon RX 7900 XTX", "gfx1100", "0x744c")
    ]


def test_amd_smi_json_gives_each_gpu_s_gfx_target() -> None:
    from ptenv.probe.amd import parse_amd_smi

    text = (DATA / "amd_smi_static_asic_mi300x.json").read_text()
    assert [(g.name, g.gfx) for g in parse_amd_smi(text)] == [("AMD Instinct MI300X", "gfx942")] * 2
    wrapped = json.dumps({"gpu_data": json.loads(text)})
    assert len(parse_amd_smi(wrapped)) == 2
    assert parse_amd_smi("not json") == [] and parse_amd_smi('{"x": 1}') == []


def test_a_gpu_without_kfd_files_is_named_by_rocm_s_tools_amd_smi_first(tmp_path: Path) -> None:
    """A container given /dev/kfd but no /sys/class/kfd: PCI says AMD, the tools say gfx."""
    root = amd_machine(tmp_path, [MI300X], pci_only=True)
    asked: list[str] = []

    def amd_smi() -> str | None:
        asked.append("amd-smi")
        return (DATA / "amd_smi_static_asic_mi300x.json").read_text()

    def rocminfo() -> str | None:
        asked.append("rocminfo")
        return (DATA / "rocminfo_rx7900xtx.txt").read_text()

    info = probe_amd({}, root, amd_smi=amd_smi, rocminfo=rocminfo)
    assert [g.gfx for g in info.gpus] == ["gfx942", "gfx942"] and info.gpus_from == "amd-smi"
    assert asked == ["amd-smi"]
    info = probe_amd({}, root, amd_smi=lambda: None, rocminfo=rocminfo)
    assert [g.gfx for g in info.gpus] == ["gfx1100"] and info.gpus_from == "rocminfo"


def test_the_tools_are_not_asked_when_kfd_names_the_targets_or_no_amd_gpu_is_seen(
    tmp_path: Path,
) -> None:
    def never() -> str | None:
        raise AssertionError("a ROCm tool was run")

    info = probe_amd({}, amd_machine(tmp_path / "kfd", [MI300X]), amd_smi=never, rocminfo=never)
    assert info.gpus_from == "kfd"
    (tmp_path / "empty").mkdir()
    assert probe_amd({}, tmp_path / "empty", amd_smi=never, rocminfo=never).gpus == ()


def test_an_nvidia_and_an_amd_card_in_one_box_plan_cuda_and_name_the_amd_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = nvidia_machine(amd_machine(tmp_path, [RX_7900_XTX]), ["NVIDIA GeForce RTX 4090"])
    code, plan = _plan(root, monkeypatch)
    assert code == 0, plan
    assert str(plan["variant"]).startswith("cu"), plan
    assert any("RX 7900 XTX" in w or "gfx1100" in w for w in plan["warnings"]), plan
    assert any("--cuda rocm" in w for w in plan["warnings"]), plan
    code, plan = _plan(root, monkeypatch, "--cuda", "rocm7.2")
    assert code == 0 and plan["variant"] == "rocm7.2", plan
