from __future__ import annotations

from pathlib import Path

import pytest

from ptenv.probe import host
from ptenv.probe._files import read_text
from tests.conftest import DATA


def test_cpuinfo_x86_counts_physical_cores_and_key_flags() -> None:
    model, physical, flags = host.parse_cpuinfo((DATA / "cpuinfo_x86.txt").read_text())
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert physical == 2  # three logical CPUs on two cores
    assert flags == ("avx2", "avx512f", "amx")


def test_cpuinfo_aarch64_reports_neon_and_sve() -> None:
    model, _, flags = host.parse_cpuinfo((DATA / "cpuinfo_aarch64.txt").read_text())
    assert model is None
    assert flags == ("neon", "sve")


def test_meminfo_in_bytes() -> None:
    info = host.parse_meminfo(
        "MemTotal:       16303428 kB\nMemFree: 1 kB\nMemAvailable:   12000000 kB\n"
    )
    assert info.total_bytes == 16303428 * 1024
    assert info.available_bytes == 12000000 * 1024


def test_os_release_quotes_removed() -> None:
    values = host.parse_os_release('ID=ubuntu\nVERSION_ID="24.04"\n# comment\n')
    assert values == {"ID": "ubuntu", "VERSION_ID": "24.04"}


def test_container_detection_order() -> None:
    assert host.detect_container({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {}, None) == "kubernetes"
    assert host.detect_container({}, {"/run/.containerenv": True}, None) == "podman"
    assert host.detect_container({}, {"/.dockerenv": True}, None) == "docker"
    assert host.detect_container({}, {}, "0::/kubepods/burstable/pod1") == "kubernetes"
    assert host.detect_container({}, {}, "0::/init.scope") is None


def test_wsl_detection() -> None:
    assert host.detect_wsl("Linux version 5.15.153.1-microsoft-standard-WSL2", {})
    assert host.detect_wsl(None, {"WSL_DISTRO_NAME": "Ubuntu"})
    assert not host.detect_wsl("Linux version 6.8.0-generic", {})


def test_aliases() -> None:
    assert host.normalize_arch("arm64") == "aarch64"
    assert host.normalize_arch("AMD64") == "x86_64"
    assert host.normalize_os("darwin") == "macos"
    assert host.normalize_os("win32") == "windows"
    assert host.normalize_os("beos") is None


def test_cuda_folders_in_ld_library_path() -> None:
    assert host.cuda_dirs_in_library_path("/usr/local/cuda-12.4/lib64:/opt/lib:/x/cudnn/lib") == (
        "/usr/local/cuda-12.4/lib64",
        "/x/cudnn/lib",
    )


def test_unreadable_entries_read_as_absent(tmp_path: Path) -> None:
    assert read_text(tmp_path / "missing") is None
    assert read_text(tmp_path) is None  # a directory where a file was expected


def test_storage_walks_up_to_an_existing_folder(tmp_path: Path) -> None:
    info = host.probe_storage(tmp_path / "not" / "yet" / ".venv")
    assert info.path == str(tmp_path)
    assert info.free_bytes is not None and info.free_bytes > 0


def test_doctor_without_proc_reports_gaps_instead_of_crashing(tmp_path: Path) -> None:
    """A bare chroot has no /proc (found by nox -s fresh-debian): doctor must still answer."""
    import json
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    script = f"mount -t tmpfs none /proc && exec {sys.executable} -m ptenv doctor --json"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    if "Operation not permitted" in done.stderr or "permission denied" in done.stderr.lower():
        pytest.skip("mount namespaces are not permitted here")
    assert done.returncode == 0, done.stderr
    cpu = json.loads(done.stdout)["machine"]["cpu"]
    assert cpu["source"] == "unavailable (no /proc)" and cpu["logical_cores"]
