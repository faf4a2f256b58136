"""Fakes at the hardware seam only: an NVML object passed into the adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class NvmlCallError(Exception):
    """Stands in for pynvml.NVMLError: carries the NVML return code as `.value`."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


NOT_SUPPORTED = 3
GPU_IS_LOST = 15


@dataclass
class FakeGpu:
    name: str = "NVIDIA A100-SXM4-80GB"
    uuid: str = "GPU-11111111-2222-3333-4444-555555555555"
    bus_id: str = "00000000:07:00.0"
    cc: tuple[int, int] = (8, 0)
    memory_total: int = 80 * 2**30
    memory_used: int = 2**30
    mig: tuple[int, int] = (0, 0)
    persistence: int = 1
    ecc: tuple[int, int] = (1, 1)
    ecc_volatile_uncorrected: int = 0
    retired_pending: int = 0
    remapped: tuple[int, int, int, int] = (0, 0, 0, 0)
    temperature: int = 35
    power_mw: int = 60_000
    power_limit_mw: int = 400_000
    clocks_event_reasons: int = 0x1
    pcie: tuple[int, int, int, int] = (4, 4, 16, 16)  # gen cur, gen max, width cur, width max
    unsupported: set[str] = field(default_factory=set)  # NVML function names that fail
    lost: bool = False


@dataclass
class FakeNvml:
    """Implements the ptenv.probe.nvidia.Nvml protocol from plain data."""

    gpus: Sequence[FakeGpu] = ()
    driver: str = "550.54.15"
    cuda: int = 12040
    nvml_version: str = "12.550.54.15"
    init_error: BaseException | None = None
    shutdowns: int = 0

    def _gpu(self, handle: Any, call: str) -> FakeGpu:
        gpu: FakeGpu = self.gpus[handle]
        if gpu.lost:
            raise NvmlCallError(GPU_IS_LOST)
        if call in gpu.unsupported or "*" in gpu.unsupported:
            raise NvmlCallError(NOT_SUPPORTED)
        return gpu

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda

    def nvmlSystemGetNVMLVersion(self) -> str:
        return self.nvml_version

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        return index

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        return _Pci(self._gpu(handle, "nvmlDeviceGetPciInfo").bus_id.encode())

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]:
        return self._gpu(handle, "nvmlDeviceGetCudaComputeCapability").cc

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        return _Memory(gpu.memory_total, gpu.memory_used)

    def nvmlDeviceGetMigMode(self, handle: Any) -> Sequence[int]:
        return self._gpu(handle, "nvmlDeviceGetMigMode").mig

    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetPersistenceMode").persistence

    def nvmlDeviceGetEccMode(self, handle: Any) -> Sequence[int]:
        return self._gpu(handle, "nvmlDeviceGetEccMode").ecc

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter: int) -> int:
        assert (error_type, counter) == (1, 0), "uncorrected, volatile"
        return self._gpu(handle, "nvmlDeviceGetTotalEccErrors").ecc_volatile_uncorrected

    def nvmlDeviceGetRetiredPagesPendingStatus(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetRetiredPagesPendingStatus").retired_pending

    def nvmlDeviceGetRemappedRows(self, handle: Any) -> Sequence[int]:
        return self._gpu(handle, "nvmlDeviceGetRemappedRows").remapped

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons").clocks_event_reasons

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkGeneration").pcie[0]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetMaxPcieLinkGeneration").pcie[1]

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkWidth").pcie[2]

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: Any) -> int:
        return self._gpu(handle, "nvmlDeviceGetMaxPcieLinkWidth").pcie[3]


@dataclass
class _Pci:
    busId: bytes


@dataclass
class _Memory:
    total: int
    used: int


def t4(**changes: Any) -> FakeGpu:
    base = FakeGpu(
        name="Tesla T4",
        uuid="GPU-aaaaaaaa-0000-0000-0000-000000000000",
        bus_id="00000000:3B:00.0",
        cc=(7, 5),
        memory_total=16 * 2**30,
        power_limit_mw=70_000,
        pcie=(3, 3, 16, 16),
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base
