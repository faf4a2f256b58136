"""Rules: facts in, findings out. Pure; each finding code is defined once in CATALOG."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from ptenv.models import (
    Finding,
    Gpu,
    Machine,
    NvidiaInfo,
    NvidiaProblem,
    Severity,
    TorchInstall,
    VenvInfo,
)
from ptenv.releases import ReleaseData
from ptenv.releases.coverage import coverage, split_arch_list

CUDA_TORCH_DISK_BYTES = 6 * 10**9  # a CUDA torch needs about 6 GB in the venv plus cache
SMALL_SHM_BYTES = 1 << 30
# NVML clocks-event reasons that mean the GPU is held back by hardware or heat.
_THROTTLE_BITS = {
    0x8: "HW slowdown",
    0x20: "SW thermal",
    0x40: "HW thermal",
    0x80: "HW power brake",
}


@dataclass(frozen=True)
class Rule:
    severity: Severity
    title: str
    fix: str


CATALOG: dict[str, Rule] = {
    "amd-kfd-no-access": Rule(
        Severity.ERROR,
        "AMD GPU present, but this user cannot open /dev/kfd",
        "Add yourself to the render and video groups (`sudo usermod -aG render,video $USER`), "
        "then log in again; in a container, pass --device /dev/kfd --device /dev/dri.",
    ),
    "amd-gpu-without-kfd": Rule(
        Severity.ERROR,
        "AMD GPU present, but no ROCm kernel interface (KFD)",
        "Load the amdgpu driver with KFD (a recent kernel or AMD's amdgpu-dkms); until then "
        "only the CPU build runs (--cuda cpu).",
    ),
    "cuda-torch-on-amd": Rule(
        Severity.ERROR,
        "A CUDA torch on a machine whose GPUs are AMD",
        "A CUDA build cannot use an AMD GPU: `ptenv install --cuda auto` plans the ROCm build "
        "compiled for the card (or says why none is).",
    ),
    "cpu-torch-on-accelerator": Rule(
        Severity.WARNING,
        "A CPU torch on a machine with a GPU PyTorch has a build for",
        "`ptenv install --cuda auto` plans that GPU's build (ROCm for AMD, xpu for Intel).",
    ),
    "rocm-torch-gfx-missing": Rule(
        Severity.ERROR,
        "The ROCm torch is not compiled for this AMD GPU",
        "`ptenv plan` names a ROCm build that is; HSA_OVERRIDE_GFX_VERSION runs a near "
        "target's code on it, unsupported and at your own risk.",
    ),
    "intel-gpu-without-runtime": Rule(
        Severity.WARNING,
        "Intel GPU present, but Intel's Level Zero runtime is not installed",
        "Install the GPU runtime (Ubuntu: libze1 and intel-opencl-icd; see Intel's client GPU "
        "driver guide), or torch.xpu.is_available() stays False.",
    ),
    "jetson-server-wheel": Rule(
        Severity.ERROR,
        "A server (SBSA) CUDA torch on a Jetson",
        "Jetson boards need NVIDIA's Jetson wheels for their JetPack (`ptenv plan` names the "
        "way); the aarch64 server wheels do not load on Orin and older boards.",
    ),
    "torch-damaged": Rule(
        Severity.ERROR,
        "torch's files do not match its RECORD",
        "Reinstall it: `ptenv install --venv VENV` repairs a damaged install of the planned "
        "build (`--reinstall` forces it).",
    ),
    "nvidia-libraries-without-gpu": Rule(
        Severity.INFO,
        "NVIDIA libraries installed, but no NVIDIA GPU here",
        "Nothing to do: ptenv plans the CPU build. On a GPU machine or in a GPU container, "
        "check that the GPU is passed through (PCI, --gpus all).",
    ),
    "target-driver-unknown": Rule(
        Severity.WARNING,
        "Target GPUs given without a driver",
        "Add --driver (as nvidia-smi prints it on the target, e.g. 580.95.05) so the plan "
        "checks the driver; without it each CUDA build's minimum driver is assumed.",
    ),
    "no-nvidia-driver": Rule(
        Severity.INFO,
        "No NVIDIA driver or GPU",
        "Nothing to do on a CPU-only machine: ptenv plans the CPU build. On a GPU machine, "
        "install the NVIDIA driver.",
    ),
    "gpu-without-driver": Rule(
        Severity.ERROR,
        "NVIDIA GPU present but no driver loaded",
        "Install the NVIDIA driver (e.g. `sudo ubuntu-drivers install`), then reboot.",
    ),
    "nvml-library-missing": Rule(
        Severity.WARNING,
        "Driver present but NVML library not found",
        "Install the driver's user-space libraries; in a container set "
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility.",
    ),
    "driver-library-mismatch": Rule(
        Severity.ERROR,
        "Driver/library version mismatch (driver upgraded without reboot)",
        "Reboot, or unload and reload the nvidia kernel modules.",
    ),
    "driver-not-loaded": Rule(
        Severity.ERROR,
        "NVIDIA kernel module not loaded",
        "Run `sudo modprobe nvidia` and read `dmesg`; with Secure Boot, enrol the module's "
        "signing key (mokutil) or sign the DKMS module.",
    ),
    "nvml-no-permission": Rule(
        Severity.ERROR,
        "No permission to query the GPUs",
        "Check the permissions of /dev/nvidia* and that your user may use them (video group).",
    ),
    "gpu-lost": Rule(
        Severity.ERROR,
        "A GPU has fallen off the bus",
        "Reset the GPU (`nvidia-smi -r`) or reboot; look for Xid 79 in `dmesg`, and run "
        "`sudo timeout 300 nvidia-bug-report.sh --safe-mode` for the vendor.",
    ),
    "nvml-error": Rule(
        Severity.WARNING,
        "NVML failed",
        "Run `nvidia-smi` to see whether the driver answers at all.",
    ),
    "nouveau-bound": Rule(
        Severity.ERROR,
        "The nouveau driver holds the GPU",
        "Blacklist nouveau, rebuild the initramfs, reboot, and install the NVIDIA driver.",
    ),
    "container-without-gpu": Rule(
        Severity.ERROR,
        "Container has no GPU devices",
        "Start it with the NVIDIA runtime: `docker run --gpus all`, or request "
        "nvidia.com/gpu in Kubernetes.",
    ),
    "cuda-visible-devices-hides-all": Rule(
        Severity.ERROR,
        "CUDA_VISIBLE_DEVICES hides every GPU",
        "Unset CUDA_VISIBLE_DEVICES or list the GPUs to use (e.g. 0,1).",
    ),
    "cuda-visible-devices-unknown": Rule(
        Severity.ERROR,
        "CUDA_VISIBLE_DEVICES names a GPU that does not exist",
        "Use indices below the GPU count or UUIDs from `nvidia-smi -L`; CUDA ignores that entry "
        "and every one after it.",
    ),
    "shm-small": Rule(
        Severity.WARNING,
        "/dev/shm is small inside a container",
        "Start the container with `--shm-size=8g` or `--ipc=host` (DataLoader workers need it).",
    ),
    "persistence-mode-off": Rule(
        Severity.WARNING,
        "Persistence mode is off",
        "Run `sudo nvidia-smi -pm 1` or enable nvidia-persistenced; without it every CUDA start "
        "re-initialises the GPU (seconds).",
    ),
    "gpu-remapped-rows-pending": Rule(
        Severity.ERROR,
        "Row remapping pending",
        "Reset the GPU or reboot so the remap takes effect.",
    ),
    "gpu-remap-failure": Rule(
        Severity.ERROR,
        "Row remapping failed",
        "The memory cannot be repaired: drain the node and RMA the GPU.",
    ),
    "gpu-retired-pages-pending": Rule(
        Severity.ERROR,
        "Page retirement pending",
        "Reset the GPU or reboot so the retirement takes effect.",
    ),
    "gpu-ecc-uncorrected": Rule(
        Severity.ERROR,
        "Uncorrectable ECC errors since the driver loaded",
        "Drain the GPU and reset it; if they recur, RMA it.",
    ),
    "gpu-throttled": Rule(
        Severity.WARNING,
        "GPU clocks held back by heat or power",
        "Check cooling, airflow and power cabling; `nvidia-smi -q -d PERFORMANCE` shows why.",
    ),
    "pcie-link-degraded": Rule(
        Severity.WARNING,
        "PCIe link narrower than its maximum",
        "Reseat the card or move it to a full-width slot; check risers.",
    ),
    "mig-enabled": Rule(
        Severity.INFO,
        "MIG mode is on",
        "CUDA sees MIG instances, not the whole GPU: address them by their MIG UUID.",
    ),
    "ld-library-path-cuda": Rule(
        Severity.WARNING,
        "LD_LIBRARY_PATH holds a CUDA or cuDNN folder",
        "Remove it from LD_LIBRARY_PATH: torch brings its own CUDA libraries and a foreign "
        "one can be loaded first.",
    ),
    "no-c-compiler": Rule(
        Severity.WARNING,
        "No C compiler (torch.compile needs one)",
        "Install gcc (`sudo apt install build-essential`) or set CC.",
    ),
    "no-cxx-compiler": Rule(
        Severity.WARNING,
        "No C++ compiler (torch.compile needs one)",
        "Install g++ (`sudo apt install build-essential`) or set CXX.",
    ),
    "no-python-headers": Rule(
        Severity.WARNING,
        "Python.h missing (torch.compile needs it)",
        "Install the Python headers (`sudo apt install python3-dev`).",
    ),
    "low-disk": Rule(
        Severity.WARNING,
        "Too little free disk for a CUDA torch",
        "Free space or put the venv elsewhere (--venv): a CUDA build needs about 6 GB.",
    ),
    "python-32bit": Rule(
        Severity.ERROR,
        "32-bit Python",
        "Install a 64-bit Python: PyTorch publishes no 32-bit wheels.",
    ),
    "python-too-old": Rule(
        Severity.ERROR,
        "No PyTorch 2.x supports this Python",
        "Install a newer Python (uv python install 3.12).",
    ),
    "python-too-new": Rule(
        Severity.ERROR,
        "No PyTorch 2.x release supports this Python yet",
        "Use an older Python for the venv (ptenv install --python 3.12).",
    ),
    "gpu-too-old-for-triton": Rule(
        Severity.WARNING,
        "GPU older than compute capability 7.0: no Triton, so no torch.compile on it",
        "Eager mode works; torch.compile on this GPU falls back or fails.",
    ),
    "ptenv-own-venv": Rule(
        Severity.INFO,
        "The venv looked at is ptenv's own environment",
        "Make a venv for your project and look at that one: `ptenv install --venv .venv`, "
        "then `ptenv doctor --venv .venv` (or deactivate ptenv's venv first).",
    ),
    "venv-no-torch": Rule(
        Severity.INFO,
        "The venv has no torch",
        "Run `ptenv install` to install the build that fits.",
    ),
    "torch-cpu-on-gpu-host": Rule(
        Severity.ERROR,
        "CPU-only torch on a machine with an NVIDIA GPU",
        "Reinstall with the CUDA build: `ptenv install --cuda auto`.",
    ),
    "torch-driver-too-old": Rule(
        Severity.ERROR,
        "The driver is too old for this torch's CUDA",
        "Upgrade the NVIDIA driver, or install a build for an older CUDA (ptenv plan).",
    ),
    "torch-driver-older-than-ptx": Rule(
        Severity.WARNING,
        "The driver's CUDA is older than torch's: minor-version compatibility only",
        "It loads, but PTX cannot be JIT-compiled; upgrade the driver to be safe.",
    ),
    "torch-gpu-arch-missing": Rule(
        Severity.ERROR,
        "torch has no kernels for this GPU",
        "Install a build that covers the GPU's architecture: `ptenv plan` picks one.",
    ),
    "nvidia-packages-mismatch": Rule(
        Severity.ERROR,
        "nvidia-* packages do not match torch's pins",
        "Reinstall torch so its CUDA libraries come with it: `ptenv install`.",
    ),
    "nvidia-duplicate-cuda-majors": Rule(
        Severity.WARNING,
        "Two CUDA majors of one NVIDIA library are installed",
        "Remove the one torch does not pin; they can shadow each other at load time.",
    ),
    "cuda-libraries-outside-venv": Rule(
        Severity.WARNING,
        "torch loaded CUDA libraries from outside its venv",
        "Remove the folder from LD_LIBRARY_PATH (or ldconfig) so torch loads its own copies.",
    ),
    "lock-drift": Rule(
        Severity.WARNING,
        "The machine changed since the venv's lock was made",
        "Run `ptenv plan` to see whether another build fits now, then `ptenv install`.",
    ),
    "deprecated-pynvml": Rule(
        Severity.INFO,
        "The deprecated pynvml package is installed",
        "Replace it with nvidia-ml-py: `pip uninstall pynvml && pip install nvidia-ml-py`.",
    ),
}


def finding(code: str, message: str) -> Finding:
    rule = CATALOG[code]
    return Finding(code=code, severity=rule.severity, message=message, fix=rule.fix)


def diagnose(
    machine: Machine,
    venv: VenvInfo | None,
    data: ReleaseData,
    lock_changes: Sequence[str] = (),
    own_venv: bool = False,  # the venv is ptenv's own environment
) -> list[Finding]:
    """Every finding for this machine (and venv, and its lock's drift), errors first."""
    found = [
        *_driver(machine),
        *_gpus(machine),
        *_amd(machine),
        *_intel(machine),
        *_host(machine, data),
    ]
    if venv is not None and own_venv and venv.torch is None:
        found.append(
            finding(
                "ptenv-own-venv",
                f"{venv.path} is ptenv's own environment (active now); torch never goes there.",
            )
        )
    elif venv is not None:
        found.extend(_venv(machine, venv, data))
    if lock_changes:
        found.append(
            finding(
                "lock-drift", "Since the venv's lock was written: " + "; ".join(lock_changes) + "."
            )
        )
    return sorted(found, key=lambda f: f.severity.rank)


def _amd(machine: Machine) -> Iterator[Finding]:
    amd = machine.amd
    if not amd.visible_gpus:
        return
    names = ", ".join(g.name for g in amd.visible_gpus)
    if not amd.kfd or any(g.gfx is None for g in amd.visible_gpus):
        yield finding("amd-gpu-without-kfd", f"{names}: the kernel shows no KFD node for it.")
    elif not amd.kfd_access:
        yield finding("amd-kfd-no-access", f"{names}: /dev/kfd exists but cannot be opened.")


def _intel(machine: Machine) -> Iterator[Finding]:
    xpu = [g for g in machine.intel.gpus if g.xpu]
    if xpu and machine.os.system == "linux" and not machine.intel.level_zero:
        names = ", ".join(f"{g.family} ({g.device_id})" for g in xpu)
        yield finding("intel-gpu-without-runtime", f"{names}: libze_loader.so.1 was not found.")


def _accelerators(machine: Machine, torch: TorchInstall) -> Iterator[Finding]:
    """The venv's torch against the machine's non-NVIDIA GPUs (NVIDIA's are checked apart)."""
    if machine.nvidia.visible_gpus:
        return
    amd = machine.amd.visible_gpus
    jetson = machine.jetson
    # NVIDIA's Jetson wheels say so in their version (2.5.0a0+872d972e41.nv24.08); Thor
    # (sm_110) runs the SBSA cu13x wheels by torch's own rule
    jetson_wheel = ".nv" in torch.version or "+nv" in torch.version
    if jetson is not None and torch.cuda is not None and not jetson_wheel:
        if jetson.compute_capability == "11.0":
            return
        yield finding(
            "jetson-server-wheel",
            f"torch {torch.version} (CUDA {torch.cuda}) in this venv is a server build; this is "
            f"{jetson.model}.",
        )
    elif amd and torch.cuda is not None:
        names = ", ".join(g.name for g in amd)
        yield finding(
            "cuda-torch-on-amd", f"torch {torch.version} is a CUDA build; the GPUs are {names}."
        )
    elif amd and torch.hip is not None:
        targets = set(torch.arch_list)
        for gpu in amd:
            if targets and gpu.gfx is not None and gpu.gfx not in targets:
                yield finding(
                    "rocm-torch-gfx-missing",
                    f"{gpu.name} ({gpu.gfx}) is not among torch {torch.version}'s targets "
                    f"({' '.join(sorted(targets))}).",
                )
    elif torch.hip is None and torch.cuda is None:
        others = [g.name for g in amd] + [g.family for g in machine.intel.gpus if g.xpu]
        if others and "xpu" not in torch.version:
            yield finding(
                "cpu-torch-on-accelerator",
                f"torch {torch.version} is a CPU build, but {', '.join(others)} is here.",
            )


def _driver(machine: Machine) -> Iterator[Finding]:
    nvidia = machine.nvidia
    if "gpu" in machine.overridden or "driver" in machine.overridden:
        # A described target: the host's driver state is not the question, the target's is.
        if nvidia.visible_gpus and nvidia.driver_version is None:
            yield finding(
                "target-driver-unknown",
                f"--gpu describes {len(nvidia.visible_gpus)} GPU(s) but no driver is known "
                "(none on this machine, and no --driver).",
            )
        return
    if nvidia.nouveau_bound:
        yield finding(
            "nouveau-bound",
            "The open-source nouveau driver is bound to an NVIDIA "
            "GPU, so the NVIDIA driver cannot use it.",
        )
    if nvidia.problem is NvidiaProblem.LIBRARY_NOT_FOUND:
        yield _without_nvml(machine)
    elif nvidia.problem is NvidiaProblem.DRIVER_NOT_LOADED and not _nvidia_hardware(nvidia):
        yield _libraries_without_gpu(machine)
    elif nvidia.problem is not None:
        yield _nvml_problem(nvidia, nvidia.problem)
    elif not nvidia.gpus and _container_asks_for_gpus(machine):
        yield finding(
            "container-without-gpu",
            "NVML answers but sees no GPU in this "
            f"{machine.os.container} container, though NVIDIA_VISIBLE_DEVICES asks "
            "for some.",
        )
    yield from _visible_devices(nvidia)


def _nvidia_hardware(nvidia: NvidiaInfo) -> bool:
    """An NVIDIA GPU on the PCI bus, or device nodes that existed before NVML was asked."""
    return nvidia.pci_devices > 0 or nvidia.device_nodes


def _libraries_without_gpu(machine: Machine) -> Finding:
    """NVML's "Driver Not Loaded" where there is nothing for a driver to drive."""
    if _container_asks_for_gpus(machine):
        return finding(
            "container-without-gpu",
            "NVIDIA_VISIBLE_DEVICES asks for GPUs, but this "
            f"{machine.os.container} container has no NVIDIA GPU or devices.",
        )
    return finding(
        "nvidia-libraries-without-gpu",
        "NVIDIA's libraries are installed, but this machine has no NVIDIA GPU "
        "(NVML: Driver Not Loaded; no NVIDIA PCI device, no device nodes).",
    )


def _container_asks_for_gpus(machine: Machine) -> bool:
    requested = machine.nvidia.nvidia_visible_devices
    return bool(machine.os.container) and requested not in (None, "", "none", "void")


def _without_nvml(machine: Machine) -> Finding:
    """NVML's library is missing: a driver without it, GPUs without a driver, or no GPU."""
    nvidia = machine.nvidia
    detail = f" ({nvidia.problem_detail})" if nvidia.problem_detail else ""
    if nvidia.driver_version is not None:
        return finding(
            "nvml-library-missing",
            f"NVIDIA driver {nvidia.driver_version} is loaded "
            f"(from {nvidia.sources.get('driver_version')}), but NVML could not "
            f"be loaded{detail}.",
        )
    if nvidia.pci_devices:
        return finding(
            "gpu-without-driver",
            f"{nvidia.pci_devices} NVIDIA GPU(s) on the PCI bus, but no NVIDIA "
            "driver is installed.",
        )
    if _container_asks_for_gpus(machine):
        return finding(
            "container-without-gpu",
            "NVIDIA_VISIBLE_DEVICES asks for GPUs, but this "
            f"{machine.os.container} container has no NVIDIA driver or devices.",
        )
    if machine.amd.visible_gpus:
        return finding(
            "no-nvidia-driver",
            "No NVIDIA driver or GPU; the AMD GPU(s) above are planned onto ROCm builds.",
        )
    return finding(
        "no-nvidia-driver",
        "No NVIDIA driver is installed and no NVIDIA GPU "
        "was found: this machine runs the CPU build.",
    )


def _nvml_problem(nvidia: NvidiaInfo, problem: NvidiaProblem) -> Finding:
    """NVML's library loaded but it could not answer: the error code says why."""
    detail = f" ({nvidia.problem_detail})" if nvidia.problem_detail else ""
    if problem is NvidiaProblem.DRIVER_NOT_LOADED:
        return finding(
            "driver-not-loaded",
            f"The NVIDIA driver is installed but its kernel module is not loaded{detail}.",
        )
    if problem is NvidiaProblem.VERSION_MISMATCH:
        module = nvidia.kernel_module_version or "unknown"
        return finding(
            "driver-library-mismatch",
            f"The loaded kernel module ({module}) and the NVML library differ: the "
            "driver was upgraded without a reboot.",
        )
    if problem is NvidiaProblem.NO_PERMISSION:
        return finding("nvml-no-permission", f"NVML refused access to the GPUs{detail}.")
    if problem is NvidiaProblem.GPU_LOST:
        lost = [str(gpu.index) for gpu in nvidia.gpus if gpu.lost] or ["?"]
        return finding(
            "gpu-lost", f"GPU {', '.join(lost)} is lost: it no longer answers the driver."
        )
    return finding("nvml-error", f"NVML could not be initialised{detail}.")


def _visible_devices(nvidia: NvidiaInfo) -> Iterator[Finding]:
    if not nvidia.gpus or nvidia.cuda_visible_devices is None:
        return
    if nvidia.unknown_visible_entries:
        yield finding(
            "cuda-visible-devices-unknown",
            f"CUDA_VISIBLE_DEVICES={nvidia.cuda_visible_devices!r}: "
            f"{nvidia.unknown_visible_entries[0]!r} names no GPU of the "
            f"{len(nvidia.gpus)} present.",
        )
    if not nvidia.visible_gpus:
        yield finding(
            "cuda-visible-devices-hides-all",
            f"CUDA_VISIBLE_DEVICES={nvidia.cuda_visible_devices!r} hides all "
            f"{len(nvidia.gpus)} GPU(s) from CUDA.",
        )


def _gpus(machine: Machine) -> Iterator[Finding]:
    server_linux = machine.os.system == "linux" and not machine.os.wsl
    for gpu in machine.nvidia.gpus:
        label = f"GPU {gpu.index}" + (f" ({gpu.name})" if gpu.name else "")
        if gpu.persistence_mode is False and server_linux:
            yield finding("persistence-mode-off", f"{label}: persistence mode is off.")
        yield from _gpu_health(gpu, label)
        yield from _gpu_limits(gpu, label)


def _gpu_health(gpu: Gpu, label: str) -> Iterator[Finding]:
    """Memory faults the driver reports: remapped rows, retired pages, ECC errors."""
    if gpu.remapped_rows_failure:
        yield finding("gpu-remap-failure", f"{label}: a row remapping has failed.")
    if gpu.remapped_rows_pending:
        yield finding("gpu-remapped-rows-pending", f"{label}: a row remapping is pending.")
    if gpu.retired_pages_pending:
        yield finding("gpu-retired-pages-pending", f"{label}: a page retirement is pending.")
    if gpu.ecc_volatile_uncorrected:
        yield finding(
            "gpu-ecc-uncorrected",
            f"{label}: {gpu.ecc_volatile_uncorrected} "
            "uncorrectable ECC error(s) since the driver loaded.",
        )


def _gpu_limits(gpu: Gpu, label: str) -> Iterator[Finding]:
    """What holds a healthy GPU back: throttling, a narrow link, MIG, its age."""
    reasons = [
        name
        for bit, name in _THROTTLE_BITS.items()
        if gpu.clocks_event_reasons and gpu.clocks_event_reasons & bit
    ]
    if reasons:
        yield finding("gpu-throttled", f"{label}: clocks held back ({', '.join(reasons)}).")
    if (
        gpu.pcie_width_current is not None
        and gpu.pcie_width_max is not None
        and gpu.pcie_width_current < gpu.pcie_width_max
    ):
        yield finding(
            "pcie-link-degraded",
            f"{label}: PCIe link x{gpu.pcie_width_current} of x{gpu.pcie_width_max}.",
        )
    if gpu.mig_enabled:
        yield finding("mig-enabled", f"{label}: MIG mode is on.")
    if gpu.compute_capability is not None and gpu.compute_capability.major < 7:
        yield finding(
            "gpu-too-old-for-triton", f"{label}: compute capability {gpu.compute_capability}."
        )


def _host(machine: Machine, data: ReleaseData) -> Iterator[Finding]:
    host_describes_target = not ({"os", "arch"} & set(machine.overridden))
    if host_describes_target:
        shm = machine.storage.shm_bytes
        if machine.os.container and shm is not None and shm < SMALL_SHM_BYTES:
            yield finding(
                "shm-small",
                f"/dev/shm is {shm / 2**20:.0f} MiB in this {machine.os.container} container.",
            )
        if machine.toolchain.ld_library_path_cuda:
            yield finding(
                "ld-library-path-cuda",
                "LD_LIBRARY_PATH holds " + ", ".join(machine.toolchain.ld_library_path_cuda) + ".",
            )
        if machine.toolchain.c_compiler is None:
            yield finding("no-c-compiler", "No C compiler (cc, gcc or clang) on PATH.")
        if machine.toolchain.cxx_compiler is None:
            yield finding("no-cxx-compiler", "No C++ compiler (c++, g++ or clang++) on PATH.")
        free = machine.storage.free_bytes
        if machine.nvidia.gpus and free is not None and free < CUDA_TORCH_DISK_BYTES:
            yield finding("low-disk", f"{free / 1e9:.1f} GB free at {machine.storage.path}.")
    python = machine.python
    if "python" not in machine.overridden:
        if python.include_dir_has_python_h is False:
            yield finding("no-python-headers", f"Python.h is missing for {python.executable}.")
        if not python.is_64bit:
            yield finding("python-32bit", f"{python.executable} is a 32-bit build.")
    yield from _python_supported(python.minor_version, data)


def _python_supported(minor: str, data: ReleaseData) -> Iterator[Finding]:
    oldest, newest = data.python_range()
    version = Version(minor)
    if version < oldest:
        yield finding("python-too-old", f"Python {minor}: PyTorch 2.x needs {oldest} or newer.")
    elif version > newest:
        yield finding(
            "python-too-new",
            f"Python {minor}: the newest PyTorch 2.x release "
            f"publishes wheels up to Python {newest}.",
        )


# --- venv rules ----------------------------------------------------------------------------

_CUDA_LIB = re.compile(r"^nvidia-(?P<lib>[a-z-]+?)-cu(?P<major>\d+)$")


def _venv(machine: Machine, venv: VenvInfo, data: ReleaseData) -> Iterator[Finding]:
    if "pynvml" in venv.distributions:
        yield finding(
            "deprecated-pynvml",
            f"{venv.path} has pynvml {venv.distributions['pynvml'][0]} installed.",
        )
    yield from _duplicate_cuda_majors(venv)
    torch = venv.torch
    if torch is None:
        yield finding("venv-no-torch", f"{venv.path} has no torch installed.")
        return
    if torch.damaged:
        shown = ", ".join(torch.damaged[:3]) + (" ..." if len(torch.damaged) > 3 else "")
        yield finding(
            "torch-damaged",
            f"torch {torch.version} in {venv.path} is damaged: {len(torch.damaged)} of its "
            f"files are missing or of the wrong size ({shown}).",
        )
    yield from _pins(venv)
    yield from _accelerators(machine, torch)
    gpus = machine.nvidia.visible_gpus
    if not gpus:
        return
    if torch.cuda is None:
        if torch.hip is None:
            yield finding(
                "torch-cpu-on-gpu-host",
                f"torch {torch.version} is a CPU build, but {len(gpus)} NVIDIA GPU(s) are present.",
            )
        return
    yield from _driver_vs_torch(machine, torch.cuda, torch.version, data)
    sass, ptx = split_arch_list(torch.arch_list)
    if not sass and not ptx:
        return  # arch list not readable from the installed files
    for gpu in gpus:
        cc = gpu.compute_capability
        if cc is not None and coverage(cc, sass, ptx, _version(torch.cuda)) is None:
            yield finding(
                "torch-gpu-arch-missing",
                f"GPU {gpu.index} ({gpu.name or cc.sm}, {cc.sm}) is not covered by "
                f"torch {torch.version} (built for {' '.join(torch.arch_list)}).",
            )


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _driver_vs_torch(
    machine: Machine, cuda_text: str, torch_version: str, data: ReleaseData
) -> Iterator[Finding]:
    driver = machine.nvidia.driver_version.key if machine.nvidia.driver_version else None
    cuda = _version(cuda_text)
    if driver is None or cuda is None:
        return
    family = [v for v in data.cuda_variants.values() if v.cuda.major == cuda.major]
    floors = [Version(v.floor[machine.os.system]) for v in family if machine.os.system in v.floor]
    if floors and driver < min(floors):
        yield finding(
            "torch-driver-too-old",
            f"torch {torch_version} needs CUDA {cuda_text}, which needs driver "
            f">= {min(floors)}; this machine has {machine.nvidia.driver_version}.",
        )
        return
    driver_cuda = _version(machine.nvidia.cuda_driver_version)
    if driver_cuda is not None and driver_cuda < cuda:
        yield finding(
            "torch-driver-older-than-ptx",
            f"torch {torch_version} is built with CUDA {cuda_text}; driver "
            f"{machine.nvidia.driver_version} supports CUDA {driver_cuda}.",
        )


def _pins(venv: VenvInfo) -> Iterator[Finding]:
    assert venv.torch is not None
    problems = []
    for line in venv.torch.requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        name = requirement.name.lower().replace("_", "-")
        if not (name.startswith("nvidia-") or name.startswith("cuda-")):
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"extra": "", "python_version": venv.python_version.rsplit(".", 1)[0]}
        ):
            continue
        installed = venv.distributions.get(name)
        if not installed:
            problems.append(f"{name} missing (torch pins {requirement.specifier or 'any'})")
        elif not any(requirement.specifier.contains(v, prereleases=True) for v in installed):
            problems.append(f"{name} {installed[0]} (torch pins {requirement.specifier})")
    if problems:
        yield finding(
            "nvidia-packages-mismatch", f"torch {venv.torch.version}: " + "; ".join(problems) + "."
        )


def _duplicate_cuda_majors(venv: VenvInfo) -> Iterator[Finding]:
    majors: dict[str, set[str]] = {}
    for name in venv.distributions:
        match = _CUDA_LIB.match(name)
        if match:
            majors.setdefault(match.group("lib"), set()).add(match.group("major"))
    for lib, found in sorted(majors.items()):
        if len(found) > 1:
            yield finding(
                "nvidia-duplicate-cuda-majors",
                f"nvidia-{lib} is installed for CUDA {' and '.join(sorted(found))}.",
            )


def check_findings(import_detail: dict[str, object]) -> list[Finding]:
    """Findings that only the smoke test's import stage can see."""
    outside = import_detail.get("libraries_outside_venv") or []
    if not isinstance(outside, list) or not outside:
        return []
    return [
        finding(
            "cuda-libraries-outside-venv",
            "Loaded from outside the venv: " + ", ".join(str(p) for p in outside) + ".",
        )
    ]
