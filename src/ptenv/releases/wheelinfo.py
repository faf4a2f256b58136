"""What a torch wheel is, read from the wheel itself: the facts `ptenv data inspect` shows.

Four small members answer everything, so a remote wheel costs a few range requests:
`torch/version.py` (version with its local tag, CUDA / HIP / XPU), the CUDA build flags in
`torch/include/ATen/cuda/CUDAConfig.h` (older wheels: `caffe2/core/macros.h`), whose
`-gencode arch=compute_XX,code=sm_XX` pairs are the SASS targets and `code=compute_XX` the
PTX ones, and the dist-info's METADATA and WHEEL (Requires-Dist, Requires-Python, tags).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ptenv.releases import wheelfile

VERSION_PY = "torch/version.py"
ARCH_HEADERS = ("torch/include/ATen/cuda/CUDAConfig.h", "torch/include/caffe2/core/macros.h")
_GENCODE = re.compile(r"arch=compute_(\d+)([a-z]?),code=(sm|compute)_(\d+)([a-z]?)")
_FIELD = r"^{name}\s*(?::[^=]*)?=\s*['\"]([^'\"]*)['\"]"


@dataclass(frozen=True)
class WheelFacts:
    filename: str
    size: int  # bytes of the whole wheel
    fetched: int  # bytes read to learn all this
    name: str
    version: str  # METADATA's Version (no local tag on PyPI)
    build_version: str | None  # torch/version.py's __version__, e.g. 2.15.0+cu132
    variant: str | None  # cpu, cu132, rocm6.4, xpu; None for a package that is not torch
    cuda: str | None
    hip: str | None
    sass: tuple[str, ...]  # sm_90, sm_100a ...
    ptx: tuple[str, ...]  # compute_120 ...: what newer GPUs can JIT from
    python_tags: tuple[str, ...]
    abi_tags: tuple[str, ...]
    platform_tags: tuple[str, ...]
    requires_python: str | None
    requires_dist: tuple[str, ...]


def inspect_wheel(location: str) -> WheelFacts:
    """The facts of the wheel at a path or URL (see wheelfile.open_wheel for its errors)."""
    archive = wheelfile.open_wheel(location)
    filename = urllib.parse.unquote(location.rstrip("/").rsplit("/", 1)[-1])
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise wheelfile.WheelUnreadable(f"{filename} is not a wheel's file name") from None
    metadata = _headers(_text(archive, _dist_info(archive, "METADATA")))
    version_py = _text(archive, VERSION_PY)
    flags = "\n".join(_text(archive, header) for header in ARCH_HEADERS)
    sass, ptx = _targets(flags)
    cuda = _field(version_py, "cuda")
    hip = _field(version_py, "hip")
    build_version = _field(version_py, "__version__")
    return WheelFacts(
        filename=filename,
        size=archive.size,
        fetched=archive.fetched,
        name=(metadata.get("name") or [""])[0],
        version=(metadata.get("version") or [""])[0],
        build_version=build_version,
        variant=_variant(build_version, cuda, hip, _field(version_py, "xpu")),
        cuda=cuda,
        hip=hip,
        sass=sass,
        ptx=ptx,
        python_tags=tuple(sorted({t.interpreter for t in tags})),
        abi_tags=tuple(sorted({t.abi for t in tags})),
        platform_tags=tuple(sorted({t.platform for t in tags})),
        requires_python=next(iter(metadata.get("requires-python", [])), None),
        requires_dist=tuple(metadata.get("requires-dist", [])),
    )


def _dist_info(archive: wheelfile.Archive, member: str) -> str:
    found = [name for name in archive.members if name.endswith(f".dist-info/{member}")]
    if not found:
        raise wheelfile.WheelUnreadable(f"it has no .dist-info/{member}")
    return min(found, key=len)  # the wheel's own, not a vendored package's


def _text(archive: wheelfile.Archive, member: str) -> str:
    if member not in archive.members:
        return ""
    return archive.member(member).decode("utf-8", errors="replace")


def _headers(text: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the description follows the headers
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace():
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    return fields


def _field(version_py: str, name: str) -> str | None:
    found = re.search(_FIELD.format(name=re.escape(name)), version_py, re.MULTILINE)
    return found.group(1) if found and found.group(1) else None


def _targets(flags: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    sass: list[str] = []
    ptx: list[str] = []
    for _, _, kind, number, suffix in _GENCODE.findall(flags):
        target = f"{kind}_{number}{suffix}"
        chosen = sass if kind == "sm" else ptx
        if target not in chosen:
            chosen.append(target)
    return tuple(sass), tuple(ptx)


def _variant(
    build_version: str | None, cuda: str | None, hip: str | None, xpu: str | None
) -> str | None:
    if build_version is None:
        return None
    local = build_version.partition("+")[2]
    if local:
        return local  # the index builds say it in the version itself
    if cuda:  # a PyPI build: no local tag, but version.py knows its CUDA
        major, _, minor = cuda.partition(".")
        return f"cu{major}{minor.split('.')[0]}"
    if hip:
        return "rocm" + ".".join(hip.split(".")[:2])
    return "xpu" if xpu else "cpu"
