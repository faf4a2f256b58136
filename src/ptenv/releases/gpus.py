"""NVIDIA GPUs by the names people know them by, and the compute capabilities that exist.

Source: NVIDIA, "CUDA GPUs - Compute Capability" (developer.nvidia.com/cuda-gpus) and the CUDA
C++ Programming Guide's table of compute capabilities; Jetson Thor is 11.0 since CUDA 13
(renamed from 10.1, CUDA 13.0 release notes). Names are matched after lower-casing and
dropping spaces, dashes, underscores and the words nvidia, geforce, tesla, quadro.
"""

from __future__ import annotations

import re

from ptenv.models import ComputeCapability

# Every compute capability NVIDIA has shipped in a CUDA-capable GPU (3.x and newer).
KNOWN_CAPABILITIES = frozenset(
    ComputeCapability.parse(text)
    for text in (
        *("3.0", "3.2", "3.5", "3.7", "5.0", "5.2", "5.3", "6.0", "6.1", "6.2", "7.0", "7.2"),
        *("7.5", "8.0", "8.6", "8.7", "8.9", "9.0", "10.0", "10.3", "11.0", "12.0", "12.1"),
    )
)

_BY_CAPABILITY = {
    "3.7": "k80",
    "5.2": "m60 m40 titanx gtx980 gtx970",
    "5.3": "jetsonnano",
    "6.0": "p100",
    "6.1": "p40 p4 titanxp gtx1080ti gtx1080 gtx1070 gtx1060 gtx1050",
    "7.0": "v100 titanv",
    "7.2": "jetsonxavier jetsonagxxavier jetsonxaviernx",
    "7.5": "t4 titanrtx rtx2080ti rtx2080 rtx2070 rtx2060 gtx1660 rtx6000 rtx8000",
    "8.0": "a100 a30",
    "8.6": "a10 a40 a16 a2 rtxa6000 rtxa5000 rtxa4000 rtx3090 rtx3080 rtx3070 rtx3060",
    "8.7": "jetsonorin jetsonagxorin jetsonorinnx jetsonorinnano",
    "8.9": "l4 l40 l40s rtx4090 rtx4080 rtx4070 rtx4060 rtx6000ada",
    "9.0": "h100 h200 h800 gh200",
    "10.0": "b200 b100 gb200",
    "10.3": "b300 gb300",
    "11.0": "jetsonthor",
    "12.0": "rtx5090 rtx5080 rtx5070 rtx5060 rtxpro6000",
    "12.1": "gb10 dgxspark",
}
GPU_NAMES: dict[str, ComputeCapability] = {
    name: ComputeCapability.parse(capability)
    for capability, names in _BY_CAPABILITY.items()
    for name in names.split()
}

_NOISE = re.compile(r"nvidia|geforce|tesla|quadro|[\s_\-]")


def by_name(text: str) -> ComputeCapability | None:
    """The compute capability of a GPU named like `rtx4090`, `RTX 4090`, `4090`, `a100`."""
    key = _NOISE.sub("", text.lower())
    if key in GPU_NAMES:
        return GPU_NAMES[key]
    for prefix in ("rtx", "gtx"):  # `4090` for `rtx4090`, `1080ti` for `gtx1080ti`
        if prefix + key in GPU_NAMES:
            return GPU_NAMES[prefix + key]
    return None
