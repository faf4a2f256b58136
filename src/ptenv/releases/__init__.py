"""The release knowledge: typed views over the TOML data files beside this module.

Loading parses three small TOML files once per process (a few milliseconds), plus the user's
overlay of learned facts when there is one (see learned.py); nothing here touches the
network or the clock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ptenv.models import ComputeCapability, DriverVersion, Variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64", "macos-x86_64")


@dataclass(frozen=True, kw_only=True)
class CudaVariant:
    name: str
    cuda: Version
    toolkit_driver: dict[str, str]  # os -> driver version
    floor: dict[str, str]  # os -> minor-version-compatibility minimum
    source: str
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Companions:
    torchvision: str
    torchaudio: str
    source: str
    untagged: tuple[str, ...] = ()  # single py3-none wheels: pinned without a local tag


@dataclass(frozen=True, kw_only=True)
class Release:
    minor: str  # "2.14"
    patches: tuple[Version, ...]
    python: tuple[str, ...]
    free_threaded: tuple[str, ...]
    python_extra: dict[str, tuple[str, ...]]
    variants: dict[str, tuple[str, ...]]  # platform -> variant tags
    only_in_patches: dict[str, tuple[Version, ...]]
    glibc: str | None
    glibc_by_variant: dict[str, str]
    glibc_by_platform: dict[str, str] = field(default_factory=dict)
    macos_arm64_min: str | None
    companions: dict[Version, Companions]
    source: str
    unverified: tuple[str, ...] = ()
    pypi: dict[str, str] = field(default_factory=dict)  # platform -> variant of PyPI's wheel
    pypi_source: str = ""
    # A Python minor only some patches publish (2.12.0 has cp313t wheels, 2.12.1 none)
    python_only_in_patches: dict[str, tuple[Version, ...]] = field(default_factory=dict)
    toolkit: dict[Version, str] = field(default_factory=dict)  # patch -> CUDA toolkit on PyPI
    learned_patches: dict[Version, str] = field(default_factory=dict)  # patch -> provenance

    @property
    def version(self) -> Version:
        return Version(self.minor)

    @property
    def latest(self) -> Version:
        return self.patches[-1]

    def pythons(self, platform: str, patch: Version | None = None) -> tuple[str, ...]:
        """Python minors (3.12, 3.14t) with wheels for this platform (in that patch, if given;
        any patch of the release otherwise)."""
        every = self.python + self.free_threaded + self.python_extra.get(platform, ())
        if patch is None:
            return every
        only = self.python_only_in_patches
        return tuple(py for py in every if py not in only or patch in only[py])

    def glibc_floor(self, platform: str, variant: str) -> str | None:
        return (
            self.glibc_by_variant.get(variant)
            or self.glibc_by_platform.get(platform)
            or (self.glibc)
        )

    def variants_for(self, platform: str, patch: Version) -> tuple[Variant, ...]:
        tags = self.variants.get(platform, ())
        return tuple(
            Variant.parse(tag)
            for tag in tags
            if tag not in self.only_in_patches or patch in self.only_in_patches[tag]
        )

    def pypi_variant(self, platform: str) -> Variant:
        """The build PyPI's untagged torch wheel is on this platform (CPU where none is listed)."""
        return Variant.parse(self.pypi.get(platform, "cpu"))

    def is_unverified(self, *keys: str) -> bool:
        """True when a fact at any of these dotted keys (or a prefix of one) is UNVERIFIED."""
        for key in keys:
            parts = key.split(".")
            prefixes = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
            if prefixes & set(self.unverified):
                return True
        return False


@dataclass(frozen=True, kw_only=True)
class ArchRule:
    variant: str
    platforms: tuple[str, ...]
    torch: SpecifierSet
    sass: tuple[ComputeCapability, ...]
    ptx: tuple[ComputeCapability, ...]
    source: str
    unverified: bool = False
    unverified_ptx: bool = False
    pypi: bool = False  # the list of PyPI's own (untagged) wheel, not the index's
    learned: str = ""  # provenance, for a list `ptenv data refresh` read off a wheel


@dataclass(frozen=True, kw_only=True)
class RocmList:
    """The gfx targets compiled into a ROCm index's wheels (as get_arch_list() gives them)."""

    index: str  # rocm6.4
    targets: tuple[str, ...]
    source: str  # its source tag
    torch: tuple[str, ...] = ()  # the torch minors it is for; () every release on the index
    unverified: bool = False

    def fits(self, minor: str) -> bool:
        return not self.torch or minor in self.torch


