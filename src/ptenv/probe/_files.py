"""Tolerant file reads: a missing or unreadable /proc or /sys entry is simply absent."""

from __future__ import annotations

from pathlib import Path


def read_text(path: str | Path) -> str | None:
    """The file's text, or None when it is missing, unreadable or not text."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def pci_display_devices(root: Path, vendor: str) -> list[tuple[Path, str, str | None]]:
    """(sysfs entry, device id, bound driver) of each display-class PCI function of a vendor
    ("0x1002", "0x8086") under root/sys/bus/pci/devices."""
    try:
        entries = sorted((root / "sys/bus/pci/devices").iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        klass = (read_text(entry / "class") or "").strip()
        if (read_text(entry / "vendor") or "").strip() != vendor or not klass.startswith("0x03"):
            continue
        link = entry / "driver"
        driver = link.resolve().name if link.exists() else None
        found.append((entry, (read_text(entry / "device") or "").strip().lower(), driver))
    return found
