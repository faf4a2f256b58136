from __future__ import annotations

from pathlib import Path
from typing import Any

from ptenv.diagnose import CATALOG, diagnose
from ptenv.models import (
    AmdGpu,
    AmdInfo,
    ComputeCapability,
    DriverVersion,
    Finding,
    Gpu,
    IntelGpu,
    IntelInfo,
    JetsonInfo,
    Machine,
    NvidiaInfo,
    NvidiaProblem,
    OsInfo,
    PythonInfo,
    Severity,
    StorageInfo,
    Toolchain,
    TorchInstall,
    VenvInfo,
)
from ptenv.probe.venv import probe_venv
from ptenv.releases import ReleaseData
from tests.conftest import make_machine
from tests.venvs import add_distribution, add_torch, make_venv

A100 = Gpu(index=0, name="A100", compute_capability=ComputeCapability(8, 0), persistence_mode=True)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def gpu_machine(**nvidia: Any) -> Machine:
    base: dict[str, Any] = {
        "driver_version": DriverVersion.parse("550.54.15"),
        "cuda_driver_version": "12.4",
        "gpus": (A100,),
    }
    base.update(nvidia)
    return make_machine(nvidia=NvidiaInfo(**base))


def test_cpu_machine_gets_only_the_no_driver_info(data: ReleaseData) -> None:
    machine = make_machine(nvidia=NvidiaInfo(problem=NvidiaProblem.LIBRARY_NOT_FOUND))
    findings = diagnose(machine, None, data)
    assert codes(findings) == ["no-nvidia-driver"]
    assert findings[0].severity is Severity.INFO


def test_gpu_on_the_bus_without_driver_is_an_error(data: ReleaseData) -> None:
    machine = make_machine(
        nvidia=NvidiaInfo(problem=NvidiaProblem.LIBRARY_NOT_FOUND, pci_devices=2)
    )
    assert codes(diagnose(machine, None, data)) == ["gpu-without-driver"]


def test_container_asking_for_gpus_without_devices(data: ReleaseData) -> None:
    machine = make_machine(
        os=OsInfo(system="linux", release="6.8", container="docker"),
        nvidia=NvidiaInfo(problem=NvidiaProblem.LIBRARY_NOT_FOUND, nvidia_visible_devices="all"),
    )
    assert "container-without-gpu" in codes(diagnose(machine, None, data))


def test_nvml_failures_map_to_their_codes(data: ReleaseData) -> None:
    expected = {
        NvidiaProblem.VERSION_MISMATCH: "driver-library-mismatch",
        NvidiaProblem.DRIVER_NOT_LOADED: "driver-not-loaded",
        NvidiaProblem.NO_PERMISSION: "nvml-no-permission",
        NvidiaProblem.OTHER: "nvml-error",
    }
    for problem, code in expected.items():
        machine = make_machine(
            nvidia=NvidiaInfo(
                problem=problem, driver_version=DriverVersion.parse("550.54.15"), pci_devices=1
            )
        )
        assert code in codes(diagnose(machine, None, data))


def test_driver_not_loaded_without_an_nvidia_device_is_information(data: ReleaseData) -> None:
    """NVIDIA's real NVML says "Driver Not Loaded" on a machine with no NVIDIA GPU at all."""
    bare = make_machine(nvidia=NvidiaInfo(problem=NvidiaProblem.DRIVER_NOT_LOADED))
    found = {f.code: f for f in diagnose(bare, None, data)}
    assert "driver-not-loaded" not in found
    assert found["nvidia-libraries-without-gpu"].severity is Severity.INFO
    container = make_machine(
        os=OsInfo(system="linux", release="6.8", container="docker"),
        nvidia=NvidiaInfo(problem=NvidiaProblem.DRIVER_NOT_LOADED, nvidia_visible_devices="all"),
    )
    assert "container-without-gpu" in codes(diagnose(container, None, data))
    with_device = make_machine(
        nvidia=NvidiaInfo(problem=NvidiaProblem.DRIVER_NOT_LOADED, pci_devices=1)
    )
    assert "driver-not-loaded" in codes(diagnose(with_device, None, data))


def test_nouveau_bound_is_an_error(data: ReleaseData) -> None:
    machine = make_machine(
        nvidia=NvidiaInfo(
            problem=NvidiaProblem.LIBRARY_NOT_FOUND, nouveau_bound=True, pci_devices=1
        )
    )
    assert codes(diagnose(machine, None, data))[0] == "nouveau-bound"


def test_cuda_visible_devices_hiding_everything(data: ReleaseData) -> None:
    hidden = Gpu(
        index=0, compute_capability=ComputeCapability(8, 0), visible=False, persistence_mode=True
    )
    machine = gpu_machine(gpus=(hidden,), cuda_visible_devices="")
    assert "cuda-visible-devices-hides-all" in codes(diagnose(machine, None, data))


