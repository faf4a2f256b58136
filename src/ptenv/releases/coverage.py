"""Does a wheel's compiled code run on a GPU? NVIDIA's binary-compatibility rule.

SASS sm_XY runs on X.Z for Z >= Y (same major). PTX compute_XY runs on any capability >= X.Y
through the driver's JIT. Integrated (Tegra) GPUs are the exception: torch's own rule
(DEVICE_REQUIREMENT in torch/cuda/__init__.py, 2.14) runs them only on code built for exactly
them, except that CUDA >= 13.2 lets SBSA code for 7.0/8.0/8.6 run on 7.2/8.7.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.version import Version

from ptenv.models import ComputeCapability

_TEGRA = {
    ComputeCapability(5, 3),
    ComputeCapability(6, 2),
    ComputeCapability(7, 2),
    ComputeCapability(8, 7),
}
_SBSA_ON_TEGRA_FROM = Version("13.2")
# 10.1 was renamed 11.0 (Jetson Thor): code for either runs on both.
_RENAMED = {ComputeCapability(10, 1): ComputeCapability(11, 0)}


def sass_runs_on(
    code: ComputeCapability, device: ComputeCapability, cuda: Version | None = None
) -> bool:
    """True when cubin built for `code` runs on a `device` GPU."""
    code = _RENAMED.get(code, code)
    device = _RENAMED.get(device, device)
    if code == device:
        return True
    if code.major != device.major or code.minor > device.minor:
        return False
    if code in _TEGRA:
        return False
    if device in _TEGRA:
        return cuda is not None and cuda >= _SBSA_ON_TEGRA_FROM and device.major in (7, 8)
    return True


def ptx_runs_on(code: ComputeCapability, device: ComputeCapability) -> bool:
    """True when PTX for `code` can be JIT-compiled for `device` (needs a new enough driver)."""
    return device >= code


def coverage(
    device: ComputeCapability,
    sass: Iterable[ComputeCapability],
    ptx: Iterable[ComputeCapability],
    cuda: Version | None = None,
) -> str | None:
    """'sass' when a cubin runs natively, 'ptx' when only JIT would serve, None when nothing."""
    if any(sass_runs_on(code, device, cuda) for code in sass):
        return "sass"
    if any(ptx_runs_on(code, device) for code in ptx):
        return "ptx"
    return None


def split_arch_list(
    entries: Iterable[str],
) -> tuple[list[ComputeCapability], list[ComputeCapability]]:
    """['sm_86', 'compute_120'] (torch's get_arch_list form) -> (sass, ptx)."""
    sass: list[ComputeCapability] = []
    ptx: list[ComputeCapability] = []
    for entry in entries:
        try:
            capability = ComputeCapability.parse(entry)
        except ValueError:
            continue
        (ptx if entry.startswith("compute_") else sass).append(capability)
    return sass, ptx
