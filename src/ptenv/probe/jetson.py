"""Jetson / Tegra boards: /etc/nv_tegra_release (the L4T release), /proc/device-tree/model
and compatible (the SoC). Their integrated GPU is invisible to NVML, so without this a Jetson
looks like a GPU-less aarch64 server. Read under `root`."""

from __future__ import annotations

import re
from pathlib import Path

from ptenv.models import JetsonInfo
from ptenv.probe._files import read_text

# SoC -> (board family, compute capability): torch's own _check_capability lists these
# integrated capabilities (5.3, 6.2, 7.2, 8.7) apart; Thor is 11.0.
SOCS = {
    "tegra210": ("Jetson Nano / TX1", "5.3"),
    "tegra186": ("Jetson TX2", "6.2"),
    "tegra194": ("Jetson Xavier", "7.2"),
    "tegra234": ("Jetson Orin", "8.7"),
    "tegra264": ("Jetson Thor", "11.0"),
}
# L4T major -> JetPack major (NVIDIA's JetPack archive: R32 = 4.x, R35 = 5.x, R36 = 6.x, R38 = 7.x)
JETPACK = {"32": "4", "35": "5", "36": "6", "38": "7"}
_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


def probe_jetson(root: Path = Path("/")) -> JetsonInfo | None:
    release = read_text(root / "etc/nv_tegra_release") or ""
    compatible = read_text(root / "proc/device-tree/compatible") or ""
    socs = [s.split(",", 1)[-1] for s in compatible.split("\0") if s.startswith("nvidia,tegra")]
    if not release and not socs:
        return None
    found = _RELEASE.search(release)
    l4t = f"{found.group(1)}.{found.group(2)}" if found else None
    soc = socs[0] if socs else None
    model = (read_text(root / "proc/device-tree/model") or "").strip("\0\n ") or (
        SOCS.get(soc or "", ("NVIDIA Tegra board", None))[0]
    )
    return JetsonInfo(
        model=model,
        soc=soc,
        l4t=l4t,
        jetpack=JETPACK.get(found.group(1)) if found else None,
        compute_capability=SOCS.get(soc or "", ("", None))[1],
    )
