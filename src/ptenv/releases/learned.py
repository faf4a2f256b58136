"""Release facts learned from an index by `ptenv data refresh`: the user's overlay.

The built-in data (torch.toml) is checked against primary sources before each ptenv release;
PyTorch ships more often than that. The overlay, `learned.toml` in the user data folder
(`releases.overlay_path`: `PTENV_DATA_DIR`, else `$XDG_DATA_HOME/ptenv`, else
`~/.local/share/ptenv`), holds what a
refresh read off an index: new releases and patches (their variants, Pythons, glibc floor),
the architecture lists of builds the data has none for, and the differences it saw. Every
fact records where it was read and when. It only ever adds: a built-in fact is never
replaced, and a disagreement is kept as a note for `ptenv data show`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from ptenv.models import ComputeCapability
from ptenv.releases import ArchRule, Release, ReleaseData

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LEARNED_SCHEMA = "ptenv.learned/1"
BUILT_IN_DATE = datetime.date(2026, 12, 2)  # torch.toml last checked against its sources
STALE_AFTER = datetime.timedelta(days=60)


@dataclass(frozen=True)
class Provenance:
    url: str  # the page or wheel read (credentials masked)
    date: str  # ISO date of the refresh
    how: str  # "index page", "range reads of the wheel"

    @property
    def text(self) -> str:
        return f"learned from {self.url} on {self.date} ({self.how})"


@dataclass(frozen=True)
class LearnedPatch:
    version: str  # 2.16.0
    variants: dict[str, tuple[str, ...]]  # platform -> variant tags
    pythons: dict[str, tuple[str, ...]]  # platform -> 3.12, 3.14t ...
    glibc: str | None  # the lowest manylinux floor of its Linux wheels
    provenance: Provenance
    pypi: dict[str, str] = field(default_factory=dict)  # platform -> variant of PyPI's wheel


@dataclass(frozen=True)
class LearnedArch:
    variant: str
    platform: str
    torch: str  # the patch it was read from
    sass: tuple[str, ...]  # compute capabilities, "9.0"
    ptx: tuple[str, ...]
    provenance: Provenance
    pypi: bool = False  # the list of PyPI's own (untagged) wheel


@dataclass(frozen=True)
class Overlay:
    refreshed: str  # ISO timestamp of the last refresh
    source: str
    patches: tuple[LearnedPatch, ...]
    arches: tuple[LearnedArch, ...]
    notes: tuple[str, ...]  # where the index disagrees with the built-in data


class OverlayUnreadable(Exception):
    """learned.toml exists but is not an overlay ptenv can read."""


def read(path: Path) -> Overlay | None:
    """The overlay at path; None when there is none; OverlayUnreadable when it is broken."""
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        if raw.get("schema") != LEARNED_SCHEMA:
            raise OverlayUnreadable(f"its schema is {raw.get('schema')!r}, not {LEARNED_SCHEMA}")
        return Overlay(
            refreshed=str(raw["refreshed"]),
            source=str(raw["source"]),
            patches=tuple(_patch(p) for p in raw.get("patch", [])),
            arches=tuple(_arch(a) for a in raw.get("arches", [])),
            notes=tuple(str(n) for n in raw.get("notes", [])),
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise OverlayUnreadable(str(error)) from None
    except (KeyError, TypeError, ValueError, InvalidVersion) as error:
        raise OverlayUnreadable(f"a field is missing or malformed ({error})") from None


def _provenance(raw: dict[str, Any]) -> Provenance:
    return Provenance(url=str(raw["url"]), date=str(raw["date"]), how=str(raw["how"]))


def _patch(raw: dict[str, Any]) -> LearnedPatch:
    Version(raw["version"])
    return LearnedPatch(
        version=str(raw["version"]),
        variants={k: tuple(map(str, v)) for k, v in raw["variants"].items()},
        pythons={k: tuple(map(str, v)) for k, v in raw["pythons"].items()},
        glibc=raw.get("glibc"),
        provenance=_provenance(raw["provenance"]),
        pypi={k: str(v) for k, v in raw.get("pypi", {}).items()},
    )


def _arch(raw: dict[str, Any]) -> LearnedArch:
    sass = tuple(map(str, raw["sass"]))
    ptx = tuple(map(str, raw.get("ptx", [])))
    for cc in (*sass, *ptx):
        ComputeCapability.parse(cc)
    return LearnedArch(
        variant=str(raw["variant"]),
        platform=str(raw["platform"]),
        torch=str(Version(raw["torch"])),
        sass=sass,
        ptx=ptx,
        provenance=_provenance(raw["provenance"]),
        pypi=bool(raw.get("pypi", False)),
    )


def write(path: Path, overlay: Overlay) -> None:
    """Write the overlay atomically (a reader never sees half a file)."""
    lines = [
        "# Learned by `ptenv data refresh`; every fact says where it was read. Safe to delete.",
        f"schema = {_q(LEARNED_SCHEMA)}",
        f"refreshed = {_q(overlay.refreshed)}",
        f"source = {_q(overlay.source)}",
        f"notes = [{', '.join(_q(n) for n in overlay.notes)}]",
    ]
    for patch in overlay.patches:
        lines += ["", "[[patch]]", f"version = {_q(patch.version)}"]
        if patch.glibc:
            lines.append(f"glibc = {_q(patch.glibc)}")
        lines.append(f"variants = {_table(patch.variants)}")
        lines.append(f"pythons = {_table(patch.pythons)}")
        if patch.pypi:
            pairs = ", ".join(f"{_q(k)} = {_q(v)}" for k, v in patch.pypi.items())
            lines.append(f"pypi = {{ {pairs} }}")
        lines.append(f"provenance = {_provenance_toml(patch.provenance)}")
    for arch in overlay.arches:
        lines += [
            "",
            "[[arches]]",
            f"variant = {_q(arch.variant)}",
            f"platform = {_q(arch.platform)}",
            f"torch = {_q(arch.torch)}",
            f"sass = [{', '.join(_q(s) for s in arch.sass)}]",
            f"ptx = [{', '.join(_q(s) for s in arch.ptx)}]",
            f"pypi = {'true' if arch.pypi else 'false'}",
            f"provenance = {_provenance_toml(arch.provenance)}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".learned-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def _table(mapping: Mapping[str, tuple[str, ...]]) -> str:
    items = ", ".join(
        f"{_q(k)} = [{', '.join(_q(v) for v in values)}]" for k, values in mapping.items()
    )
    return "{ " + items + " }" if items else "{}"


def _provenance_toml(provenance: Provenance) -> str:
    return (
        f"{{ url = {_q(provenance.url)}, date = {_q(provenance.date)}, "
        f"how = {_q(provenance.how)} }}"
    )


# --- merging into the built-in data --------------------------------------------------------


def merge(data: ReleaseData, overlay: Overlay) -> ReleaseData:
    """The built-in data plus the overlay's patches and architecture lists; a learned fact
    never replaces a built-in one (built-in arch rules keep matching first)."""
    releases = {release.minor: release for release in data.releases}
    for patch in overlay.patches:
        version = Version(patch.version)
        minor = f"{version.major}.{version.minor}"
        known = releases.get(minor)
        if known is not None and version in known.patches:
            continue  # the built-in data has it: its facts stand
        releases[minor] = _with_patch(known, minor, version, patch)
    rules = list(data.arch_rules)
    for arch in overlay.arches:
        version = Version(arch.torch)
        if _has_rule(data, arch, version):
            continue  # a built-in list stands
        rules.append(
            ArchRule(
                variant=arch.variant,
                platforms=(arch.platform,),
                torch=SpecifierSet(f"=={version}"),
                sass=tuple(ComputeCapability.parse(cc) for cc in arch.sass),
                ptx=tuple(ComputeCapability.parse(cc) for cc in arch.ptx),
                source="LEARNED",
                learned=arch.provenance.text,
                pypi=arch.pypi,
            )
        )
    ordered = tuple(sorted(releases.values(), key=lambda r: r.version))
    sources = {**data.sources, "LEARNED": f"ptenv data refresh ({overlay.source})"}
    return replace(
        data,
        releases=ordered,
        arch_rules=tuple(rules),
        sources=sources,
        learned_on=overlay.refreshed,
    )


def _has_rule(data: ReleaseData, arch: LearnedArch, version: Version) -> bool:
    return any(
        rule.pypi == arch.pypi
        and rule.variant == arch.variant
        and arch.platform in rule.platforms
        and version in rule.torch
        for rule in data.arch_rules
    )


def _with_patch(
    known: Release | None, minor: str, version: Version, patch: LearnedPatch
) -> Release:
    """A release with one learned patch: a new release, or a known one with a newer patch
    whose variants and Pythons hold for that patch only."""
    every_python = sorted({py for pys in patch.pythons.values() for py in pys})
    if known is None:
        return Release(
            minor=minor,
            patches=(version,),
            python=(),
            free_threaded=(),
            python_extra=dict(patch.pythons),
            variants=dict(patch.variants),
            only_in_patches={},
            glibc=patch.glibc,
            glibc_by_variant={},
            macos_arm64_min=None,
            companions={},
            source="LEARNED",
            learned_patches={version: patch.provenance.text},
            pypi=dict(patch.pypi),
        )
    variants = dict(known.variants)
    only = dict(known.only_in_patches)
    for platform, tags in patch.variants.items():
        for tag in tags:
            if tag not in variants.get(platform, ()):
                variants[platform] = (*variants.get(platform, ()), tag)
                only[tag] = (*only.get(tag, ()), version)
    extra = dict(known.python_extra)
    python_only = dict(known.python_only_in_patches)
    for platform, pythons in patch.pythons.items():
        for python in pythons:
            if python not in known.pythons(platform):
                extra[platform] = (*extra.get(platform, ()), python)
                python_only[python] = (*python_only.get(python, ()), version)
    # Pythons the release has but this patch's wheels lack: only the older patches have them
    for python in {*known.python, *known.free_threaded} - set(every_python):
        python_only.setdefault(python, known.patches)
    return replace(
        known,
        patches=tuple(sorted((*known.patches, version))),
        variants=variants,
        only_in_patches=only,
        python_extra=extra,
        python_only_in_patches=python_only,
        learned_patches={**known.learned_patches, version: patch.provenance.text},
        pypi={**patch.pypi, **known.pypi},  # a built-in fact stands
    )


def data_date(refreshed: str) -> datetime.date:
    """The newer of the built-in data's date and a refresh's (ISO timestamp, "" for none)."""
    newest = BUILT_IN_DATE
    with contextlib.suppress(ValueError):
        newest = max(newest, datetime.date.fromisoformat(refreshed[:10]))
    return newest


def is_stale(refreshed: str, today: datetime.date) -> bool:
    """The data (built-in, or the last refresh) is older than 60 days."""
    return today - data_date(refreshed) > STALE_AFTER


@dataclass(frozen=True)
class DataSummary:
    built_in: ReleaseData
    built_in_date: datetime.date
    path: Path
    overlay: Overlay | None
    problem: str | None  # why the overlay file is ignored
    stale: bool
