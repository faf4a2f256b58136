"""The values that flow through ptenv's pipeline: frozen, typed, JSON-ready."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from packaging.version import Version

from ptenv import DEFAULT_INDEX_BASE
from ptenv.schema import PlanSummary


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: errors first."""
        return {"error": 0, "warning": 1, "info": 2}[self.value]


_CC_PATTERN = re.compile(r"^(?:sm_|compute_)?(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True, order=True)
class ComputeCapability:
    """An NVIDIA compute capability such as 8.6 (written sm_86 in arch lists)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ComputeCapability:
        """Read `8.6`, `sm_86`, `compute_86` or `86`; raise ValueError otherwise."""
        match = _CC_PATTERN.match(text.strip().lower())
        if not match:
            raise ValueError(f"not a compute capability: {text!r}")
        whole, minor = match.groups()
        if minor is not None:
            return cls(int(whole), int(minor))
        if len(whole) < 2:
            raise ValueError(f"not a compute capability: {text!r}")
        # sm_86 -> 8.6, sm_100 -> 10.0, sm_120 -> 12.0
        return cls(int(whole[:-1]), int(whole[-1]))

    @property
    def sm(self) -> str:
        return f"sm_{self.major}{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True, kw_only=True)
class OsInfo:
    system: str  # linux | windows | macos
    release: str  # kernel release on Linux, product version elsewhere
    distro_id: str | None = None
    distro_version: str | None = None
    libc_name: str | None = None  # glibc | musl
    libc_version: str | None = None
    container: str | None = None  # docker | podman | kubernetes | containerd
    wsl: bool = False


@dataclass(frozen=True, kw_only=True)
class PythonInfo:
    version: str  # "3.12.4"
    implementation: str = "CPython"
    is_64bit: bool = True
    free_threaded: bool = False
    executable: str | None = None
    in_venv: bool = False
    include_dir_has_python_h: bool | None = None

    @property
    def minor_version(self) -> str:
        """'3.12' from '3.12.4'."""
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True, kw_only=True)
class CpuInfo:
    model: str | None
    physical_cores: int | None
    logical_cores: int | None
    flags: tuple[str, ...] = ()  # key ISA flags only: avx2, avx512f, amx, neon, sve
    source: str = "unknown"


@dataclass(frozen=True)
class MemoryInfo:
    total_bytes: int | None
    available_bytes: int | None


@dataclass(frozen=True)
class StorageInfo:
    path: str  # where the venv would go (nearest existing folder)
    free_bytes: int | None
    shm_bytes: int | None  # size of /dev/shm, None where there is none


@dataclass(frozen=True)
class Toolchain:
    c_compiler: str | None
    cxx_compiler: str | None
    ld_library_path_cuda: tuple[str, ...] = ()  # LD_LIBRARY_PATH entries holding CUDA/cuDNN


@dataclass(frozen=True, kw_only=True)
class Gpu:
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    compute_capability: ComputeCapability | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    mig_enabled: bool | None = None
    persistence_mode: bool | None = None
    ecc_enabled: bool | None = None
    ecc_volatile_uncorrected: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    clocks_event_reasons: int | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    visible: bool = True
    lost: bool = False
    source: str = "nvml"  # nvml | nvidia-smi | override


_DRIVER_PATTERN = re.compile(r"^[0-9]{2,4}(?:\.[0-9]{1,3}){0,2}$")  # ASCII digits only


@dataclass(frozen=True, order=True)
class DriverVersion:
    """An NVIDIA driver version as the driver prints it (470.256.02), parsed once.

    Compared as a version; printed as written (Version would print 470.256.2).
    """

    key: Version
    text: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> DriverVersion:
        """Read `550.54.15`, `580.95`, `418`; raise ValueError otherwise."""
        cleaned = text.strip()
        if not _DRIVER_PATTERN.match(cleaned):
            raise ValueError(f"not an NVIDIA driver version: {text!r}")
        return cls(Version(cleaned), cleaned)

    @classmethod
    def read(cls, text: str | None) -> DriverVersion | None:
        """What a driver reported, or None when it reported nothing readable."""
        try:
            return cls.parse(text) if text else None
        except ValueError:
            return None

    @property
    def branch(self) -> int:
        """The driver branch: 550 for 550.54.15."""
        return self.key.major

    def __str__(self) -> str:
        return self.text


class NvidiaProblem(str, Enum):
    """Why NVML could not answer, as decided from its error code."""

    LIBRARY_NOT_FOUND = "library-not-found"
    DRIVER_NOT_LOADED = "driver-not-loaded"
    VERSION_MISMATCH = "version-mismatch"
    NO_PERMISSION = "no-permission"
    GPU_LOST = "gpu-lost"
    OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class NvidiaInfo:
    driver_version: DriverVersion | None = None
    cuda_driver_version: str | None = None  # highest CUDA the driver supports, "12.8"
    nvml_version: str | None = None
    kernel_module_version: str | None = None  # /sys/module/nvidia/version
    sources: dict[str, str] = field(default_factory=dict)  # fact -> where it came from
    problem: NvidiaProblem | None = None
    problem_detail: str | None = None
    gpus: tuple[Gpu, ...] = ()
    pci_devices: int = 0  # NVIDIA display/3D functions seen on the PCI bus
    nouveau_bound: bool = False
    device_nodes: bool = False  # /dev/nvidia0 or /dev/nvidiactl exist
    cuda_visible_devices: str | None = None
    nvidia_visible_devices: str | None = None
    unknown_visible_entries: tuple[str, ...] = ()

    @property
    def visible_gpus(self) -> tuple[Gpu, ...]:
        return tuple(gpu for gpu in self.gpus if gpu.visible)


@dataclass(frozen=True, kw_only=True)
class AmdGpu:
    name: str  # "AMD Radeon RX 7900 XTX" (KFD's name, else the PCI device id)
    gfx: str | None  # "gfx1100": what ROCm wheels are compiled for; None when unreadable
    device_id: str  # PCI device id, "0x744c"
    pci: str | None = None  # bus address, "0000:03:00.0"
    visible: bool = True  # after HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES


@dataclass(frozen=True, kw_only=True)
class AmdInfo:
    """AMD GPUs as the kernel sees them (KFD topology and PCI), without ROCm tools."""

    gpus: tuple[AmdGpu, ...] = ()
    kfd: bool = False  # /dev/kfd exists
    kfd_access: bool = False  # ... and this user may open it (the render / video group)
    kernel_driver: str | None = None  # /sys/module/amdgpu/version
    rocm_version: str | None = None  # /opt/rocm/.info/version
    visible_devices: str | None = None  # HIP_VISIBLE_DEVICES or ROCR_VISIBLE_DEVICES
    gpus_from: str = ""  # kfd | pci | amd-smi | rocminfo: where the GPU list came from

    @property
    def visible_gpus(self) -> tuple[AmdGpu, ...]:
        return tuple(gpu for gpu in self.gpus if gpu.visible)


@dataclass(frozen=True, kw_only=True)
class IntelGpu:
    family: str  # "Arc B-Series (Battlemage)", from the device id; "Intel GPU 0x9a49" if unknown
    device_id: str  # "0xe20b"
    pci: str
    driver: str | None  # xe or i915
    discrete: bool
    xpu: bool  # a family PyTorch's xpu wheels are built for (UNVERIFIED list, see intel.toml)


@dataclass(frozen=True, kw_only=True)
class IntelInfo:
    gpus: tuple[IntelGpu, ...] = ()
    level_zero: bool = False  # the Level Zero loader (libze_loader.so.1) is installed


@dataclass(frozen=True, kw_only=True)
class JetsonInfo:
    """An NVIDIA Jetson / Tegra board (its integrated GPU has no NVML)."""

    model: str  # /proc/device-tree/model: "NVIDIA Jetson AGX Orin Developer Kit"
    soc: str | None  # "tegra234" from /proc/device-tree/compatible
    l4t: str | None  # "36.4.3" from /etc/nv_tegra_release
    jetpack: str | None  # "6" (the JetPack major an L4T release belongs to)
    compute_capability: str | None  # "8.7" for Orin


@dataclass(frozen=True, kw_only=True)
class Machine:
    os: OsInfo
    arch: str  # x86_64 | aarch64
    python: PythonInfo
    cpu: CpuInfo
    memory: MemoryInfo
    storage: StorageInfo
    toolchain: Toolchain
    nvidia: NvidiaInfo
    amd: AmdInfo = field(default_factory=AmdInfo)
    intel: IntelInfo = field(default_factory=IntelInfo)
    jetson: JetsonInfo | None = None
    overridden: tuple[str, ...] = ()  # which facts came from --os/--arch/--python/--driver/--gpu

    @property
    def platform(self) -> str:
        """The release-data platform key: linux-x86_64, linux-aarch64, macos-arm64 ..."""
        return platform_key(self.os.system, self.arch)


def platform_key(system: str, arch: str) -> str:
    """Apple calls aarch64 arm64, and so do the wheel tags: macos-arm64."""
    if system == "macos" and arch == "aarch64":
        return "macos-arm64"
    return f"{system}-{arch}"


@dataclass(frozen=True)
class Finding:
    code: str  # stable, documented in docs/reference/findings.md
    severity: Severity
    message: str
    fix: str


def to_jsonable(value: Any) -> Any:
    """Turn ptenv's values into plain JSON types (dataclasses, enums, tuples, CCs)."""
    if isinstance(value, ComputeCapability | DriverVersion | Pin | Version):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


class VariantKind(str, Enum):
    CPU = "cpu"
    CUDA = "cuda"
    ROCM = "rocm"
    XPU = "xpu"


_VARIANT_PATTERN = re.compile(
    r"^(?:cu(?P<cu>\d{3,4})|(?P<cuda>\d{2}\.\d)|rocm(?P<rocm>\d+(?:\.\d+)+))$"
)


@dataclass(frozen=True)
class Variant:
    """A wheel-index variant: cpu, cu126, rocm6.4, xpu. One value type, parsed once."""

    kind: VariantKind
    version: str | None = None  # "12.6" for cu126, "6.2.4" for rocm6.2.4

    @classmethod
    def parse(cls, text: str) -> Variant:
        """Read `cpu`, `xpu`, `cu126`, `12.6`, `rocm6.4`; raise ValueError otherwise."""
        lowered = text.strip().lower()
        if lowered in ("cpu", "xpu"):
            return cls(VariantKind(lowered))
        match = _VARIANT_PATTERN.match(lowered)
        if not match:
            raise ValueError(f"not a variant: {text!r}")
        if match.group("cu"):
            digits = match.group("cu")
            return cls(VariantKind.CUDA, f"{digits[:-1]}.{digits[-1]}")
        if match.group("cuda"):
            return cls(VariantKind.CUDA, match.group("cuda"))
        return cls(VariantKind.ROCM, match.group("rocm"))

    @property
    def tag(self) -> str:
        """The index folder and local version tag: cu126, rocm6.4, cpu."""
        if self.kind is VariantKind.CUDA:
            assert self.version is not None
            return "cu" + self.version.replace(".", "")
        if self.kind is VariantKind.ROCM:
            return f"rocm{self.version}"
        return str(self.kind.value)

    def __str__(self) -> str:
        return self.tag


@dataclass(frozen=True, kw_only=True)
class TorchInstall:
    """What a venv's torch is, read from its files (never imported)."""

    version: str  # "2.14.1+cu130" as torch/version.py says
    cuda: str | None  # torch.version.cuda, "13.0"
    hip: str | None
    arch_list: tuple[str, ...]  # "sm_86", "compute_120"
    requires: tuple[str, ...]  # Requires-Dist lines of the torch distribution
    location: str | None
    damaged: tuple[str, ...] = ()  # files RECORD lists that are missing or of another size

    @property
    def local_tag(self) -> str | None:
        """'cu130' from '2.14.1+cu130'; None for a build without one."""
        return self.version.partition("+")[2] or None


@dataclass(frozen=True, kw_only=True)
class VenvInfo:
    path: str
    python_executable: str
    python_version: str
    free_threaded: bool
    python_h: bool
    distributions: dict[str, tuple[str, ...]]  # normalised name -> installed versions
    torch: TorchInstall | None


@dataclass(frozen=True)
class Request:
    """What the user asked for: plan, install and their flags become one of these."""

    torch: str = "latest"  # "2.5", "2.5.1", ">=2.3,<2.6"
    cuda: str = "auto"  # auto | cpu | cu126 | 12.6 | rocm6.4 | xpu
    with_packages: tuple[str, ...] = ()  # torchvision, torchaudio
    index_base: str = DEFAULT_INDEX_BASE


@dataclass(frozen=True, order=True)
class Pin:
    """One exact requirement, `torch==2.14.1+cu126`: parsed once, never re-split."""

    name: str
    version: Version  # with its local tag (+cu126) where the wheel has one

    @classmethod
    def parse(cls, text: str) -> Pin:
        """Read `name==version`; raise ValueError otherwise."""
        name, separator, version = text.strip().partition("==")
        if not separator or not name:
            raise ValueError(f"not an exact pin: {text!r}")
        return cls(name, Version(version))

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True, kw_only=True)
class Plan:
    torch: str  # "2.14.1"
    variant: Variant
    index_url: str
    packages: tuple[Pin, ...]  # exact pins, torch first
    python: str  # "3.12" or "3.14t"
    platform: str  # linux-x86_64
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]

    def summary(self) -> PlanSummary:
        """The plan's decision as plain JSON values (plan output and the lock share it)."""
        return {
            "torch": self.torch,
            "variant": self.variant.tag,
            "index_url": self.index_url,
            "packages": [str(pin) for pin in self.packages],
            "python": self.python,
            "platform": self.platform,
        }