def test_unhealthy_gpu_findings(data: ReleaseData) -> None:
    sick = Gpu(
        index=0,
        name="H100",
        compute_capability=ComputeCapability(9, 0),
        persistence_mode=False,
        remapped_rows_pending=True,
        remapped_rows_failure=True,
        retired_pages_pending=True,
        ecc_volatile_uncorrected=2,
        clocks_event_reasons=0x1 | 0x40,
        pcie_width_current=8,
        pcie_width_max=16,
        mig_enabled=True,
    )
    found = codes(diagnose(gpu_machine(gpus=(sick,)), None, data))
    for code in (
        "persistence-mode-off",
        "gpu-remap-failure",
        "gpu-remapped-rows-pending",
        "gpu-retired-pages-pending",
        "gpu-ecc-uncorrected",
        "gpu-throttled",
        "pcie-link-degraded",
        "mig-enabled",
    ):
        assert code in found
    assert found.index("gpu-ecc-uncorrected") < found.index("gpu-throttled")  # errors first


def test_idle_clock_reason_is_not_throttling(data: ReleaseData) -> None:
    idle = Gpu(
        index=0,
        compute_capability=ComputeCapability(8, 0),
        clocks_event_reasons=0x1,
        persistence_mode=True,
    )
    assert "gpu-throttled" not in codes(diagnose(gpu_machine(gpus=(idle,)), None, data))


def test_host_toolchain_disk_and_shm(data: ReleaseData) -> None:
    machine = make_machine(
        os=OsInfo(system="linux", release="6.8", container="docker"),
        storage=StorageInfo("/", 2 * 10**9, 64 * 2**20),
        toolchain=Toolchain(None, None, ("/usr/local/cuda/lib64",)),
        python=PythonInfo(version="3.12.1", include_dir_has_python_h=False),
        nvidia=NvidiaInfo(driver_version=DriverVersion.parse("550.54.15"), gpus=(A100,)),
    )
    found = codes(diagnose(machine, None, data))
    for code in (
        "shm-small",
        "ld-library-path-cuda",
        "no-c-compiler",
        "no-cxx-compiler",
        "low-disk",
        "no-python-headers",
    ):
        assert code in found


def test_python_outside_every_release(data: ReleaseData) -> None:
    old = make_machine(python=PythonInfo(version="3.7.16"))
    new = make_machine(python=PythonInfo(version="3.16.0"))
    thirty_two = make_machine(python=PythonInfo(version="3.12.0", is_64bit=False))
    assert "python-too-old" in codes(diagnose(old, None, data))
    assert "python-too-new" in codes(diagnose(new, None, data))
    assert "python-32bit" in codes(diagnose(thirty_two, None, data))


def test_every_code_has_a_fix() -> None:
    for code, rule in CATALOG.items():
        assert rule.fix.endswith((".", ")", "`")), code
        assert code == code.lower() and " " not in code


# --- venv rules, with real venvs holding written distributions ------------------------------


def test_cpu_torch_on_gpu_host(tmp_path: Path, data: ReleaseData) -> None:
    venv = make_venv(tmp_path / "v")
    add_torch(venv, "2.13.0+cpu", None)
    info = probe_venv(venv)
    assert info.torch is not None and info.torch.local_tag == "cpu"
    assert "torch-cpu-on-gpu-host" in codes(diagnose(gpu_machine(), info, data))


def test_cuda_torch_checks_driver_arch_and_pins(tmp_path: Path, data: ReleaseData) -> None:
    venv = make_venv(tmp_path / "v")
    flags = (
        "-gencode;arch=compute_75,code=sm_75;-gencode;arch=compute_90,code=sm_90;"
        "-gencode;arch=compute_120,code=compute_120"
    )
    add_torch(
        venv,
        "2.14.1+cu130",
        "13.0",
        flags,
        requires=(
            "nvidia-cudnn-cu13==9.24.0.43; platform_system == 'Linux'",
            "nvidia-nccl-cu13==2.30.7; platform_system == 'Linux'",
            "filelock",
        ),
    )
    add_distribution(venv, "nvidia-cudnn-cu13", "9.20.0.48")
    add_distribution(venv, "nvidia-cublas-cu12", "12.6.4.1")
    add_distribution(venv, "nvidia-cublas-cu13", "13.0.0.19")
    info = probe_venv(venv)
    assert info.torch is not None
    assert info.torch.arch_list == ("sm_75", "sm_90", "compute_120")
    ampere = Gpu(
        index=0, name="A100", compute_capability=ComputeCapability(8, 0), persistence_mode=True
    )
    found = diagnose(gpu_machine(gpus=(ampere,)), info, data)
    by_code = {f.code: f for f in found}
    assert "driver >= 580" in by_code["torch-driver-too-old"].message
    assert "sm_80" in by_code["torch-gpu-arch-missing"].message
    assert "nvidia-nccl-cu13 missing" in by_code["nvidia-packages-mismatch"].message
    assert "nvidia-cudnn-cu13 9.20.0.48" in by_code["nvidia-packages-mismatch"].message
    assert "nvidia-duplicate-cuda-majors" in by_code


