"""Torch wheels shaped like the real ones: member paths, version.py and the CUDAConfig.h
line as read from PyPI's torch 2.7.1 and 2.15.0 wheels (`NVCC_FLAGS_EXTRA
"-gencode;arch=compute_50,code=sm_50;..."`), deflated, with a stored incompressible library."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path


def torch_wheel(
    folder: Path,
    filename: str,
    *,
    build_version: str,
    cuda: str | None = None,
    sass: tuple[str, ...] = (),
    ptx: tuple[str, ...] = (),
    requires: tuple[str, ...] = (),
    library_bytes: int = 1000,
    headers: int = 0,
) -> Path:
    """A torch wheel named `filename`; sass/ptx as "90", "120"; `headers` filler members."""
    path = folder / filename
    version = filename.split("-")[1]
    gencode = ";".join(
        [f"-gencode;arch=compute_{a},code=sm_{a}" for a in sass]
        + [f"-gencode;arch=compute_{a},code=compute_{a}" for a in ptx]
    )
    cuda_line = f"'{cuda}'" if cuda else "None"
    version_py = (
        "from typing import Optional\n\n"
        "__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'xpu']\n"
        f"__version__ = '{build_version}'\ndebug = False\ncuda: Optional[str] = {cuda_line}\n"
        "git_version = '0123abc'\nhip: Optional[str] = None\nxpu: Optional[str] = None\n"
    )
    metadata = "\n".join(
        ["Metadata-Version: 2.4", "Name: torch", f"Version: {version}", "Requires-Python: >=3.11"]
        + [f"Requires-Dist: {line}" for line in requires]
    )
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("torch/lib/libtorch_cuda.so" if cuda else "torch/lib/libtorch.so"),
            os.urandom(library_bytes),
            compress_type=zipfile.ZIP_STORED,
        )
        for number in range(headers):
            archive.writestr(f"torch/include/ATen/ops/op_{number:05d}.h", b"#pragma once\n")
        archive.writestr("torch/__init__.py", f"__version__ = {build_version!r}\n")
        archive.writestr("torch/version.py", version_py)
        if cuda:
            archive.writestr(
                "torch/include/ATen/cuda/CUDAConfig.h", f'#define NVCC_FLAGS_EXTRA "{gencode}"\n'
            )
        dist_info = f"torch-{version}.dist-info"
        archive.writestr(f"{dist_info}/METADATA", metadata + "\n\nThe description.\n")
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return path