@dataclass(frozen=True, kw_only=True)
class StageResult:
    name: str
    ok: bool | None  # None: skipped
    seconds: float
    detail: dict[str, Any]
    message: str = ""
    fix: str = ""


@dataclass(frozen=True, kw_only=True)
class RankResult:
    rank: int
    host: str | None
    ok: bool | None  # None: it never reported (hung, killed, lost)
    stage: str | None  # where it failed, hung or was stopped
    message: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class AllReduceRow:
    """One message size of the all_reduce sweep; bandwidths as nccl-tests define them."""

    bytes: int
    iterations: int
    time_us: float  # the slowest rank's mean per all_reduce
    algbw_gbps: float  # bytes / time
    busbw_gbps: float  # algbw * 2(n-1)/n


@dataclass(frozen=True, kw_only=True)
class FleetReport:
    """A check run as one rank of a torch.distributed launch."""

    world_size: int
    rank: int  # whose view this is: rank 0's holds every rank
    launcher: str | None  # torchrun | slurm | env
    backend: str | None  # gloo | nccl
    ranks: tuple[RankResult, ...]
    allreduce: tuple[AllReduceRow, ...]
    differences: dict[str, dict[str, list[int]]]  # fingerprint field -> value -> ranks
    first_failed: int | None = None  # the rank whose failure the others learned of first

    @property
    def culprit(self) -> RankResult | None:
        """The rank to look at first: the first to fail, else any that did not pass."""
        failed = [r for r in self.ranks if r.ok is not True]
        first = next((r for r in failed if r.rank == self.first_failed), None)
        return first or next((r for r in failed if r.ok is False), None) or next(iter(failed), None)


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    ok: bool
    device: str | None
    venv: str
    stages: tuple[StageResult, ...]
    figures: dict[str, Any]
    cache_dir: str | None
    cache_warm: bool | None
    seconds: float
    fleet: FleetReport | None = None

    @property
    def failed_stage(self) -> StageResult | None:
        return next((s for s in self.stages if s.ok is False), None)


@dataclass(frozen=True)
class Transfer:
    """An installer step as it runs: how much it has written, and in all, where known."""

    what: str  # "uv install"
    written: int  # bytes its processes wrote so far (downloads, unpacked files)
    expected: int | None  # what it will write in all (the wheels' unpacked sizes), if known
    seconds: float
    done: bool = False