@dataclass(frozen=True, kw_only=True)
class ReleaseData:
    sources: dict[str, str]
    releases: tuple[Release, ...]  # oldest first
    cuda_variants: dict[str, CudaVariant]
    arch_rules: tuple[ArchRule, ...]
    driver_branches: tuple[tuple[int, Version], ...]  # (branch, newest CUDA), ascending
    raw_sources: dict[str, list[str]] = field(default_factory=dict)  # table -> source fields
    # gfx lists: per torch release first (that release's own build), then per index
    rocm_lists: tuple[RocmList, ...] = ()
    learned_on: str = ""  # when the merged overlay was refreshed (ISO); "" for built-in only

    def release(self, minor: str) -> Release | None:
        return next((r for r in self.releases if r.minor == minor), None)

    def rocm_targets(self, minor: str, index: str) -> RocmList | None:
        """The gfx targets of torch `minor`'s build on ROCm index `index`, if known."""
        return next((r for r in self.rocm_lists if r.index == index and r.fits(minor)), None)

    @property
    def every_gfx(self) -> frozenset[str]:
        return frozenset(g for r in self.rocm_lists for g in r.targets)

    def cite(self, tags: str) -> str:
        """A fact's `source` tags ("PYPI; AUDIO") as the sources they stand for, for people."""
        return "; ".join(self.sources.get(tag.strip(), tag.strip()) for tag in tags.split(";"))

    @property
    def newest(self) -> Release:
        return self.releases[-1]

    def arches(
        self, variant: str, platform: str, torch: Version, *, pypi: bool = False
    ) -> ArchRule | None:
        """The architecture list compiled into (variant, platform, torch), or None if unknown.

        pypi: PyPI's own wheel of that release. Its measured list where the data has one;
        else the index build's, without PTX: no PyPI CUDA wheel carries any (§13.2)."""
        matching = [
            rule
            for rule in self.arch_rules
            if rule.variant == variant and platform in rule.platforms and torch in rule.torch
        ]
        if pypi:
            own = next((rule for rule in matching if rule.pypi), None)
            if own is not None:
                return own
        index = next((rule for rule in matching if not rule.pypi), None)
        if pypi and index is not None:
            return replace(index, ptx=(), unverified_ptx=False, pypi=True)
        return index

    def cuda_for_driver(self, driver: DriverVersion) -> Version | None:
        """The newest CUDA a driver branch supports (R550 -> 12.4), or None below the table."""
        found: Version | None = None
        for branch, cuda in self.driver_branches:
            if driver.branch >= branch:
                found = cuda
        return found

    def python_range(self) -> tuple[Version, Version]:
        """Oldest and newest regular CPython minor any 2.x release publishes wheels for."""
        minors = {
            Version(py)
            for release in self.releases
            for platform in PLATFORMS
            for py in release.pythons(platform)
            if not py.endswith("t")
        }
        return min(minors), max(minors)


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    document: dict[str, Any] = tomllib.loads(text)
    return document


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _release(raw: dict[str, Any]) -> Release:
    return Release(
        minor=raw["minor"],
        patches=tuple(Version(p) for p in raw["patches"]),
        python=_tuple(raw.get("python")),
        free_threaded=_tuple(raw.get("free_threaded")),
        python_extra={k: _tuple(v) for k, v in raw.get("python_extra", {}).items()},
        variants={k: _tuple(v) for k, v in raw.get("variants", {}).items()},
        only_in_patches={
            k: tuple(Version(p) for p in v) for k, v in raw.get("only_in_patches", {}).items()
        },
        glibc=raw.get("glibc"),
        glibc_by_variant=dict(raw.get("glibc_by_variant", {})),
        glibc_by_platform=dict(raw.get("glibc_by_platform", {})),
        macos_arm64_min=raw.get("macos_arm64_min"),
        companions={
            Version(patch): Companions(
                c["torchvision"], c["torchaudio"], c["source"], _tuple(c.get("untagged"))
            )
            for patch, c in raw.get("companions", {}).items()
        },
        source=raw["source"],
        unverified=_tuple(raw.get("unverified")),
        pypi={k: str(v) for k, v in raw.get("pypi", {}).items()},
        pypi_source=str(raw.get("pypi_source", "")),
        python_only_in_patches={
            k: tuple(Version(p) for p in v)
            for k, v in raw.get("python_only_in_patches", {}).items()
        },
        toolkit={Version(k): str(v) for k, v in raw.get("toolkit", {}).items()},
    )


