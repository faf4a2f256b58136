"""Is the venv already what was asked? The tests the install makes before doing anything,
shared with the console script's fast path (ptenv.fastpath), so that both decide alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ptenv.install import lock as lockfile
from ptenv.models import Machine, Pin, Plan, VenvInfo


def request_record(torch: str, cuda: str, with_packages: Sequence[str]) -> dict[str, object]:
    """What the user asked for, as the lock records it: a different ask resolves afresh."""
    return {"torch": torch, "cuda": cuda, "with": list(with_packages)}


def companions(value: str) -> tuple[str, ...]:
    """--with torchvision,torchaudio -> ("torchvision", "torchaudio")."""
    return tuple(p.strip() for p in value.split(",") if p.strip())


def own_lock_fits(lock: lockfile.Lock, asked: Mapping[str, object], machine: Machine) -> bool:
    """The venv's own lock is honoured while it was written for this ask on this machine."""
    same_machine = not lockfile.drift(lock.fingerprint, lockfile.fingerprint(machine))
    return not lock.old_format and dict(lock.request) == dict(asked) and same_machine


def already_installed(existing: VenvInfo, plan: Plan) -> bool:
    """Every planned pin is installed, as that very build."""
    for pin in plan.packages:
        if pin.name == "torch" and existing.torch is not None:
            have = [existing.torch.version]
        else:
            have = list(existing.distributions.get(canonicalize_name(pin.name), ()))
        if not any(same_build(parse_version(v), pin, plan) for v in have):
            return False
    return True


def same_build(have: Version | None, pin: Pin, plan: Plan) -> bool:
    """An untagged pin (PyPI's build) is met by torch/version.py's `2.15.0+cu132`."""
    if have is None:
        return False
    if have == pin.version:
        return True
    untagged = pin.name == "torch" and pin.version.local is None
    return untagged and have.public == pin.version.public and have.local == plan.variant.tag


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def answer_line(plan: Plan, venv: Path) -> str:
    pins = " ".join(map(str, plan.packages))
    return f"Already installed: {pins} in {venv} — nothing to do.\n"