def test_new_driver_for_cuda_torch_is_clean(tmp_path: Path, data: ReleaseData) -> None:
    venv = make_venv(tmp_path / "v")
    add_torch(venv, "2.14.1+cu126", "12.6", "-gencode;arch=compute_80,code=sm_80")
    found = codes(
        diagnose(
            gpu_machine(
                driver_version=DriverVersion.parse("580.95.05"), cuda_driver_version="13.0"
            ),
            probe_venv(venv),
            data,
        )
    )
    assert found == []


def test_driver_between_floor_and_toolkit_warns(tmp_path: Path, data: ReleaseData) -> None:
    venv = make_venv(tmp_path / "v")
    add_torch(venv, "2.14.1+cu126", "12.6", "-gencode;arch=compute_80,code=sm_80")
    found = codes(diagnose(gpu_machine(), probe_venv(venv), data))
    assert found == ["torch-driver-older-than-ptx"]


def test_venv_without_torch(tmp_path: Path, data: ReleaseData) -> None:
    venv = make_venv(tmp_path / "v")
    add_distribution(venv, "pynvml", "13.0.1")
    found = codes(diagnose(make_machine(), probe_venv(venv), data))
    assert "venv-no-torch" in found and "deprecated-pynvml" in found


def test_cuda_libraries_loaded_from_outside_the_venv() -> None:
    from ptenv.diagnose import check_findings

    assert check_findings({"libraries_outside_venv": []}) == []
    (found,) = check_findings({"libraries_outside_venv": ["/usr/local/cuda/lib64/libcudart.so.12"]})
    assert found.code == "cuda-libraries-outside-venv"
    assert "/usr/local/cuda/lib64/libcudart.so.12" in found.message


def _venv_with(version: str, cuda: str | None = None, hip: str | None = None,
               arch_list: tuple[str, ...] = ()) -> VenvInfo:  # fmt: skip
    torch = TorchInstall(
        version=version, cuda=cuda, hip=hip, arch_list=arch_list, requires=(), location=None
    )
    return VenvInfo(path="/v", python_executable="/v/bin/python", python_version="3.12.3",
                    free_threaded=False, python_h=True, distributions={}, torch=torch)  # fmt: skip


MI300X = AmdGpu(name="AMD Instinct MI300X", gfx="gfx942", device_id="0x74a1")
AMD_BOX = make_machine(amd=AmdInfo(gpus=(MI300X,), kfd=True, kfd_access=True))


def test_a_cuda_torch_on_an_amd_only_machine_is_an_error(data: ReleaseData) -> None:
    found = diagnose(AMD_BOX, _venv_with("2.9.1+cu128", cuda="12.8"), data)
    assert "cuda-torch-on-amd" in codes(found)


def test_a_rocm_torch_without_the_gpus_gfx_target_is_an_error(data: ReleaseData) -> None:
    missing = _venv_with("2.9.1+rocm6.4", hip="6.4", arch_list=("gfx90a", "gfx1100"))
    assert "rocm-torch-gfx-missing" in codes(diagnose(AMD_BOX, missing, data))
    fits = _venv_with("2.9.1+rocm6.4", hip="6.4", arch_list=("gfx90a", "gfx942"))
    assert "rocm-torch-gfx-missing" not in codes(diagnose(AMD_BOX, fits, data))


def test_a_cpu_torch_beside_an_amd_gpu_says_the_gpu_has_a_build(data: ReleaseData) -> None:
    assert "cpu-torch-on-accelerator" in codes(diagnose(AMD_BOX, _venv_with("2.9.1+cpu"), data))


def test_an_intel_gpu_without_level_zero_is_a_warning(data: ReleaseData) -> None:
    arc = IntelGpu(family="Arc B-Series (Battlemage)", device_id="0xe20b", pci="0000:03:00.0",
                   driver="xe", discrete=True, xpu=True)  # fmt: skip
    without = make_machine(intel=IntelInfo(gpus=(arc,), level_zero=False))
    assert "intel-gpu-without-runtime" in codes(diagnose(without, None, data))
    present = make_machine(intel=IntelInfo(gpus=(arc,), level_zero=True))
    assert "intel-gpu-without-runtime" not in codes(diagnose(present, None, data))


def test_a_server_wheel_on_a_jetson_is_an_error_but_nvidias_jetson_wheel_is_not(
    data: ReleaseData,
) -> None:
    orin = JetsonInfo(model="NVIDIA Jetson AGX Orin Developer Kit", soc="tegra234",
                      l4t="36.4.3", jetpack="6", compute_capability="8.7")  # fmt: skip
    board = make_machine(jetson=orin, arch="aarch64")
    server = _venv_with("2.7.0+cu126", cuda="12.6")
    assert "jetson-server-wheel" in codes(diagnose(board, server, data))
    jetson = _venv_with("2.5.0a0+872d972e41.nv24.08", cuda="12.6")
    assert "jetson-server-wheel" not in codes(diagnose(board, jetson, data))
