"""AMD GPUs from the kernel's own files, without ROCm's tools (each source on its own).

1. The KFD topology (/sys/class/kfd/kfd/topology/nodes/N/properties): one node per agent;
   GPUs have `simd_count` > 0 and a `gfx_target_version` (110000 -> gfx1100, 90010 ->
   gfx90a), the name the ROCm wheels' target lists use.
2. The PCI bus (/sys/bus/pci/devices/*/{vendor,class,device,driver}): vendor 0x1002 with a
   display class, bound to amdgpu; this finds a GPU even where KFD is absent (no ROCm-capable
   driver), so it is never silently a CPU machine.
3. /dev/kfd (exists, and this user may open it: the render / video group), the amdgpu module's
   version, /opt/rocm/.info/version.
4. Only where the kernel's files name no gfx target (no KFD topology: a container given
   /dev/kfd without /sys/class/kfd, or PCI alone) and there is sign of an AMD GPU: ROCm's
   `amd-smi static --asic --json`, then `rocminfo`. Never under PTENV_SYSROOT (they would
   describe this host, not the recorded one).
HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES select GPUs as CUDA_VISIBLE_DEVICES does.
Every path is read under `root` (PTENV_SYSROOT: a recorded machine or a mounted image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from ptenv import _proc
from ptenv.models import AmdGpu, AmdInfo
from ptenv.probe._files import pci_display_devices, read_text

AMD_VENDOR = "0x1002"


def gfx_name(target_version: int) -> str | None:
    """KFD's gfx_target_version as the gfx name: major*10000 + minor*100 + stepping."""
    if target_version <= 0:
        return None
    major, rest = divmod(target_version, 10000)
    minor, stepping = divmod(rest, 100)
    return f"gfx{major}{minor:x}{stepping:x}"


