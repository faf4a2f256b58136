"""Reading the machine into a frozen Machine value. Never imports torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ptenv.models import Machine, NvidiaInfo
from ptenv.probe import host, nvidia
from ptenv.probe.overrides import TargetOverrides, apply_overrides
from ptenv.releases import ReleaseData

__all__ = ["TargetOverrides", "probe_machine"]


def probe_machine(
    *,
    env: Mapping[str, str],
    venv_target: Path,
    overrides: TargetOverrides,
    data: ReleaseData,
    nvml_loader: Callable[[], nvidia.Nvml | None] = nvidia.load_nvml,
) -> Machine:
    """Probe this host (OS, Python, CPU, memory, disk, NVIDIA) and apply target overrides."""
    if overrides.describes_nvidia:
        nvidia_info = NvidiaInfo()  # the user described the target's driver and GPUs
    else:
        nvidia_info = nvidia.probe_nvidia(nvml_loader(), env)
    machine = Machine(
        os=host.probe_os(env),
        arch=host.probe_arch(),
        python=host.probe_python(),
        cpu=host.probe_cpu(),
        memory=host.probe_memory(),
        storage=host.probe_storage(venv_target),
        toolchain=host.probe_toolchain(env),
        nvidia=nvidia_info,
    )
    return apply_overrides(machine, overrides, data)
