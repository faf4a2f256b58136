from __future__ import annotations

from ptenv.models import ComputeCapability, Gpu, NvidiaInfo, NvidiaProblem
from ptenv.probe import nvidia
from tests.conftest import DATA
from tests.fakes import FakeGpu, FakeNvml, NvmlCallError, t4


def probe(
    nvml: FakeNvml | None,
    env: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
    smi: str | None = None,
    pci: int = 0,
) -> NvidiaInfo:
    files = files or {}
    calls: list[str] = []

    def fake_smi() -> str | None:
        calls.append("nvidia-smi")
        return smi

    info = nvidia.probe_nvidia(
        nvml,
        env or {},
        read=files.get,
        nvidia_smi=fake_smi,
        pci_functions=lambda: pci,
        nouveau=lambda: False,
        device_nodes=lambda: bool(files),
        proc_gpus=lambda: [files[k] for k in sorted(files) if k.endswith("/information")],
    )
    return info


def test_no_library_is_classified_and_needs_no_nvidia_smi() -> None:
    """Without a driver, NVML's 'library not found' is the problem and nothing else runs."""
    info = probe(FakeNvml(init_error=NvmlCallError(12)))
    assert info.problem is NvidiaProblem.LIBRARY_NOT_FOUND
    assert info.driver_version is None and info.gpus == ()


def test_binding_missing_counts_as_library_not_found() -> None:
    assert probe(None).problem is NvidiaProblem.LIBRARY_NOT_FOUND


def test_version_mismatch_keeps_the_kernel_module_version() -> None:
    info = probe(
        FakeNvml(init_error=NvmlCallError(18)), files={"/sys/module/nvidia/version": "550.90.07\n"}
    )
    assert info.problem is NvidiaProblem.VERSION_MISMATCH
    assert info.kernel_module_version == "550.90.07"
    assert info.sources["driver_version"] == "/sys/module/nvidia/version"


def test_driver_not_loaded_and_no_permission_are_distinct() -> None:
    assert probe(FakeNvml(init_error=NvmlCallError(9))).problem is NvidiaProblem.DRIVER_NOT_LOADED
    assert probe(FakeNvml(init_error=NvmlCallError(4))).problem is NvidiaProblem.NO_PERMISSION


def test_any_exception_from_nvml_init_becomes_other_not_a_crash() -> None:
    info = probe(FakeNvml(init_error=RuntimeError("boom")))
    assert info.problem is NvidiaProblem.OTHER
    assert "boom" in (info.problem_detail or "")


def test_zero_gpus() -> None:
    info = probe(FakeNvml(gpus=[]))
    assert info.problem is None
    assert str(info.driver_version) == "550.54.15" and info.cuda_driver_version == "12.4"
    assert info.gpus == ()


def test_one_gpu_reads_every_field() -> None:
    fake = FakeNvml(gpus=[FakeGpu()])
    info = probe(fake)
    (gpu,) = info.gpus
    assert gpu == Gpu(
        index=0,
        name="NVIDIA A100-SXM4-80GB",
        uuid="GPU-11111111-2222-3333-4444-555555555555",
        pci_bus_id="00000000:07:00.0",
        compute_capability=ComputeCapability(8, 0),
        memory_total_bytes=80 * 2**30,
        memory_used_bytes=2**30,
        mig_enabled=False,
        persistence_mode=True,
        ecc_enabled=True,
        ecc_volatile_uncorrected=0,
        retired_pages_pending=False,
        remapped_rows_pending=False,
        remapped_rows_failure=False,
        temperature_c=35,
        power_w=60.0,
        power_limit_w=400.0,
        clocks_event_reasons=0x1,
        pcie_gen_current=4,
        pcie_gen_max=4,
        pcie_width_current=16,
        pcie_width_max=16,
        visible=True,
        lost=False,
        source="nvml",
    )
    assert info.nvml_version == "12.550.54.15"
    assert fake.shutdowns == 1


