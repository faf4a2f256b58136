"""Target overrides: plan for another machine (--os, --arch, --python, --driver, --gpu).

A build host with no GPU can describe the machine an image will run on. Each override
replaces the probed fact and is named in Machine.overridden, so JSON output says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ptenv.errors import UsageError
from ptenv.models import (
    AmdGpu,
    AmdInfo,
    ComputeCapability,
    DriverVersion,
    Gpu,
    IntelGpu,
    IntelInfo,
    Machine,
    NvidiaInfo,
    OsInfo,
    PythonInfo,
)
from ptenv.probe import intel
from ptenv.probe.host import normalize_arch, normalize_os

if TYPE_CHECKING:  # the release data (40 ms to import) is loaded only where a flag needs it
    from ptenv.releases import ReleaseData

_PYTHON_PATTERN = re.compile(r"^(?:cp)?3\.?(\d{1,2})(t?)$")


@dataclass(frozen=True, kw_only=True)
class TargetOverrides:
    """Raw override values as the user typed them (flags or PTENV_* variables)."""

    os: str | None = None
    arch: str | None = None
    python: str | None = None
    driver: str | None = None
    gpu: str | None = None

    @property
    def describes_nvidia(self) -> bool:
        """True when NVML need not be asked: the user told us driver and GPUs."""
        return self.gpu is not None and (self.driver is not None or _is_none(self.gpu))


def _is_none(text: str) -> bool:
    return text.strip().lower() in ("none", "no", "0", "")


def parse_python(text: str) -> PythonInfo:
    """'3.12', '3.13t', 'cp312', '312' -> a PythonInfo for that target."""
    match = _PYTHON_PATTERN.match(text.strip().lower())
    if not match:
        raise UsageError(
            f"--python {text!r} is not a Python version.",
            hint="Give a minor version such as 3.12, or 3.14t for a free-threaded build.",
        )
    minor, threaded = match.groups()
    return PythonInfo(version=f"3.{int(minor)}", free_threaded=bool(threaded))


def parse_driver(text: str) -> DriverVersion:
    try:
        return DriverVersion.parse(text)
    except ValueError:
        raise UsageError(
            f"--driver {text!r} is not an NVIDIA driver version.",
            hint="Give it as nvidia-smi prints it, e.g. 550.54.15 or 580.95.05.",
        ) from None


_GFX = re.compile(r"gfx[0-9a-f]{3,4}")


def split_intel(text: str) -> tuple[tuple[IntelGpu, ...], str]:
    """'arc-b580,8.6' -> (the Arc B580 as a target, '8.6'); 'none' for the rest when only
    Intel names were given."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    named = [(p, intel.family_named(p)) for p in parts]
    found = tuple(intel.target_gpu(family) for _, family in named if family is not None)
    if not found:
        return (), text
    rest = [p for p, family in named if family is None]
    return found, ",".join(rest) if rest else "none"


