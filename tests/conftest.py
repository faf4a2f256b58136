from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptenv import releases
from ptenv.models import (
    CpuInfo,
    Machine,
    MemoryInfo,
    NvidiaInfo,
    OsInfo,
    PythonInfo,
    StorageInfo,
    Toolchain,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _no_learned_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads (or writes) the user's learned release data: each session gets an empty
    data folder, which subprocesses inherit; tests that learn set their own."""
    before = os.environ.get("PTENV_DATA_DIR")
    os.environ["PTENV_DATA_DIR"] = str(tmp_path_factory.mktemp("ptenv-data"))
    yield
    if before is None:
        os.environ.pop("PTENV_DATA_DIR", None)
    else:
        os.environ["PTENV_DATA_DIR"] = before


@pytest.fixture(scope="session")
def data() -> releases.ReleaseData:
    return releases.built_in()


def make_machine(**changes: object) -> Machine:
    """A plain Linux x86_64 box with Python 3.12, no GPU; tests change what they need."""
    base = Machine(
        os=OsInfo(
            system="linux",
            release="6.8.0",
            distro_id="ubuntu",
            distro_version="24.04",
            libc_name="glibc",
            libc_version="2.39",
        ),
        arch="x86_64",
        python=PythonInfo(
            version="3.12.4", executable="/usr/bin/python3", include_dir_has_python_h=True
        ),
        cpu=CpuInfo(model="Test CPU", physical_cores=8, logical_cores=16, flags=("avx2",)),
        memory=MemoryInfo(64 * 2**30, 60 * 2**30),
        storage=StorageInfo("/tmp", 100 * 10**9, 8 * 2**30),
        toolchain=Toolchain("/usr/bin/cc", "/usr/bin/c++"),
        nvidia=NvidiaInfo(),
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def torch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv with the real CPU torch wheel (skips when none can be had offline)."""
    from tests.torch_venv import NoTorchWheel, build_torch_venv

    root = tmp_path_factory.mktemp("torch")
    try:
        return build_torch_venv(root / "venv", root / "wheels")
    except NoTorchWheel as reason:
        pytest.skip(str(reason))
