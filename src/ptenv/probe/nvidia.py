"""NVIDIA driver and GPUs: NVML first, then sysfs / procfs / nvidia-smi CSV.

This is the only module that imports pynvml (the official nvidia-ml-py binding). The NVML
object is passed in, so tests hand over a fake at this seam; every per-GPU field is read on
its own, so one unsupported query never loses the others.

Detection order (each fact records where it came from in NvidiaInfo.sources):
  1. NVML: driver, CUDA driver version, NVML version, every GPU.
  2. /sys/module/nvidia/version: the loaded kernel module's version.
  3. /proc/driver/nvidia/version: the NVRM line, when sysfs has none.
  4. nvidia-smi --query-gpu=... --format=csv,noheader,nounits, only when NVML failed and a
     driver is evidently installed; never its human-readable table.
  5. /proc/driver/nvidia/gpus/<bus id>/information (Model, GPU UUID, Bus Location), when
     neither answered: the GPUs' names, their compute capability from ptenv's name table.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ptenv import _proc
from ptenv.models import ComputeCapability, DriverVersion, Gpu, NvidiaInfo, NvidiaProblem
from ptenv.probe._files import read_text

# NVML return codes (nvml.h); pynvml's exceptions carry them as `.value`.
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18

_PROBLEMS = {
    NVML_ERROR_LIBRARY_NOT_FOUND: NvidiaProblem.LIBRARY_NOT_FOUND,
    NVML_ERROR_DRIVER_NOT_LOADED: NvidiaProblem.DRIVER_NOT_LOADED,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: NvidiaProblem.VERSION_MISMATCH,
    NVML_ERROR_NO_PERMISSION: NvidiaProblem.NO_PERMISSION,
    NVML_ERROR_GPU_IS_LOST: NvidiaProblem.GPU_LOST,
}

_NVIDIA_SMI_FIELDS = (
    "index,name,uuid,pci.bus_id,driver_version,compute_cap,memory.total,memory.used,"
    "persistence_mode"
)
NVIDIA_SMI_TIMEOUT_S = 15.0  # it can take tens of seconds without persistence mode


class Nvml(Protocol):
    """The part of pynvml that ptenv uses; a test fake implements the same names."""

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str: ...
    def nvmlSystemGetCudaDriverVersion(self) -> int: ...
    def nvmlSystemGetNVMLVersion(self) -> str: ...
    def nvmlDeviceGetCount(self) -> int: ...
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any: ...
    def nvmlDeviceGetName(self, handle: Any) -> str: ...
    def nvmlDeviceGetUUID(self, handle: Any) -> str: ...
    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any: ...
    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]: ...
    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any: ...
    def nvmlDeviceGetMigMode(self, handle: Any) -> Sequence[int]: ...
    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> int: ...
    def nvmlDeviceGetEccMode(self, handle: Any) -> Sequence[int]: ...
    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter: int) -> int: ...
    def nvmlDeviceGetRetiredPagesPendingStatus(self, handle: Any) -> int: ...
    def nvmlDeviceGetRemappedRows(self, handle: Any) -> Sequence[int]: ...
    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int: ...
    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int: ...
    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int: ...
    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int: ...
    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: Any) -> int: ...
    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: Any) -> int: ...
    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: Any) -> int: ...
    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: Any) -> int: ...


def load_nvml() -> Nvml | None:
    """The real pynvml module, or None when the binding itself is not importable."""
    with warnings.catch_warnings():
        # The deprecated `pynvml` package installs an import hook that warns on every import.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            import pynvml  # noqa: PLC0415 - 40-60 ms, paid only when NVIDIA facts are needed
        except ImportError:
            return None
    module: Nvml = pynvml
    return module


# --- pure parsers --------------------------------------------------------------------------


def parse_module_version(text: str) -> str | None:
    """/sys/module/nvidia/version holds just the version, e.g. '550.54.15'."""
    match = re.search(r"\d+\.\d+(?:\.\d+)?", text)
    return match.group(0) if match else None


def parse_proc_driver_version(text: str) -> str | None:
    """The driver version in the NVRM line of /proc/driver/nvidia/version.

    'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 ...' (proprietary) or
    'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build ...'.
    """
    for line in text.splitlines():
        if line.startswith("NVRM version:"):
            match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", line)
            if match:
                return match.group(1)
    return None


def cuda_version_from_int(value: int) -> str:
    """NVML's 12080 -> '12.8'."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def _csv_int(text: str) -> int | None:
    text = text.strip()
    return int(float(text)) if re.fullmatch(r"\d+(?:\.\d+)?", text) else None