def test_eight_mixed_gpus_keep_their_own_capabilities() -> None:
    """An A100 beside seven T4s: each GPU keeps its own name and compute capability."""
    info = probe(FakeNvml(gpus=[FakeGpu()] + [t4() for _ in range(7)]))
    assert len(info.gpus) == 8
    assert [str(g.compute_capability) for g in info.gpus] == ["8.0"] + ["7.5"] * 7
    assert info.gpus[3].name == "Tesla T4" and info.gpus[3].index == 3


def test_mig_mode_on_is_reported() -> None:
    (gpu,) = probe(FakeNvml(gpus=[FakeGpu(mig=(1, 1))])).gpus
    assert gpu.mig_enabled is True


def test_every_field_unsupported_leaves_a_gpu_with_only_its_index() -> None:
    (gpu,) = probe(FakeNvml(gpus=[FakeGpu(unsupported={"*"})])).gpus
    assert gpu == Gpu(index=0)


def test_one_unsupported_field_does_not_lose_the_others() -> None:
    (gpu,) = probe(FakeNvml(gpus=[FakeGpu(unsupported={"nvmlDeviceGetRemappedRows"})])).gpus
    assert gpu.remapped_rows_pending is None
    assert gpu.compute_capability == ComputeCapability(8, 0)
    assert gpu.temperature_c == 35


def test_lost_gpu_is_flagged() -> None:
    info = probe(FakeNvml(gpus=[FakeGpu(), t4(lost=True)]))
    assert info.problem is NvidiaProblem.GPU_LOST
    assert [g.lost for g in info.gpus] == [False, True]


def test_nvml_missing_falls_back_to_sysfs_then_nvidia_smi_csv() -> None:
    smi = (DATA / "nvidia_smi_query.csv").read_text()
    info = probe(
        FakeNvml(init_error=NvmlCallError(12)),
        files={"/sys/module/nvidia/version": "550.54.15\n"},
        smi=smi,
    )
    assert str(info.driver_version) == "550.54.15"
    assert info.sources == {"driver_version": "/sys/module/nvidia/version", "gpus": "nvidia-smi"}
    assert [g.name for g in info.gpus] == ["NVIDIA H100 80GB HBM3"] * 2
    assert info.gpus[1].persistence_mode is False


def test_proc_driver_version_is_used_when_sysfs_is_unreadable() -> None:
    text = (DATA / "proc_driver_version_open.txt").read_text()
    info = probe(
        FakeNvml(init_error=NvmlCallError(12)), files={"/proc/driver/nvidia/version": text}
    )
    assert str(info.driver_version) == "570.86.15"
    assert info.sources["driver_version"] == "/proc/driver/nvidia/version"


def test_parse_proc_driver_version_proprietary_and_open() -> None:
    assert (
        nvidia.parse_proc_driver_version((DATA / "proc_driver_version_proprietary.txt").read_text())
        == "550.54.15"
    )
    assert (
        nvidia.parse_proc_driver_version((DATA / "proc_driver_version_open.txt").read_text())
        == "570.86.15"
    )
    assert nvidia.parse_proc_driver_version("garbage\n") is None


def test_parse_nvidia_smi_csv_old_driver_without_compute_cap() -> None:
    driver, gpus = nvidia.parse_nvidia_smi_csv(
        (DATA / "nvidia_smi_query_old_driver.csv").read_text()
    )
    assert driver == "470.256.02"
    assert gpus[0].compute_capability is None
    assert gpus[0].memory_total_bytes == 11441 * 2**20


def test_parse_nvidia_smi_csv_ignores_error_lines() -> None:
    assert nvidia.parse_nvidia_smi_csv("NVIDIA-SMI has failed because ...\n") == (None, ())


def test_cuda_driver_version_from_nvml_integer() -> None:
    assert nvidia.cuda_version_from_int(12080) == "12.8"
    assert nvidia.cuda_version_from_int(13000) == "13.0"


def _gpus(n: int) -> list[Gpu]:
    return [Gpu(index=i, uuid=f"GPU-{i}abc-{i}") for i in range(n)]


