"""Intel GPUs from the PCI bus: vendor 0x8086, a display class, bound to xe or i915; the
device id names the family (releases/intel.toml) and whether the `xpu` wheels target it.
The Level Zero loader is the user-space runtime those wheels need. Read under `root`."""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ptenv.models import IntelGpu, IntelInfo
from ptenv.probe._files import pci_display_devices

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INTEL_VENDOR = "0x8086"
_LEVEL_ZERO = ("usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib", "usr/local/lib")


@cache
def _table() -> dict[str, Any]:
    text = resources.files("ptenv.releases").joinpath("intel.toml").read_text("utf-8")
    table: dict[str, Any] = tomllib.loads(text)
    return table


def _families() -> list[dict[str, Any]]:
    families: list[dict[str, Any]] = _table()["family"]
    return families


def xpu_families() -> tuple[tuple[str, ...], str]:
    """The family names the xpu builds are made for, and the table's source tag."""
    names = tuple(str(f["name"]) for f in _families() if f.get("xpu"))
    return names, str(_table()["source"])


def family_of(device_id: str) -> dict[str, Any] | None:
    try:
        number = int(device_id, 16)
    except ValueError:
        return None
    for family in _families():
        for span in family["ids"]:
            low, _, high = span.partition("-")
            if int(low, 16) <= number <= int(high or low, 16):
                return family
    return None


def family_named(name: str) -> dict[str, Any] | None:
    """The family `--gpu arc-b580` (or `max-1550`, `lunar-lake` ...) names."""
    wanted = name.strip().lower()
    return next((f for f in _families() if wanted in f.get("targets", ())), None)


def target_gpu(family: dict[str, Any]) -> IntelGpu:
    """A described Intel GPU of that family (its first device id), with the runtime present."""
    return IntelGpu(
        family=family["name"],
        device_id=family["ids"][0].partition("-")[0],
        pci="target",
        driver="xe",
        discrete=bool(family["discrete"]),
        xpu=bool(family["xpu"]),
    )


def probe_intel(root: Path = Path("/")) -> IntelInfo:
    gpus = []
    for entry, device, driver in pci_display_devices(root, INTEL_VENDOR):
        family = family_of(device)
        gpus.append(
            IntelGpu(
                family=family["name"] if family else f"Intel GPU {device}",
                device_id=device,
                pci=entry.name,
                driver=driver,
                discrete=bool(family and family["discrete"]),
                xpu=bool(family and family["xpu"]),
            )
        )
    level_zero = any((root / folder / "libze_loader.so.1").exists() for folder in _LEVEL_ZERO)
    return IntelInfo(gpus=tuple(gpus), level_zero=level_zero)
