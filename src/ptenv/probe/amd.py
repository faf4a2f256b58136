"""AMD GPUs from the kernel's own files, without ROCm's tools (each source on its own).

1. The KFD topology (/sys/class/kfd/kfd/topology/nodes/N/properties): one node per agent;
   GPUs have `simd_count` > 0 and a `gfx_target_version` (110000 -> gfx1100, 90010 ->
   gfx90a), the name the ROCm wheels' target lists use.
2. The PCI bus (/sys/bus/pci/devices/*/{vendor,class,device,driver}): vendor 0x1002 with a
   display class, bound to amdgpu; this finds a GPU even where KFD is absent (no ROCm-capable
   driver), so it is never silently a CPU machine.
3. /dev/kfd (exists, and this user may open it: the render / video group), the amdgpu module's
   version, /opt/rocm/.info/version.
HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES select GPUs as CUDA_VISIBLE_DEVICES does.
Every path is read under `root` (PTENV_SYSROOT: a recorded machine or a mounted image).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

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


def probe_amd(env: Mapping[str, str], root: Path = Path("/")) -> AmdInfo:
    gpus = _kfd_gpus(root)
    if not gpus:
        gpus = _pci_gpus(root)
    selection = env.get("HIP_VISIBLE_DEVICES", env.get("ROCR_VISIBLE_DEVICES"))
    kfd = root / "dev/kfd"
    return AmdInfo(
        gpus=tuple(_visible(gpus, selection)),
        kfd=kfd.exists(),
        kfd_access=kfd.exists() and os.access(kfd, os.R_OK | os.W_OK),
        kernel_driver=(read_text(root / "sys/module/amdgpu/version") or "").strip() or None,
        rocm_version=(read_text(root / "opt/rocm/.info/version") or "").strip() or None,
        visible_devices=selection,
    )