def split_gfx(text: str) -> tuple[tuple[str, ...], str]:
    """'gfx942,8.6' -> (('gfx942',), '8.6'): AMD gfx targets, and the NVIDIA part ('none' when
    only gfx targets were given, so that no NVIDIA GPU is assumed)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    gfx = tuple(p.lower() for p in parts if _GFX.fullmatch(p.lower()))
    if not gfx:
        return (), text
    bad = [p for p in parts if p.lower().startswith("gfx") and p.lower() not in gfx]
    if bad:
        raise UsageError(
            f"--gpu {bad[0]!r} is not an AMD gfx target.",
            hint="Write it as ROCm names it, e.g. gfx942 (MI300X), gfx90a (MI210/MI250), "
            "gfx1100 (RX 7900 XTX); `rocminfo | grep gfx` prints the card's.",
        )
    rest = [p for p in parts if p.lower() not in gfx]
    return gfx, ",".join(rest) if rest else "none"


def parse_gpus(text: str) -> tuple[ComputeCapability, ...]:
    """'8.6', 'sm_86', 'rtx4090', '8.6,a100' -> compute capabilities; 'none' -> ()."""
    if _is_none(text):
        return ()
    return tuple(_parse_gpu(part.strip()) for part in text.split(","))


def _parse_gpu(part: str) -> ComputeCapability:
    from ptenv.releases import gpus  # noqa: PLC0415 - only a --gpu needs the names

    named = gpus.by_name(part)
    if named is not None:
        return named
    try:
        capability = ComputeCapability.parse(part)
    except ValueError:
        raise UsageError(
            f"--gpu {part!r} is neither a compute capability nor a GPU ptenv knows by name.",
            hint="Use 8.6 or sm_86, a name such as rtx4090, a100, h100, t4 (several: "
            "8.6,a100), or 'none' for a machine with no GPU.",
        ) from None
    if capability not in gpus.KNOWN_CAPABILITIES:
        known = ", ".join(str(cc) for cc in sorted(gpus.KNOWN_CAPABILITIES))
        raise UsageError(
            f"--gpu {part!r}: no NVIDIA GPU has compute capability {capability}.",
            hint=f"Known: {known}. `nvidia-smi --query-gpu=compute_cap --format=csv` "
            "prints the card's.",
        )
    return capability


def apply_overrides(
    machine: Machine, overrides: TargetOverrides, data: ReleaseData | None = None
) -> Machine:
    """The probed machine with each given override in place, and named in `overridden`."""
    overridden = list(machine.overridden)
    os_info, arch, python, nvidia = machine.os, machine.arch, machine.python, machine.nvidia
    if overrides.os is not None:
        system = normalize_os(overrides.os)
        if system is None:
            raise UsageError(
                f"--os {overrides.os!r} is not an operating system ptenv knows.",
                hint="Use linux, windows or macos (aliases: win32, darwin).",
            )
        if system != machine.os.system:
            os_info = OsInfo(
                system=system, release="", libc_name="glibc" if system == "linux" else None
            )
        overridden.append("os")
    if overrides.arch is not None:
        normalized = normalize_arch(overrides.arch)
        if normalized is None:
            raise UsageError(
                f"--arch {overrides.arch!r} is not an architecture ptenv knows.",
                hint="Use x86_64 or aarch64 (aliases: amd64, arm64).",
            )
        arch = normalized
        overridden.append("arch")
    if overrides.python is not None:
        python = parse_python(overrides.python)
        overridden.append("python")
    if overrides.driver is not None:
        nvidia = _with_driver(nvidia, parse_driver(overrides.driver), data)
        overridden.append("driver")
    amd, intel = machine.amd, machine.intel
    if overrides.gpu is not None:
        nvidia, amd, intel = _with_gpus(nvidia, amd, intel, overrides.gpu)
        overridden.append("gpu")
    return replace(
        machine,
        os=os_info,
        arch=arch,
        python=python,
        nvidia=nvidia,
        amd=amd,
        intel=intel,
        overridden=tuple(overridden),
    )


def _with_driver(nvidia: NvidiaInfo, driver: DriverVersion, data: ReleaseData | None) -> NvidiaInfo:
    """The described driver, with the CUDA version its branch supports."""
    if data is None:
        from ptenv import releases  # noqa: PLC0415 - 40 ms that only a --driver needs

        data = releases.load()
    cuda = data.cuda_for_driver(driver)
    return replace(
        nvidia,
        driver_version=driver,
        cuda_driver_version=str(cuda) if cuda is not None else None,
        sources={
            **nvidia.sources,
            "driver_version": "override",
            "cuda_driver_version": "override (driver branch table)",
        },
        problem=None,
        problem_detail=None,
    )


def _with_gpus(
    nvidia: NvidiaInfo, amd: AmdInfo, intel: IntelInfo, text: str
) -> tuple[NvidiaInfo, AmdInfo, IntelInfo]:
    """The described GPUs: gfx targets are AMD ones, Intel product names (arc-b580) Intel
    ones, the rest NVIDIA compute capabilities."""
    intel_targets, text = split_intel(text)
    if intel_targets:
        intel = IntelInfo(gpus=intel_targets, level_zero=True)
    gfx_targets, nvidia_part = split_gfx(text)
    if gfx_targets:  # the target's AMD GPUs, as their KFD nodes would describe them
        amd = AmdInfo(
            gpus=tuple(
                AmdGpu(name=f"target {g}", gfx=g, device_id="override") for g in gfx_targets
            ),
            kfd=True,
            kfd_access=True,
        )
    gpus = tuple(
        Gpu(index=i, name=f"target {cc.sm}", compute_capability=cc, source="override")
        for i, cc in enumerate(parse_gpus(nvidia_part))
    )
    if not gpus:
        return NvidiaInfo(sources={"gpus": "override"}), amd, intel
    described = replace(
        nvidia,
        gpus=gpus,
        sources={**nvidia.sources, "gpus": "override"},
        cuda_visible_devices=None,
        unknown_visible_entries=(),
    )
    return described, amd, intel
