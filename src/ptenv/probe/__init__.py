"""Reading the machine into a frozen Machine value. Never imports torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ptenv.models import AmdInfo, IntelInfo, Machine, NvidiaInfo
from ptenv.probe import amd, host, intel, jetson, nvidia
from ptenv.probe._files import read_text
from ptenv.probe.overrides import TargetOverrides, apply_overrides

if TYPE_CHECKING:
    from ptenv.releases import ReleaseData

__all__ = ["TargetOverrides", "probe_machine"]


def probe_machine(
    *,
    env: Mapping[str, str],
    venv_target: Path,
    overrides: TargetOverrides,
    data: ReleaseData | None = None,
    nvml_loader: Callable[[], nvidia.Nvml | None] = nvidia.load_nvml,
) -> Machine:
    """Probe this host (OS, Python, CPU, memory, disk, NVIDIA, AMD) and apply target overrides.

    PTENV_SYSROOT=DIR reads the GPUs' /sys, /proc and /dev facts under DIR instead (a recorded
    machine, a mounted image); NVML and nvidia-smi are then not asked. `data` (the release
    data, loaded when a --driver override needs it and none is given) maps a driver to CUDA."""
    sysroot = Path(env["PTENV_SYSROOT"]) if env.get("PTENV_SYSROOT") else None
    amd_info, intel_info, jetson_info = AmdInfo(), IntelInfo(), None
    if overrides.describes_nvidia:
        nvidia_info = NvidiaInfo()  # the user described the target's driver and GPUs
    elif sysroot is not None:
        nvidia_info = _nvidia_under(sysroot, env)
        amd_info = amd.probe_amd(env, sysroot, amd_smi=lambda: None, rocminfo=lambda: None)
        intel_info = intel.probe_intel(sysroot)
        jetson_info = jetson.probe_jetson(sysroot)
    else:
        nvidia_info = nvidia.probe_nvidia(nvml_loader(), env)
        amd_info = amd.probe_amd(env)
        intel_info = intel.probe_intel()
        jetson_info = jetson.probe_jetson()
    machine = Machine(
        os=host.probe_os(env),
        arch=host.probe_arch(),
        python=host.probe_python(),
        cpu=host.probe_cpu(),
        memory=host.probe_memory(),
        storage=host.probe_storage(venv_target),
        toolchain=host.probe_toolchain(env),
        nvidia=nvidia_info,
        amd=amd_info,
        intel=intel_info,
        jetson=jetson_info,
    )
    return apply_overrides(machine, overrides, data)


def _nvidia_under(root: Path, env: Mapping[str, str]) -> NvidiaInfo:
    """PTENV_SYSROOT: the NVIDIA facts a recorded machine's files give (NVML and nvidia-smi
    belong to this host, so they are not asked)."""

    def under(path: str) -> str | None:
        return read_text(root / path.lstrip("/"))

    return nvidia.probe_nvidia(
        None,
        env,
        read=under,
        nvidia_smi=lambda: None,
        pci_functions=lambda: nvidia.count_nvidia_pci_functions(root / "sys/bus/pci/devices"),
        nouveau=lambda: nvidia.nouveau_bound(root / "sys/bus/pci/drivers/nouveau"),
        device_nodes=(root / "dev/nvidiactl").exists,
        proc_gpus=lambda: nvidia.read_proc_gpus(root / "proc/driver/nvidia/gpus"),
    )
