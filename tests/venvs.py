"""Real virtual environments holding hand-written distributions (no torch import needed)."""

from __future__ import annotations

import sys
import venv
from pathlib import Path


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    return path


def site_packages(path: Path) -> Path:
    if sys.platform == "win32":
        return path / "Lib" / "site-packages"
    (found,) = (path / "lib").glob("python3*/site-packages")
    return found


def add_distribution(path: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """Write the dist-info that importlib.metadata reads."""
    dist = site_packages(path) / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {line}" for line in requires]
    (dist / "METADATA").write_text("\n".join(lines) + "\n")
    (dist / "RECORD").write_text("")


def add_torch(
    path: Path, version: str, cuda: str | None, arch_flags: str = "", requires: tuple[str, ...] = ()
) -> None:
    """A torch distribution as its installed files describe it (version.py, CUDAConfig.h)."""
    add_distribution(path, "torch", version.split("+", maxsplit=1)[0], requires)
    package = site_packages(path) / "torch"
    (package / "include" / "ATen" / "cuda").mkdir(parents=True)
    cuda_text = repr(cuda) if cuda else "None"
    (package / "version.py").write_text(
        "from typing import Optional\n"
        f"__version__ = '{version}'\ndebug = False\ncuda: Optional[str] = {cuda_text}\n"
        "git_version = 'abc'\nhip: Optional[str] = None\n"
    )
    if arch_flags:
        (package / "include" / "ATen" / "cuda" / "CUDAConfig.h").write_text(
            f'#define NVCC_FLAGS_EXTRA "{arch_flags}"\n'
        )