def test_visible_devices_unset_shows_all() -> None:
    assert nvidia.visible_indices(None, _gpus(2)) == ({0, 1}, ())


def test_visible_devices_empty_hides_all() -> None:
    assert nvidia.visible_indices("", _gpus(2)) == (set(), ())


def test_visible_devices_ordinals_and_uuid_prefix() -> None:
    assert nvidia.visible_indices("1,GPU-0a", _gpus(2)) == ({0, 1}, ())


def test_visible_devices_stops_at_the_first_unknown_entry() -> None:
    """Like CUDA, entries after an invalid one are ignored."""
    assert nvidia.visible_indices("0,7,1", _gpus(2)) == ({0}, ("7",))
    assert nvidia.visible_indices("-1", _gpus(2)) == (set(), ("-1",))


def test_visible_devices_mig_forms() -> None:
    gpus = [Gpu(index=0, uuid="GPU-abc", mig_enabled=True), Gpu(index=1, uuid="GPU-def")]
    assert nvidia.visible_indices("MIG-GPU-def/1/0", gpus) == ({1}, ())
    assert nvidia.visible_indices("MIG-1234-5678", gpus) == ({0}, ())


def test_probe_marks_hidden_gpus_not_visible() -> None:
    info = probe(FakeNvml(gpus=[FakeGpu(), t4()]), env={"CUDA_VISIBLE_DEVICES": "1"})
    assert [g.visible for g in info.gpus] == [False, True]
    assert info.cuda_visible_devices == "1"


def test_device_nodes_are_read_before_nvml_creates_them() -> None:
    """NVML run as root mknods /dev/nvidiactl before failing: that is no evidence of a driver."""
    nodes = [False]

    class MknodNvml(FakeNvml):
        def nvmlInit(self) -> None:
            nodes[0] = True  # what the real library does as root
            raise NvmlCallError(9)  # NVML_ERROR_DRIVER_NOT_LOADED

    info = nvidia.probe_nvidia(
        MknodNvml(),
        {},
        read=lambda _path: None,
        nvidia_smi=lambda: None,
        pci_functions=lambda: 0,
        nouveau=lambda: False,
        device_nodes=lambda: nodes[0],
    )
    assert nodes[0], "the fake did not stand in for NVML's mknod"
    assert info.problem is NvidiaProblem.DRIVER_NOT_LOADED and info.device_nodes is False


RTX_4090_INFORMATION = (
    "Model: \t\t NVIDIA GeForce RTX 4090\nIRQ:   \t\t 186\n"
    "GPU UUID: \t GPU-5a3f0c2e-1b7d-4e8a-9c6f-2d1e0b9a8c7f\nVideo BIOS: \t 95.02.18.80.5f\n"
    "Bus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\n"
    "Bus Location: \t 0000:01:00.0\nDevice Minor: \t 0\nGPU Excluded:\t No\n"
)


def test_the_driver_s_proc_files_name_the_gpus_when_nvml_and_smi_cannot() -> None:
    """The shape of /proc/driver/nvidia/gpus/<bus>/information as the driver writes it."""
    h100 = RTX_4090_INFORMATION.replace("GeForce RTX 4090", "H100 80GB HBM3").replace(
        "0000:01:00.0", "0000:41:00.0"
    )
    info = probe(
        FakeNvml(init_error=NvmlCallError(12)),
        files={
            "/proc/driver/nvidia/version": (DATA / "proc_driver_version_open.txt").read_text(),
            "/proc/driver/nvidia/gpus/0000:01:00.0/information": RTX_4090_INFORMATION,
            "/proc/driver/nvidia/gpus/0000:41:00.0/information": h100,
        },
    )
    assert [g.name for g in info.gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3"]
    assert [str(g.compute_capability) for g in info.gpus] == ["8.9", "9.0"]
    assert info.gpus[0].pci_bus_id == "0000:01:00.0" and info.gpus[0].uuid
    assert info.sources["gpus"] == "/proc/driver/nvidia/gpus"
