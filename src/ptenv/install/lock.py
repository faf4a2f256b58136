"""ptenv.lock: exact versions, sha256, source URL per wheel, the plan, and the machine it was
made for. `ptenv install --lock FILE` reproduces it, hash-checked; doctor reports drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptenv import __version__, redact
from ptenv.errors import UsageError
from ptenv.models import Machine, Pin, Plan, Variant
from ptenv.schema import LockDocument

if TYPE_CHECKING:  # sources pulls in the network modules; doctor reads locks without them
    from ptenv.install.sources import Source, SourceKind

SCHEMA = "ptenv.lock/1"
LOCK_NAME = "ptenv.lock"


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str
    version: str
    filename: str | None
    url: str | None
    sha256: str | None


@dataclass(frozen=True)
class Lock:
    plan: Plan
    source: Source
    fingerprint: dict[str, Any]
    packages: tuple[LockedPackage, ...]


def default_path(venv: Path) -> Path:
    """Beside the venv: ./ptenv.lock for ./.venv."""
    return venv.parent / LOCK_NAME


def fingerprint(machine: Machine) -> dict[str, Any]:
    """The facts a torch build depends on."""
    return {
        "platform": machine.platform,
        "os": machine.os.system,
        "python": machine.python.minor_version + ("t" if machine.python.free_threaded else ""),
        "driver": str(machine.nvidia.driver_version) if machine.nvidia.driver_version else None,
        "gpus": [
            str(g.compute_capability)
            for g in machine.nvidia.visible_gpus
            if g.compute_capability is not None
        ],
    }


def write(
    path: Path, plan: Plan, source: Source, machine: Machine, packages: list[LockedPackage]
) -> None:
    document: LockDocument = {
        "schema": SCHEMA,
        "ptenv": __version__,
        "plan": {**plan.summary(), "index_url": redact.url(plan.index_url)},
        "source": {
            "kind": source.kind.value,
            "label": redact.text(source.label),
            "index_url": _shown(source.index_url),
            "find_links": [redact.url(u) for u in source.find_links],
            "extra_index_urls": [redact.url(u) for u in source.extra_index_urls],
        },
        "machine": fingerprint(machine),
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "filename": p.filename,
                "url": _shown(p.url),
                "sha256": p.sha256,
            }
            for p in sorted(packages, key=lambda p: p.name)
        ],
    }
    fresh = path.with_name(path.name + ".tmp")
    try:
        fresh.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        fresh.replace(path)
    except OSError:
        fresh.unlink(missing_ok=True)  # a full disk must not leave half a lock behind
        raise


def _shown(url: str | None) -> str | None:
    """Credentials never go into the lock: the replay gets them from netrc."""
    return redact.url(url) if url else url


def _usable(url: str | None) -> str | None:
    """A URL read back from a lock: a masked one loses its user info (netrc supplies it)."""
    return redact.strip_credentials(url) if url and redact.is_redacted(url) else url


def read(path: Path) -> Lock:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(
            f"--lock {path}: cannot read it ({error}).",
            hint="Give a ptenv.lock written by `ptenv install`.",
        ) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(
            f"--lock {path} is not a {SCHEMA} file.",
            hint="Give a ptenv.lock written by `ptenv install`.",
        )
    try:
        return Lock(
            plan=_plan(document["plan"]),
            source=_source(document["source"]),
            fingerprint=dict(document.get("machine", {})),
            packages=tuple(LockedPackage(**p) for p in document["packages"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(
            f"--lock {path} is damaged ({type(error).__name__}: {error}).",
            hint="Recreate it with `ptenv install`, or restore it from version control.",
        ) from None


def _plan(raw: dict[str, Any]) -> Plan:
    return Plan(
        torch=raw["torch"],
        variant=Variant.parse(raw["variant"]),
        index_url=_usable(raw["index_url"]) or raw["index_url"],
        packages=tuple(Pin.parse(p) for p in raw["packages"]),
        python=raw["python"],
        platform=raw["platform"],
        reasons=(),
        warnings=(),
    )


def _source(raw: dict[str, Any]) -> Source:
    from ptenv.install.sources import Source, SourceKind  # noqa: PLC0415 - off doctor's path

    label = raw["label"]
    return Source(
        kind=SourceKind(raw["kind"]) if "kind" in raw else _kind_of_old_label(label),
        label=label,
        index_url=_usable(raw.get("index_url")),
        find_links=tuple(_usable(u) or u for u in raw.get("find_links", ())),
        extra_index_urls=tuple(_usable(u) or u for u in raw.get("extra_index_urls", ())),
    )


def _kind_of_old_label(label: str) -> SourceKind:
    """Locks written before the source kind was recorded: their label says it, once."""
    from ptenv.install.sources import SourceKind  # noqa: PLC0415 - off doctor's path

    for prefix, kind in (
        ("wheelhouse ", SourceKind.WHEELHOUSE),
        ("mirror ", SourceKind.MIRROR),
        ("pip config", SourceKind.PIP_CONFIG),
    ):
        if label.startswith(prefix):
            return kind
    return SourceKind.INDEX


def requirements(lock: Lock) -> str:
    """Hash-pinned requirement lines for every locked package."""
    lines = []
    for package in lock.packages:
        if not package.sha256:
            raise UsageError(
                f"The lock has no sha256 for {package.name}; it cannot be reproduced hash-checked.",
                hint="Recreate it with ptenv install.",
            )
        lines.append(f"{package.name}=={package.version} --hash=sha256:{package.sha256}")
    return "\n".join(lines) + "\n"


def drift(locked: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human sentences for each fingerprint fact that changed."""
    changes = []
    for key, label in (
        ("driver", "NVIDIA driver"),
        ("gpus", "GPUs (compute capability)"),
        ("python", "Python"),
        ("platform", "platform"),
    ):
        if locked.get(key) != current.get(key):
            changes.append(
                f"{label}: {locked.get(key) or 'none'} when locked, "
                f"{current.get(key) or 'none'} now"
            )
    return changes
