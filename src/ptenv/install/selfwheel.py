"""ptenv's own wheel, packed from the running installation, for a Docker image or a machine
that cannot fetch ptenv: ptenv is pure Python, so its package folder plus its metadata is the
whole wheel (the same files `pip install` of a built wheel would write)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

from ptenv import __version__

_SKIPPED_PARTS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def wheel_name() -> str:
    return f"ptenv-{__version__}-py3-none-any.whl"


def build(folder: Path) -> Path:
    """Write ptenv-VERSION-py3-none-any.whl into folder; its path."""
    package = Path(__file__).resolve().parent.parent  # src/ptenv, from ptenv/install/
    dist_info = f"ptenv-{__version__}.dist-info"
    members: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if not path.is_file() or path.suffix in _SKIPPED_SUFFIXES:
            continue
        if any(part in _SKIPPED_PARTS for part in relative.parts):
            continue
        members[f"ptenv/{relative.as_posix()}"] = path.read_bytes()
    distribution = importlib.metadata.distribution("ptenv")
    members[f"{dist_info}/METADATA"] = (distribution.read_text("METADATA") or "").encode()
    members[f"{dist_info}/entry_points.txt"] = (
        distribution.read_text("entry_points.txt") or ""
    ).encode()
    members[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: ptenv (packed from its installation)\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = folder / wheel_name()
    fresh = target.with_name(target.name + ".part")
    with zipfile.ZipFile(fresh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    fresh.replace(target)
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
