"""Machines recorded as files under a root (PTENV_SYSROOT): the KFD topology and PCI entries
in the shapes the kernel writes them (key-value lines; hex ids with 0x; a driver symlink)."""

from __future__ import annotations

from pathlib import Path

CPU_NODE = "cpu_cores_count 16\nsimd_count 0\nmem_banks_count 1\nvendor_id 0\ndevice_id 0\n"


def amd_machine(
    root: Path,
    gpus: list[tuple[int, int, str]],  # (gfx_target_version, PCI device id, name)
    *,
    kfd: bool = True,
    pci_only: bool = False,
) -> Path:
    """A host with AMD GPUs: KFD nodes (node 0 the CPU agent) and their PCI functions."""
    nodes = root / "sys/class/kfd/kfd/topology/nodes"
    if not pci_only:
        (nodes / "0").mkdir(parents=True)
        (nodes / "0" / "properties").write_text(CPU_NODE)
        (nodes / "0" / "name").write_text("\n")
    for number, (target, device, name) in enumerate(gpus, 1):
        if not pci_only:
            node = nodes / str(number)
            node.mkdir(parents=True)
            (node / "properties").write_text(
                f"cpu_cores_count 0\nsimd_count 192\nmem_banks_count 1\ncaches_count 206\n"
                f"gfx_target_version {target}\nvendor_id 4098\ndevice_id {device}\n"
                f"location_id {768 * number}\ndrm_render_minor {127 + number}\n"
            )
            (node / "name").write_text(f"{name}\n")
        pci = root / f"sys/bus/pci/devices/0000:0{number + 2}:00.0"
        pci.mkdir(parents=True)
        (pci / "vendor").write_text("0x1002\n")
        (pci / "device").write_text(f"0x{device:04x}\n")
        (pci / "class").write_text("0x030000\n")
        driver = root / "sys/bus/pci/drivers/amdgpu"
        driver.mkdir(parents=True, exist_ok=True)
        (pci / "driver").symlink_to(driver)
    if kfd:
        (root / "dev").mkdir(exist_ok=True)
        (root / "dev/kfd").write_text("")
    (root / "sys/module/amdgpu").mkdir(parents=True, exist_ok=True)
    (root / "sys/module/amdgpu/version").write_text("6.12.12\n")
    return root


def intel_machine(
    root: Path, devices: list[int], *, driver: str = "xe", level_zero: bool = True
) -> Path:
    """A host with Intel display devices on the PCI bus (and the Level Zero loader)."""
    for number, device in enumerate(devices):
        pci = root / f"sys/bus/pci/devices/0000:0{number}:02.0"
        pci.mkdir(parents=True)
        (pci / "vendor").write_text("0x8086\n")
        (pci / "device").write_text(f"0x{device:04x}\n")
        (pci / "class").write_text("0x030000\n")
        target = root / f"sys/bus/pci/drivers/{driver}"
        target.mkdir(parents=True, exist_ok=True)
        (pci / "driver").symlink_to(target)
    if level_zero:
        lib = root / "usr/lib/x86_64-linux-gnu"
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "libze_loader.so.1").write_text("")
    return root


def jetson_machine(root: Path, *, soc: str, model: str, release: str) -> Path:
    """A Jetson's files: the L4T release line and the device tree (NUL-separated strings)."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/nv_tegra_release").write_text(
        f"# {release}, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan 8 2025\n"
    )
    tree = root / "proc/device-tree"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "model").write_text(model + "\0")
    (tree / "compatible").write_text(f"nvidia,p3737-0000+p3701-0005\0nvidia,{soc}\0")
    return root


def nvidia_machine(root: Path, models: list[str], *, driver: str = "570.86.15") -> Path:
    """A host with the NVIDIA driver loaded: its module version, the /proc files it writes per
    GPU (Model, GPU UUID, Bus Location) and the PCI functions (vendor 0x10de)."""
    (root / "sys/module/nvidia").mkdir(parents=True, exist_ok=True)
    (root / "sys/module/nvidia/version").write_text(f"{driver}\n")
    (root / "dev").mkdir(exist_ok=True)
    (root / "dev/nvidiactl").write_text("")
    for number, model in enumerate(models, 1):
        bus = f"0000:{0x40 + number:02x}:00.0"
        info = root / f"proc/driver/nvidia/gpus/{bus}"
        info.mkdir(parents=True)
        (info / "information").write_text(
            f"Model: \t\t {model}\nIRQ:   \t\t {180 + number}\n"
            f"GPU UUID: \t GPU-{number:08x}-1b7d-4e8a-9c6f-2d1e0b9a8c7f\n"
            f"Bus Type: \t PCIe\nBus Location: \t {bus}\nDevice Minor: \t {number - 1}\n"
        )
        pci = root / f"sys/bus/pci/devices/{bus}"
        pci.mkdir(parents=True)
        (pci / "vendor").write_text("0x10de\n")
        (pci / "device").write_text("0x2684\n")
        (pci / "class").write_text("0x030000\n")
    return root