def _properties(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            found[key] = value.strip()
    return found


def _kfd_gpus(root: Path) -> list[AmdGpu]:
    nodes = root / "sys/class/kfd/kfd/topology/nodes"
    try:
        entries = sorted(nodes.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    except OSError:
        return []
    gpus = []
    for node in entries:
        props = _properties(read_text(node / "properties") or "")
        if int(props.get("simd_count", "0") or 0) <= 0:
            continue  # a CPU agent
        if props.get("vendor_id", str(int(AMD_VENDOR, 16))) != str(int(AMD_VENDOR, 16)):
            continue
        device = f"0x{int(props.get('device_id', '0') or 0):04x}"
        name = (read_text(node / "name") or "").strip() or f"AMD GPU {device}"
        gfx = gfx_name(int(props.get("gfx_target_version", "0") or 0))
        gpus.append(AmdGpu(name=name, gfx=gfx, device_id=device))
    return gpus


def _pci_gpus(root: Path) -> list[AmdGpu]:
    return [
        AmdGpu(name=f"AMD GPU {device}", gfx=None, device_id=device, pci=entry.name)
        for entry, device, driver in pci_display_devices(root, AMD_VENDOR)
        # another driver (vfio for a passed-through GPU) means the GPU is not this host's
        if driver in (None, "amdgpu")
    ]


def _visible(gpus: list[AmdGpu], selection: str | None) -> list[AmdGpu]:
    """HIP_VISIBLE_DEVICES=0,2 keeps those indices; an empty value hides every GPU."""
    if selection is None:
        return gpus
    wanted = {int(i) for i in selection.split(",") if i.strip().isdigit()}
    return [
        AmdGpu(name=g.name, gfx=g.gfx, device_id=g.device_id, pci=g.pci, visible=i in wanted)
        for i, g in enumerate(gpus)
    ]


def parse_amd_smi(text: str) -> list[AmdGpu]:
    """`amd-smi static --asic --json`: a list of {"gpu": N, "asic": {...}} (ROCm 6.1+; some
    versions wrap it as {"gpu_data": [...]}). The gfx name is `target_graphics_version`."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    entries = document.get("gpu_data", []) if isinstance(document, dict) else document
    gpus = []
    for entry in entries if isinstance(entries, list) else []:
        asic = entry.get("asic", {}) if isinstance(entry, dict) else {}
        if not isinstance(asic, dict):
            continue
        gfx = str(asic.get("target_graphics_version", "")).strip().lower()
        device = _hex_id(str(asic.get("device_id", "")))
        name = str(asic.get("market_name", "")).strip() or f"AMD GPU {device}"
        gpus.append(AmdGpu(name=name, gfx=gfx if _GFX.fullmatch(gfx) else None, device_id=device))
    return gpus


def parse_rocminfo(text: str) -> list[AmdGpu]:
    """rocminfo's agents: the blocks after "Agent N" lines; a GPU agent has `Device Type: GPU`,
    `Name: gfx1100`, `Marketing Name: ...` and `Chip ID: 29772(0x744c)`."""
    gpus = []
    for block in re.split(r"^\*+\s*\n\s*Agent \d+\s*\n\*+\s*$", text, flags=re.MULTILINE)[1:]:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        if fields.get("Device Type") != "GPU":
            continue
        gfx = fields.get("Name", "").lower()
        chip = re.search(r"0x[0-9a-fA-F]+", fields.get("Chip ID", ""))
        device = _hex_id(chip.group(0) if chip else "")
        name = fields.get("Marketing Name") or f"AMD GPU {device}"
        gpus.append(AmdGpu(name=name, gfx=gfx if _GFX.fullmatch(gfx) else None, device_id=device))
    return gpus


_GFX = re.compile(r"gfx[0-9a-f]{3,4}")


def _hex_id(value: str) -> str:
    try:
        return f"0x{int(value, 16):04x}" if value else "unknown"
    except ValueError:
        return "unknown"


def _run_tool(argv: list[str]) -> str | None:
    """A ROCm tool's stdout, if it is installed and answers within 10 s."""
    found = shutil.which(argv[0]) or (
        str(Path("/opt/rocm/bin") / argv[0]) if (Path("/opt/rocm/bin") / argv[0]).exists() else None
    )
    if found is None:
        return None
    try:
        done = _proc.run([found, *argv[1:]], timeout=10)
    except OSError:
        return None
    return done.stdout if done.ok else None


def run_amd_smi() -> str | None:
    return _run_tool(["amd-smi", "static", "--asic", "--json"])


def run_rocminfo() -> str | None:
    return _run_tool(["rocminfo"])


def probe_amd(
    env: Mapping[str, str],
    root: Path = Path("/"),
    *,
    amd_smi: Callable[[], str | None] = run_amd_smi,
    rocminfo: Callable[[], str | None] = run_rocminfo,
) -> AmdInfo:
    gpus, source = _kfd_gpus(root), "kfd"
    if not gpus:
        gpus, source = _pci_gpus(root), "pci"
    kfd = root / "dev/kfd"
    if not any(g.gfx for g in gpus) and (gpus or kfd.exists()):
        for name, tool, parse in (("amd-smi", amd_smi, parse_amd_smi),
                                  ("rocminfo", rocminfo, parse_rocminfo)):  # fmt: skip
            text = tool()
            found = [g for g in parse(text) if g.gfx] if text else []
            if found:
                gpus, source = found, name
                break
    selection = env.get("HIP_VISIBLE_DEVICES", env.get("ROCR_VISIBLE_DEVICES"))
    return AmdInfo(
        gpus=tuple(_visible(gpus, selection)),
        kfd=kfd.exists(),
        kfd_access=kfd.exists() and os.access(kfd, os.R_OK | os.W_OK),
        kernel_driver=(read_text(root / "sys/module/amdgpu/version") or "").strip() or None,
        rocm_version=(read_text(root / "opt/rocm/.info/version") or "").strip() or None,
        visible_devices=selection,
        gpus_from=source if gpus else "",
    )
