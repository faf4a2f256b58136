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