def parse_nvidia_smi_csv(text: str) -> tuple[str | None, tuple[Gpu, ...]]:
    """(driver version, GPUs) from `nvidia-smi --query-gpu=<_NVIDIA_SMI_FIELDS> --format=csv,
    noheader,nounits`. Fields an old driver does not know read '[N/A]' or '[Not Supported]'."""
    driver: str | None = None
    gpus = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) < 9 or not cells[0].isdigit():
            continue
        index, name, uuid, bus_id, driver_cell, cc, total, used, persistence = cells[:9]
        driver = driver or (driver_cell if not driver_cell.startswith("[") else None)
        try:
            capability: ComputeCapability | None = ComputeCapability.parse(cc)
        except ValueError:
            capability = None
        total_mib, used_mib = _csv_int(total), _csv_int(used)
        gpus.append(
            Gpu(
                index=int(index),
                name=name or None,
                uuid=uuid if uuid.startswith(("GPU-", "MIG-")) else None,
                pci_bus_id=bus_id if not bus_id.startswith("[") else None,
                compute_capability=capability,
                memory_total_bytes=total_mib * 2**20 if total_mib is not None else None,
                memory_used_bytes=used_mib * 2**20 if used_mib is not None else None,
                persistence_mode={"Enabled": True, "Disabled": False}.get(persistence),
                source="nvidia-smi",
            )
        )
    return driver, tuple(gpus)


def visible_indices(spec: str | None, gpus: Sequence[Gpu]) -> tuple[set[int], tuple[str, ...]]:
    """Which GPU indices CUDA_VISIBLE_DEVICES exposes, and the entries that name no GPU.

    Accepts ordinals ('0,2'), UUIDs or unique UUID prefixes ('GPU-3f...') and MIG forms
    ('MIG-...', 'MIG-GPU-<uuid>/gi/ci'). Like the CUDA runtime, it stops at the first entry
    that names nothing: later entries are ignored.
    """
    if spec is None:
        return {gpu.index for gpu in gpus}, ()
    chosen: set[int] = set()
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        match = _match_visible_entry(entry, gpus)
        if match is None:
            return chosen, (entry,)
        chosen.add(match)
    return chosen, ()


def _match_visible_entry(entry: str, gpus: Sequence[Gpu]) -> int | None:
    if entry.lstrip("-").isdigit():
        ordinal = int(entry)
        return gpus[ordinal].index if 0 <= ordinal < len(gpus) else None
    key = entry
    if key.startswith("MIG-GPU-"):
        key = key[len("MIG-") :].split("/")[0]  # MIG-GPU-<uuid>/gi/ci names its parent
    elif key.startswith("MIG-"):
        # A MIG instance UUID: NVML's parent UUID is not known to us without walking the
        # MIG handles, so accept it for any GPU that has MIG mode on.
        migs = [gpu.index for gpu in gpus if gpu.mig_enabled]
        return migs[0] if len(migs) == 1 else None
    candidates = [gpu.index for gpu in gpus if gpu.uuid and gpu.uuid.startswith(key)]
    return candidates[0] if len(candidates) == 1 else None


# --- NVML adapter --------------------------------------------------------------------------

T = TypeVar("T")


def _field(call: Callable[[], T]) -> T | None:
    """One NVML query; None when unsupported or failing in any way."""
    try:
        return call()
    except Exception:  # noqa: BLE001 - NVML can raise anything; one field must not sink the rest
        return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error_code(error: BaseException) -> int | None:
    value = getattr(error, "value", None)
    return value if isinstance(value, int) else None


