"""`ptenv data inspect`: a torch wheel's facts from a few range requests on 127.0.0.1.

The synthetic wheel takes the real one's shape (tests/wheel_shapes.py) with a 200 MB
incompressible library, so that reading "under 2 %" means something.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index, serve
from tests.wheel_shapes import torch_wheel

runner = CliRunner()
FILENAME = "torch-2.15.0-cp312-cp312-manylinux_2_28_x86_64.whl"  # PyPI's: no local tag
ARCHES = ("75", "80", "86", "90", "100", "120")
REQUIRES = (
    "filelock",
    'cuda-toolkit[cublas,cudart,nvrtc]==13.2.2; platform_system == "Linux"',
    'nvidia-nccl-cu13==2.30.7; platform_system == "Linux"',
    'triton~=3.9.0; platform_system == "Linux" and python_version < "3.15"',
)


def _torch_wheel(folder: Path, library_bytes: int = 200 * 2**20) -> Path:
    return torch_wheel(
        folder,
        FILENAME,
        build_version="2.15.0+cu132",
        cuda="13.2",
        sass=tuple(a.replace(".", "") for a in ARCHES),
        requires=REQUIRES,
        library_bytes=library_bytes,
        headers=3000,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _torch_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def served(tmp_path: Path, wheel: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as index:
        folder = index.root / "cu132"
        folder.mkdir(parents=True)
        os.link(wheel, folder / wheel.name)
        yield index


def _url(index: Index) -> str:
    return f"{index.url}/cu132/{FILENAME}"


def test_a_remote_torch_wheel_is_inspected_from_under_two_percent_of_it(
    served: Index, wheel: Path
) -> None:
    result = runner.invoke(app, ["data", "inspect", _url(served), "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["schema"] == "ptenv.wheel/1"
    assert facts["version"] == "2.15.0" and facts["build_version"] == "2.15.0+cu132"
    assert facts["variant"] == "cu132" and facts["cuda"] == "13.2" and facts["hip"] is None
    assert facts["sass"] == [f"sm_{a}" for a in ARCHES] and facts["ptx"] == []
    assert facts["python_tags"] == ["cp312"] and facts["abi_tags"] == ["cp312"]
    assert facts["platform_tags"] == ["manylinux_2_28_x86_64"]
    assert facts["requires_python"] == ">=3.11" and facts["requires_dist"] == list(REQUIRES)
    sent = sum(length for _, length, _ in served.ranged)
    assert facts["fetched"] == sent < 0.02 * wheel.stat().st_size
    assert served.served == [], "the whole wheel was downloaded"


def test_a_local_wheel_reads_the_same_and_the_table_names_its_ptx(wheel: Path) -> None:
    result = runner.invoke(app, ["data", "inspect", str(wheel)])
    assert result.exit_code == 0, result.output
    assert "sm_75, sm_80, sm_86, sm_90, sm_100, sm_120" in result.stdout
    assert "none: GPUs newer than its SASS cannot run it" in result.stdout


def test_a_server_without_ranges_is_named_with_the_way_out(served: Index) -> None:
    served.ranges = False
    result = runner.invoke(app, ["data", "inspect", _url(served)])
    assert result.exit_code == 7
    assert "cannot be read in parts" in result.stderr and "--download" in result.stderr
    assert served.served == [], "ptenv read the whole file it was refused parts of"


def test_download_reads_the_whole_file_where_ranges_are_refused(served: Index, wheel: Path) -> None:
    served.ranges = False
    result = runner.invoke(app, ["data", "inspect", _url(served), "--download", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["variant"] == "cu132" and facts["fetched"] == wheel.stat().st_size


def test_a_missing_remote_wheel_is_exit_7_and_a_missing_path_exit_2(served: Index) -> None:
    missing = runner.invoke(
        app, ["data", "inspect", f"{served.url}/cu132/nope-1.0-py3-none-any.whl"]
    )
    assert missing.exit_code == 7 and "HTTP 404" in missing.stderr
    assert runner.invoke(app, ["data", "inspect", "no/such.whl"]).exit_code == 2


def test_a_file_that_is_not_a_zip_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    fake = tmp_path / "torch-2.15.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    fake.write_bytes(b"<html>login page</html>")
    result = runner.invoke(app, ["data", "inspect", str(fake)])
    assert result.exit_code == 7 and "is not a readable wheel" in result.stderr
    assert "Traceback" not in result.output
