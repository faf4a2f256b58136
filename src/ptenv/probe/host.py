"""OS, libc, container, Python, CPU, memory, disk and toolchain of the running host.

Parsers are pure functions over text; the readers that feed them are kept apart, so the
parsers are tested on captured text and the readers stay thin.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from ptenv.models import (
    CpuInfo,
    MemoryInfo,
    OsInfo,
    PythonInfo,
    StorageInfo,
    Toolchain,
    platform_key,
)
from ptenv.probe._files import read_text

_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}
_OS_ALIASES = {
    "linux": "linux",
    "windows": "windows",
    "win32": "windows",
    "win": "windows",
    "darwin": "macos",
    "macos": "macos",
    "osx": "macos",
}


def normalize_arch(text: str) -> str | None:
    """x86_64 / aarch64 from any usual spelling (amd64, arm64 ...), else None."""
    return _ARCH_ALIASES.get(text.strip().lower())


def normalize_os(text: str) -> str | None:
    """linux / windows / macos from any usual spelling (win32, darwin ...), else None."""
    return _OS_ALIASES.get(text.strip().lower())


# --- parsers -------------------------------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of /etc/os-release, quotes removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values


def parse_cpuinfo(text: str) -> tuple[str | None, int | None, tuple[str, ...]]:
    """(model, physical cores, key ISA flags) from /proc/cpuinfo on x86_64 or aarch64."""
    model: str | None = None
    flags: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical_id = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "model name" and model is None:
            model = value
        elif key in ("flags", "features"):
            flags.update(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
    return model, (len(cores) or None), key_isa_flags(flags)


def key_isa_flags(flags: set[str]) -> tuple[str, ...]:
    """The ISA features that matter to torch's kernels, in a stable order."""
    found = []
    if "avx2" in flags:
        found.append("avx2")
    if "avx512f" in flags:
        found.append("avx512f")
    if flags & {"amx_tile", "amx_bf16", "amx_int8"}:
        found.append("amx")
    if flags & {"asimd", "neon"}:
        found.append("neon")
    if "sve" in flags:
        found.append("sve")
    return tuple(found)


def parse_meminfo(text: str) -> MemoryInfo:
    """MemTotal and MemAvailable from /proc/meminfo (kB) as bytes."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match.group(1)] = int(match.group(2)) * 1024
    return MemoryInfo(values.get("MemTotal"), values.get("MemAvailable"))


def detect_container(
    env: Mapping[str, str], exists: Mapping[str, bool], cgroup_text: str | None
) -> str | None:
    """docker / podman / kubernetes / containerd, or None on bare metal or a VM."""
    if "KUBERNETES_SERVICE_HOST" in env:
        return "kubernetes"
    if exists.get("/run/.containerenv") or env.get("container") == "podman":
        return "podman"
    if exists.get("/.dockerenv"):
        return "docker"
    text = cgroup_text or ""
    if "kubepods" in text:
        return "kubernetes"
    if "docker" in text:
        return "docker"
    if "containerd" in text:
        return "containerd"
    return None


def detect_wsl(proc_version: str | None, env: Mapping[str, str]) -> bool:
    """WSL2: Microsoft's kernel, or the variables WSL sets."""
    if "WSL_DISTRO_NAME" in env or "WSL_INTEROP" in env:
        return True
    return proc_version is not None and "microsoft" in proc_version.lower()


def cuda_dirs_in_library_path(ld_library_path: str) -> tuple[str, ...]:
    """LD_LIBRARY_PATH entries that hold a CUDA toolkit or cuDNN (they can shadow torch's)."""
    hits = []
    for entry in ld_library_path.split(os.pathsep):
        lowered = entry.lower()
        if entry and ("cuda" in lowered or "cudnn" in lowered):
            hits.append(entry)
    return tuple(hits)


# --- readers -------------------------------------------------------------------------------


