"""Shared fixtures of the install tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.index_server import Index, serve

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
LINUX_TORCH = f"torch-2.15.0+cpu-{PY}-{PY}-manylinux_2_28_x86_64.whl"
WINDOWS_TORCH = f"torch-2.15.0+cpu-{PY}-{PY}-win_amd64.whl"


@pytest.fixture
def two_platform_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    """A cpu index with torch for Linux and Windows and its one dependency; cwd and uv's cache
    in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with serve(tmp_path / "served") as served:
        served.add("cpu", LINUX_TORCH, requires=("filelock",))
        served.add("cpu", WINDOWS_TORCH, requires=("filelock",))
        served.add("cpu", "filelock-3.20.0-py3-none-any.whl")
        yield served