def _read_gpu(nvml: Nvml, index: int) -> Gpu:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as error:  # noqa: BLE001 - any binding error becomes a finding
        return Gpu(index=index, lost=_error_code(error) == NVML_ERROR_GPU_IS_LOST)
    cc = _field(lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    memory = _field(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    mig = _field(lambda: nvml.nvmlDeviceGetMigMode(handle))
    ecc = _field(lambda: nvml.nvmlDeviceGetEccMode(handle))
    remapped = _field(lambda: nvml.nvmlDeviceGetRemappedRows(handle))
    persistence = _field(lambda: nvml.nvmlDeviceGetPersistenceMode(handle))
    pending_pages = _field(lambda: nvml.nvmlDeviceGetRetiredPagesPendingStatus(handle))
    power = _field(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
    limit = _field(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
    name = _field(lambda: nvml.nvmlDeviceGetName(handle))
    uuid = _field(lambda: nvml.nvmlDeviceGetUUID(handle))
    pci = _field(lambda: nvml.nvmlDeviceGetPciInfo(handle))
    bus_id = getattr(pci, "busId", None) if pci is not None else None
    lost_probe = _lost(lambda: nvml.nvmlDeviceGetName(handle))
    return Gpu(
        index=index,
        name=_text(name) if name is not None else None,
        uuid=_text(uuid) if uuid is not None else None,
        pci_bus_id=_text(bus_id) if bus_id is not None else None,
        compute_capability=ComputeCapability(int(cc[0]), int(cc[1])) if cc else None,
        memory_total_bytes=getattr(memory, "total", None),
        memory_used_bytes=getattr(memory, "used", None),
        mig_enabled=bool(mig[0]) if mig else None,
        persistence_mode=bool(persistence) if persistence is not None else None,
        ecc_enabled=bool(ecc[0]) if ecc else None,
        # error type 1 = uncorrected, counter 0 = volatile (since the last driver load)
        ecc_volatile_uncorrected=_field(lambda: nvml.nvmlDeviceGetTotalEccErrors(handle, 1, 0)),
        retired_pages_pending=bool(pending_pages) if pending_pages is not None else None,
        remapped_rows_pending=bool(remapped[2]) if remapped else None,
        remapped_rows_failure=bool(remapped[3]) if remapped else None,
        temperature_c=_field(lambda: nvml.nvmlDeviceGetTemperature(handle, 0)),
        power_w=power / 1000 if power is not None else None,
        power_limit_w=limit / 1000 if limit is not None else None,
        clocks_event_reasons=_field(lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)),
        pcie_gen_current=_field(lambda: nvml.nvmlDeviceGetCurrPcieLinkGeneration(handle)),
        pcie_gen_max=_field(lambda: nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
        pcie_width_current=_field(lambda: nvml.nvmlDeviceGetCurrPcieLinkWidth(handle)),
        pcie_width_max=_field(lambda: nvml.nvmlDeviceGetMaxPcieLinkWidth(handle)),
        lost=lost_probe,
    )


def _lost(call: Callable[[], object]) -> bool:
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any binding error becomes a finding
        return _error_code(error) == NVML_ERROR_GPU_IS_LOST
    return False


def read_nvml(nvml: Nvml) -> NvidiaInfo:
    """Everything NVML says, or the classified reason it said nothing."""
    try:
        nvml.nvmlInit()
    except Exception as error:  # noqa: BLE001 - classify whatever the binding raised
        problem = _PROBLEMS.get(_error_code(error) or 0, NvidiaProblem.OTHER)
        return NvidiaInfo(problem=problem, problem_detail=f"{type(error).__name__}: {error}")
    try:
        driver = _field(nvml.nvmlSystemGetDriverVersion)
        cuda = _field(nvml.nvmlSystemGetCudaDriverVersion)
        nvml_version = _field(nvml.nvmlSystemGetNVMLVersion)
        count = _field(nvml.nvmlDeviceGetCount) or 0
        gpus = tuple(_read_gpu(nvml, index) for index in range(count))
    finally:
        _field(nvml.nvmlShutdown)
    sources = {"gpus": "nvml"}
    if driver is not None:
        sources["driver_version"] = "nvml"
    if cuda is not None:
        sources["cuda_driver_version"] = "nvml"
    lost_problem = NvidiaProblem.GPU_LOST if any(gpu.lost for gpu in gpus) else None
    return NvidiaInfo(
        driver_version=DriverVersion.read(_text(driver)) if driver is not None else None,
        cuda_driver_version=cuda_version_from_int(int(cuda)) if cuda else None,
        nvml_version=_text(nvml_version) if nvml_version is not None else None,
        sources=sources,
        problem=lost_problem,
        gpus=gpus,
    )


# --- host facts outside NVML ---------------------------------------------------------------


def count_nvidia_pci_functions(sys_root: Path = Path("/sys/bus/pci/devices")) -> int:
    """NVIDIA (vendor 0x10de) display or 3D controllers (class 0x03xxxx) on the PCI bus."""
    count = 0
    try:
        devices = list(sys_root.iterdir())
    except OSError:
        return 0
    for device in devices:
        vendor = read_text(device / "vendor")
        klass = read_text(device / "class")
        if vendor and klass and vendor.strip() == "0x10de" and klass.strip().startswith("0x03"):
            count += 1
    return count


def nouveau_bound(driver_dir: Path = Path("/sys/bus/pci/drivers/nouveau")) -> bool:
    """True when nouveau drives an NVIDIA PCI function (the proprietary driver cannot then)."""
    try:
        return any(entry.name.count(":") == 2 for entry in driver_dir.iterdir())
    except OSError:
        return False


def _run_nvidia_smi() -> str | None:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    argv = [executable, f"--query-gpu={_NVIDIA_SMI_FIELDS}", "--format=csv,noheader,nounits"]
    try:
        done = _proc.run(argv, timeout=NVIDIA_SMI_TIMEOUT_S)
    except OSError:
        return None
    return done.stdout if done.ok else None


def read_proc_gpus(folder: Path) -> list[str]:
    """The driver's information file of each GPU, in PCI bus order."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [text for entry in entries if (text := read_text(entry / "information"))]


def parse_proc_gpus(texts: Sequence[str]) -> list[Gpu]:
    """`Model: \t\t NVIDIA GeForce RTX 4090` lines, as the driver writes them; the compute
    capability comes from ptenv's table of names (None for a name it does not know)."""
    from ptenv.releases import gpus as names  # noqa: PLC0415 - only when NVML and smi failed

    found = []
    for index, text in enumerate(texts):
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        model = fields.get("Model")
        if not model:
            continue
        uuid = fields.get("GPU UUID", "")
        found.append(
            Gpu(
                index=index,
                name=model,
                uuid=uuid if uuid.startswith("GPU-") else None,
                pci_bus_id=fields.get("Bus Location") or None,
                compute_capability=_capability_of_model(model, names.by_name),
                source="/proc/driver/nvidia/gpus",
            )
        )
    return found


def _capability_of_model(
    model: str, by_name: Callable[[str], ComputeCapability | None]
) -> ComputeCapability | None:
    """The driver's names carry form factor and memory ("NVIDIA A100-SXM4-80GB", "NVIDIA H100
    80GB HBM3"): the longest leading run of words that names a GPU ptenv knows."""
    words = [w for w in re.split(r"[\s-]+", model) if w and w.lower() != "nvidia"]
    for end in range(len(words), 0, -1):
        found = by_name(" ".join(words[:end]))
        if found is not None:
            return found
    return None


def probe_nvidia(
    nvml: Nvml | None,
    env: Mapping[str, str],
    *,
    read: Callable[[str], str | None] = read_text,
    nvidia_smi: Callable[[], str | None] = _run_nvidia_smi,
    pci_functions: Callable[[], int] = count_nvidia_pci_functions,
    nouveau: Callable[[], bool] = nouveau_bound,
    device_nodes: Callable[[], bool] = lambda: Path("/dev/nvidiactl").exists(),
    proc_gpus: Callable[[], list[str]] = lambda: read_proc_gpus(Path("/proc/driver/nvidia/gpus")),
) -> NvidiaInfo:
    """All NVIDIA facts, from NVML where it answers and the fallbacks where it does not.

    Device nodes and PCI functions are read before NVML is asked: NVML itself, run as root,
    creates /dev/nvidiactl before it fails, which must not count as evidence of a driver.
    """
    has_nodes = device_nodes()
    pci = pci_functions()
    if nvml is not None:
        info = read_nvml(nvml)
    else:
        info = NvidiaInfo(
            problem=NvidiaProblem.LIBRARY_NOT_FOUND,
            problem_detail="the nvidia-ml-py binding is not importable",
        )
    sources = dict(info.sources)
    module_text = read("/sys/module/nvidia/version")
    module_version = parse_module_version(module_text) if module_text else None
    driver, gpus = info.driver_version, info.gpus
    if driver is None and module_version is not None:
        driver = DriverVersion.read(module_version)
        sources["driver_version"] = "/sys/module/nvidia/version"
    if driver is None:
        proc_text = read("/proc/driver/nvidia/version")
        proc_driver = parse_proc_driver_version(proc_text) if proc_text else None
        if proc_driver is not None:
            driver = DriverVersion.read(proc_driver)
            sources["driver_version"] = "/proc/driver/nvidia/version"
    if info.problem is not None and not gpus and (driver is not None or has_nodes):
        csv = nvidia_smi()
        if csv:
            smi_driver, gpus = parse_nvidia_smi_csv(csv)
            sources["gpus"] = "nvidia-smi"
            if driver is None and smi_driver is not None:
                driver = DriverVersion.read(smi_driver)
                sources["driver_version"] = "nvidia-smi"
    if not gpus and (driver is not None or has_nodes):
        gpus = tuple(parse_proc_gpus(proc_gpus()))
        if gpus:
            sources["gpus"] = "/proc/driver/nvidia/gpus"
    cuda_visible = env.get("CUDA_VISIBLE_DEVICES")
    chosen, unknown = visible_indices(cuda_visible, gpus)
    gpus = tuple(replace(gpu, visible=gpu.index in chosen) for gpu in gpus)
    return NvidiaInfo(
        driver_version=driver,
        cuda_driver_version=info.cuda_driver_version,
        nvml_version=info.nvml_version,
        kernel_module_version=module_version,
        sources=sources,
        problem=info.problem,
        problem_detail=info.problem_detail,
        gpus=gpus,
        pci_devices=pci,
        nouveau_bound=nouveau(),
        device_nodes=has_nodes,
        cuda_visible_devices=cuda_visible,
        nvidia_visible_devices=env.get("NVIDIA_VISIBLE_DEVICES"),
        unknown_visible_entries=unknown,
    )
