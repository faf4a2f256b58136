"""Reading a wheel where it lies: a local file, or a URL through range requests on 127.0.0.1."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptenv import _http
from ptenv.releases import wheelfile
from tests.index_server import Index, serve

TORCH = "torch-2.15.0+cu132-cp312-cp312-manylinux_2_28_x86_64.whl"
VERSION_PY = b"__version__ = '2.15.0+cu132'\ncuda: Optional[str] = '13.2'\n"
CONFIG_H = b'#define CUDA_ARCH_FLAGS "-gencode;arch=compute_90,code=sm_90"\n'


def _torch_shaped(folder: Path, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A wheel with the real torch member paths, deflated as the real ones are, with enough
    members (the real one has 12,248) that its directory does not fit in the last 64 kB."""
    path = folder / TORCH
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("torch/lib/libtorch_cuda.so", os.urandom(300_000))
        for number in range(1500):
            archive.writestr(f"torch/include/ATen/ops/op_{number:05d}_native.h", b"#pragma once\n")
        archive.writestr("torch/version.py", VERSION_PY)
        archive.writestr("torch/include/ATen/cuda/CUDAConfig.h", CONFIG_H)
        archive.writestr("torch-2.15.0+cu132.dist-info/METADATA", b"Name: torch\n" * 50)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as index:
        yield index


def test_a_local_wheel_lists_its_members_and_reads_one_with_its_crc_checked(
    tmp_path: Path,
) -> None:
    path = _torch_shaped(tmp_path)
    archive = wheelfile.open_wheel(str(path))
    with zipfile.ZipFile(path) as reference:
        assert set(archive.members) == set(reference.namelist())
        assert archive.unpacked == sum(info.file_size for info in reference.infolist())
    assert archive.member("torch/version.py") == VERSION_PY
    assert archive.member("torch/include/ATen/cuda/CUDAConfig.h") == CONFIG_H


def test_a_remote_wheel_is_read_with_a_few_range_requests_not_downloaded(
    served: Index, tmp_path: Path
) -> None:
    folder = served.root / "cu132"
    folder.mkdir(parents=True)
    path = _torch_shaped(folder)
    archive = wheelfile.open_wheel(f"{served.url}/cu132/{TORCH.replace('+', '%2B')}")
    assert archive.member("torch/version.py") == VERSION_PY
    assert served.served == [], "the whole wheel was downloaded"
    sent = sum(length for _, length, _ in served.ranged)
    assert len(served.ranged) == 3  # the last 64 kB, the rest of the directory, one member
    assert sent == archive.fetched < path.stat().st_size / 2


def test_a_server_that_ignores_ranges_is_named_and_its_file_not_read(served: Index) -> None:
    served.ranges = False
    folder = served.root / "cu132"
    folder.mkdir(parents=True)
    _torch_shaped(folder)
    with pytest.raises(_http.RangesRefused, match="does not answer range requests"):
        wheelfile.open_wheel(f"{served.url}/cu132/{TORCH.replace('+', '%2B')}")


def test_a_stored_wheel_reads_as_well(tmp_path: Path) -> None:
    archive = wheelfile.open_wheel(str(_torch_shaped(tmp_path, zipfile.ZIP_STORED)))
    assert archive.member("torch/version.py") == VERSION_PY


def test_a_zip64_directory_is_found(tmp_path: Path) -> None:
    """More than 65535 members: the count lives in the zip64 end-of-directory record."""
    path = tmp_path / "many-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(65_600):
            archive.writestr(f"many/{number}.txt", b"")
        archive.writestr("many/last.txt", b"the end")
    opened = wheelfile.open_wheel(str(path))
    assert len(opened.members) == 65_601
    assert opened.member("many/last.txt") == b"the end"


def test_a_truncated_wheel_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = _torch_shaped(tmp_path)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(wheelfile.WheelUnreadable, match="end-of-central-directory"):
        wheelfile.open_wheel(str(path))


def test_a_corrupted_member_fails_its_crc(tmp_path: Path) -> None:
    path = _torch_shaped(tmp_path, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"__version__")
    data[at] = ord("X")
    path.write_bytes(bytes(data))
    with pytest.raises(wheelfile.WheelUnreadable, match="CRC"):
        wheelfile.open_wheel(str(path)).member("torch/version.py")


def test_an_oversized_member_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = wheelfile.open_wheel(str(_torch_shaped(tmp_path)))
    before = archive.fetched
    with pytest.raises(wheelfile.WheelUnreadable, match="more than ptenv reads"):
        archive.member("torch/lib/libtorch_cuda.so", limit=1000)
    assert archive.fetched == before