def probe_os(env: Mapping[str, str]) -> OsInfo:
    system = normalize_os(platform.system()) or platform.system().lower()
    if system != "linux":
        release = platform.mac_ver()[0] if system == "macos" else platform.version()
        return OsInfo(system=system, release=release or platform.release())
    os_release = parse_os_release(read_text("/etc/os-release") or "")
    libc_name, libc_version = _libc()
    exists = {path: Path(path).exists() for path in ("/.dockerenv", "/run/.containerenv")}
    return OsInfo(
        system="linux",
        release=platform.release(),
        distro_id=os_release.get("ID"),
        distro_version=os_release.get("VERSION_ID"),
        libc_name=libc_name,
        libc_version=libc_version,
        container=detect_container(env, exists, read_text("/proc/1/cgroup")),
        wsl=detect_wsl(read_text("/proc/version"), env),
    )


def _libc() -> tuple[str | None, str | None]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"
    except (ValueError, OSError, AttributeError):
        text = ""
    name, _, version = text.partition(" ")
    if name:
        return name, version or None
    if list(Path("/lib").glob("ld-musl-*")):
        return "musl", None
    return None, None


def probe_python() -> PythonInfo:
    include = sysconfig.get_paths().get("include")
    return PythonInfo(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        is_64bit=sys.maxsize > 2**32,
        free_threaded=bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        executable=sys.executable,
        in_venv=sys.prefix != sys.base_prefix,
        include_dir_has_python_h=Path(include, "Python.h").is_file() if include else None,
    )


def probe_arch() -> str:
    machine = platform.machine()
    return normalize_arch(machine) or machine.lower()


def probe_cpu() -> CpuInfo:
    logical = os.cpu_count()
    text = read_text("/proc/cpuinfo")
    if text:
        model, physical, flags = parse_cpuinfo(text)
        return CpuInfo(
            model=model or platform.processor() or None,
            physical_cores=physical or logical,
            logical_cores=logical,
            flags=flags,
            source="/proc/cpuinfo",
        )
    if platform.system() == "Linux":
        # Linux without /proc (a bare chroot): py-cpuinfo and psutil read /proc too.
        return CpuInfo(
            model=platform.processor() or None,
            physical_cores=None,
            logical_cores=logical,
            source="unavailable (no /proc)",
        )
    # macOS, Windows: py-cpuinfo is the portable source; it costs about a second.
    try:
        import cpuinfo  # noqa: PLC0415 - slow import kept off the Linux path
        import psutil  # noqa: PLC0415 - only where /proc is missing

        info = cpuinfo.get_cpu_info()
        physical = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - a CPU we cannot read is a gap in the report, not a crash
        return CpuInfo(model=None, physical_cores=None, logical_cores=logical, source="unknown")
    return CpuInfo(
        model=info.get("brand_raw"),
        physical_cores=physical,
        logical_cores=logical,
        flags=key_isa_flags(set(info.get("flags", []))),
        source="py-cpuinfo",
    )


def probe_memory() -> MemoryInfo:
    text = read_text("/proc/meminfo")
    if text:
        return parse_meminfo(text)
    try:
        import psutil  # noqa: PLC0415 - only where /proc is missing

        virtual = psutil.virtual_memory()
    except Exception:  # noqa: BLE001 - memory we cannot read is reported as unknown
        return MemoryInfo(None, None)
    return MemoryInfo(virtual.total, virtual.available)


def probe_storage(target: Path) -> StorageInfo:
    """Free space where `target` (a venv path) would be created, and /dev/shm's size."""
    existing = target.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free: int | None = shutil.disk_usage(existing).free
    except OSError:
        free = None
    shm: int | None = None
    if hasattr(os, "statvfs") and Path("/dev/shm").is_dir():
        try:
            stat = os.statvfs("/dev/shm")
            shm = stat.f_frsize * stat.f_blocks
        except OSError:
            shm = None
    return StorageInfo(path=str(existing), free_bytes=free, shm_bytes=shm)


def probe_toolchain(env: Mapping[str, str]) -> Toolchain:
    c = env.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    cxx = env.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if sys.platform == "win32":
        c = c or shutil.which("cl")
        cxx = cxx or shutil.which("cl")
    return Toolchain(c, cxx, cuda_dirs_in_library_path(env.get("LD_LIBRARY_PATH", "")))


def this_platform() -> str:
    """This host's release-data platform key, e.g. linux-x86_64 (no other probing)."""
    system = normalize_os(platform.system()) or platform.system().lower()
    return platform_key(system, probe_arch())