def _arch_rule(raw: dict[str, Any]) -> ArchRule:
    return ArchRule(
        variant=raw["variant"],
        platforms=_tuple(raw["platforms"]),
        torch=SpecifierSet(raw["torch"]),
        sass=tuple(ComputeCapability.parse(cc) for cc in raw.get("sass", ())),
        ptx=tuple(ComputeCapability.parse(cc) for cc in raw.get("ptx", ())),
        source=raw["source"],
        unverified=bool(raw.get("unverified", False)),
        unverified_ptx=bool(raw.get("unverified_ptx", False)),
        pypi=bool(raw.get("pypi", False)),
    )


LEARNED_FILE = "learned.toml"


def data_dir(env: Mapping[str, str]) -> Path:
    """The user data folder: PTENV_DATA_DIR, else $XDG_DATA_HOME/ptenv, ~/.local/share/ptenv."""
    if env.get("PTENV_DATA_DIR"):
        return Path(env["PTENV_DATA_DIR"])
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ptenv"


def overlay_path(env: Mapping[str, str]) -> Path:
    """Where `ptenv data refresh` keeps what it learned (see learned.py)."""
    return data_dir(env) / LEARNED_FILE


def load() -> ReleaseData:
    """The built-in data plus the user's overlay (PTENV_DATA_DIR/learned.toml) when there is a
    readable one; a broken overlay is ignored here (`ptenv data show` names it)."""
    path = overlay_path(os.environ)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return built_in()  # the common case: learned.py is not even imported
    return _with_overlay(str(path), stamp)


@cache
def _with_overlay(path: str, _stamp: int) -> ReleaseData:
    from ptenv.releases import learned  # noqa: PLC0415 - learned.py imports this module

    try:
        overlay = learned.read(Path(path))
    except learned.OverlayUnreadable:
        return built_in()
    return learned.merge(built_in(), overlay) if overlay is not None else built_in()


@cache
def built_in() -> ReleaseData:
    """Parse the data files once per process."""
    sources = _read("sources.toml")["sources"]
    torch = _read("torch.toml")
    cuda = _read("cuda.toml")
    variants = {
        raw["name"]: CudaVariant(
            name=raw["name"],
            cuda=Version(raw["cuda"]),
            toolkit_driver=dict(raw["toolkit_driver"]),
            floor=dict(raw["floor"]),
            source=raw["source"],
            unverified=_tuple(raw.get("unverified")),
        )
        for raw in cuda["variant"]
    }
    releases = tuple(sorted((_release(r) for r in torch["release"]), key=lambda r: r.version))
    branches = cuda["driver_branches"]
    return ReleaseData(
        sources=dict(sources),
        releases=releases,
        cuda_variants=variants,
        arch_rules=tuple(_arch_rule(r) for r in torch["arches"]),
        driver_branches=tuple((int(b), Version(c)) for b, c in branches["branches"]),
        rocm_lists=_rocm_lists(cuda),
        raw_sources={
            "release": [r["source"] for r in torch["release"]],
            "companions": [
                c["source"] for r in torch["release"] for c in r.get("companions", {}).values()
            ],
            "arches": [r["source"] for r in torch["arches"]],
            "variant": [v["source"] for v in cuda["variant"]],
            "driver_branches": [branches["source"]],
            "rocm": [cuda["rocm"]["source"], *(t["source"] for t in cuda["rocm_release"])],
        },
    )


def _rocm_lists(cuda: dict[str, Any]) -> tuple[RocmList, ...]:
    """Per-release lists first, so they win over the per-index table."""

    def lists(table: dict[str, Any], torch: tuple[str, ...]) -> list[RocmList]:
        return [
            RocmList(index=index, targets=_tuple(gfx), source=str(table["source"]), torch=torch,
                     unverified=bool(table.get("unverified")))
            for index, gfx in table["targets"].items()
        ]  # fmt: skip

    per_release = [x for t in cuda.get("rocm_release", ()) for x in lists(t, _tuple(t["torch"]))]
    return (*per_release, *lists(cuda["rocm"], ()))
