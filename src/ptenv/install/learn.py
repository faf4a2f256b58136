"""Learning torch releases from an index: what `ptenv data refresh` reads.

The index's torch page of each variant folder (PEP 691 JSON, else HTML) lists every wheel,
and its file name says the release, the variant (local tag), the Python and the platform.
What the data lacks is then learned: new patches with their variants, Pythons and glibc
floor, and, by reading one wheel per new (patch, variant, platform) with range requests,
the GPU architectures it was compiled for. Disagreements with the built-in data become notes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from ptenv import _http, redact
from ptenv.install import index
from ptenv.models import Variant, VariantKind
from ptenv.releases import Release, ReleaseData
from ptenv.releases.coverage import split_arch_list
from ptenv.releases.learned import LearnedArch, LearnedPatch, Provenance
from ptenv.releases.wheelfile import WheelUnreadable
from ptenv.releases.wheelinfo import WheelFacts, inspect_wheel

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_")
_LEGACY = {"manylinux1": "2.5", "manylinux2010": "2.12", "manylinux2014": "2.17"}


@dataclass(frozen=True)
class Seen:
    """One torch wheel on the index."""

    version: Version  # public: 2.16.0
    variant: str
    platform: str
    python: str  # 3.12, 3.14t
    glibc: str | None
    url: str


@dataclass
class Learned:
    patches: list[LearnedPatch] = field(default_factory=list)
    arches: list[LearnedArch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wheels_seen: int = 0
    bytes_read: int = 0


def platform_of(tag_platform: str) -> tuple[str, str | None] | None:
    """(ptenv platform, glibc floor) of a wheel platform tag; None for one ptenv does not plan."""
    for legacy, glibc in _LEGACY.items():
        if tag_platform.startswith(legacy + "_"):
            return f"linux-{tag_platform.removeprefix(legacy + '_')}", glibc
    found = _MANYLINUX.match(tag_platform)
    if found:
        arch = tag_platform[found.end() :]
        return f"linux-{arch}", f"{found.group(1)}.{found.group(2)}"
    if tag_platform == "win_amd64":
        return "windows-x86_64", None
    if tag_platform.startswith("macosx_"):
        for arch in ("arm64", "x86_64"):
            if tag_platform.endswith("_" + arch):
                return f"macos-{arch}", None
    return None


def python_of(interpreter: str, abi: str) -> str | None:
    if not interpreter.startswith("cp") or not interpreter[2:].isdigit():
        return None
    digits = interpreter[2:]
    minor = f"{digits[0]}.{digits[1:]}"
    return minor + "t" if abi.endswith("t") else minor


def scan(base: str, variants: Iterable[str]) -> list[Seen]:
    """Every torch 2.x wheel in the variant folders of an index (a missing folder: none)."""
    seen: list[Seen] = []
    for tag in variants:
        for file in index.fetch_project(f"{base.rstrip('/')}/{tag}", "torch"):
            seen += _wheel(file.filename, file.url, tag)
    return seen


def _wheel(filename: str, url: str, folder: str) -> list[Seen]:
    try:
        _, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return []
    if version.major != 2 or version.is_prerelease or version.is_devrelease:
        return []
    variant = version.local or folder
    found = []
    for tag in tags:
        place = platform_of(tag.platform)
        python = python_of(tag.interpreter, tag.abi)
        if place is not None and python is not None:
            found.append(Seen(Version(version.public), variant, place[0], python, place[1], url))
    return found


def learn(
    base: str,
    data: ReleaseData,
    seen: list[Seen],
    today: str,
    inspect: Callable[[str], WheelFacts] = inspect_wheel,
) -> Learned:
    """What `seen` adds to `data`: new patches, missing architecture lists, disagreements."""
    learned = Learned(wheels_seen=len({s.url for s in seen}))
    shown_base = redact.url(base)
    by_patch: dict[Version, list[Seen]] = {}
    for item in seen:
        by_patch.setdefault(item.version, []).append(item)
    for patch, items in sorted(by_patch.items()):
        release = data.release(f"{patch.major}.{patch.minor}")
        usable = [i for i in items if _plannable(i.variant, data, learned, patch)]
        if release is None or patch not in release.patches:
            learned.patches.append(_patch(patch, usable, shown_base, today))
        else:
            _compare(release, patch, usable, learned)
        for key, sample in _one_wheel_per_build(usable).items():
            variant, platform = key
            if Variant.parse(variant).kind is not VariantKind.CUDA:
                continue
            known = release is not None and patch in release.patches
            if known and data.arches(variant, platform, patch) is not None:
                continue  # the built-in data has its list: not re-read
            _read_arches(sample, patch, variant, today, inspect, learned)
    return learned


def _plannable(variant: str, data: ReleaseData, learned: Learned, patch: Version) -> bool:
    try:
        parsed = Variant.parse(variant)
    except ValueError:
        return False
    if parsed.kind is VariantKind.CUDA and variant not in data.cuda_variants:
        note = (
            f"the index has torch {patch} {variant}, a CUDA version this ptenv has no driver "
            "facts for: a newer ptenv is needed to plan it"
        )
        if note not in learned.notes:
            learned.notes.append(note)
        return False
    return True


def _patch(patch: Version, items: list[Seen], base: str, today: str) -> LearnedPatch:
    variants: dict[str, list[str]] = {}
    pythons: dict[str, list[str]] = {}
    for item in items:
        if item.variant not in variants.setdefault(item.platform, []):
            variants[item.platform].append(item.variant)
        if item.python not in pythons.setdefault(item.platform, []):
            pythons[item.platform].append(item.python)
    floors = [Version(i.glibc) for i in items if i.glibc]
    return LearnedPatch(
        version=str(patch),
        variants={k: tuple(sorted(v, key=_variant_order)) for k, v in sorted(variants.items())},
        pythons={k: tuple(sorted(v, key=_python_order)) for k, v in sorted(pythons.items())},
        glibc=str(min(floors)) if floors else None,
        provenance=Provenance(url=f"{base}/<variant>/torch/", date=today, how="index pages"),
    )


def _compare(release: Release, patch: Version, items: list[Seen], learned: Learned) -> None:
    """A patch the data has: where the index shows more, say so (the data is not changed)."""
    for platform in sorted({i.platform for i in items}):
        listed = {v.tag for v in release.variants_for(platform, patch)}
        extra = sorted({i.variant for i in items if i.platform == platform} - listed)
        if extra and platform in release.variants:
            learned.notes.append(
                f"the index has torch {patch} {', '.join(extra)} for {platform}, which the "
                "built-in data does not list (kept as it is; report it if it is real)"
            )


def _one_wheel_per_build(items: list[Seen]) -> dict[tuple[str, str], Seen]:
    """The wheel to read for each (variant, platform): its CPython 3.12 one where there is one."""
    chosen: dict[tuple[str, str], Seen] = {}
    for item in sorted(items, key=lambda i: (i.python != "3.12", _python_order(i.python))):
        chosen.setdefault((item.variant, item.platform), item)
    return chosen


def _read_arches(
    sample: Seen,
    patch: Version,
    variant: str | None,
    today: str,
    inspect: Callable[[str], WheelFacts],
    learned: Learned,
    *,
    pypi: bool = False,
) -> WheelFacts | None:
    """Read one wheel and learn its architecture list (for `variant`, else the variant the
    wheel itself says: PyPI's are untagged); None when it cannot be read."""
    shown = redact.url(sample.url)
    try:
        facts = inspect(sample.url)
    except (_http.HttpError, WheelUnreadable, OSError) as error:
        learned.notes.append(
            f"the architecture list of torch {patch} {variant or '(PyPI)'} on {sample.platform} "
            f"stays unknown: {shown} could not be read ({error})"
        )
        return None
    learned.bytes_read += facts.fetched
    sass, ptx = split_arch_list((*facts.sass, *facts.ptx))
    if not sass and not ptx:
        if not pypi:
            learned.notes.append(f"{shown} names no GPU architectures in its build flags")
        return facts
    learned.arches.append(
        LearnedArch(
            variant=variant or facts.variant or "cpu",
            platform=sample.platform,
            torch=str(patch),
            sass=tuple(dict.fromkeys(str(cc) for cc in sass)),
            ptx=tuple(dict.fromkeys(str(cc) for cc in ptx)),
            provenance=Provenance(url=shown, date=today, how="range reads of the wheel"),
            pypi=pypi,
        )
    )
    return facts


def _variant_order(tag: str) -> tuple[int, str]:
    return (0 if tag == "cpu" else 1, tag)


def _python_order(python: str) -> tuple[int, int, bool]:
    major, _, rest = python.partition(".")
    return int(major), int(rest.rstrip("t")), rest.endswith("t")


# --- PyPI's own builds ----------------------------------------------------------------------


def learn_pypi(
    url: str,
    data: ReleaseData,
    learned: Learned,
    today: str,
    inspect: Callable[[str], WheelFacts] = inspect_wheel,
) -> None:
    """PyPI's untagged wheels (from PyPI's simple index or a mirror of it): which variant each
    new patch is per platform (torch/version.py of one wheel each: cu132 on Linux), and its
    own architecture list, for the patches `learned` has and the data's releases lack."""
    shown = redact.url(url)
    wheels = [w for f in index.fetch_project(url, "torch") for w in _wheel(f.filename, f.url, "")]
    learned.wheels_seen += len({w.url for w in wheels})
    by_patch: dict[Version, list[Seen]] = {}
    for wheel in wheels:
        if not Version(str(wheel.version)).local:
            by_patch.setdefault(wheel.version, []).append(wheel)
    new = {Version(p.version): i for i, p in enumerate(learned.patches)}
    for patch, items in sorted(by_patch.items()):
        release = data.release(f"{patch.major}.{patch.minor}")
        if patch not in new:
            if release is None or patch not in release.patches:
                learned.notes.append(
                    f"PyPI has torch {patch}, which the index does not: not learned (ptenv "
                    "plans the index builds; refresh from an index that has it)"
                )
            continue
        variants: dict[str, str] = {}
        for (_, platform), sample in _one_wheel_per_build(items).items():
            found = _pypi_build(sample, patch, today, inspect, learned)
            if found is not None:
                variants[platform] = found
        index_of = new[patch]
        learned.patches[index_of] = replace(learned.patches[index_of], pypi=variants)
    if not by_patch:
        learned.notes.append(f"{shown} lists no untagged torch wheels (not PyPI's layout?)")


def _pypi_build(
    sample: Seen,
    patch: Version,
    today: str,
    inspect: Callable[[str], WheelFacts],
    learned: Learned,
) -> str | None:
    """The variant of PyPI's wheel on one platform (its own SASS list learned with it)."""
    if not sample.platform.startswith("linux-"):
        return "cpu"  # PyPI's Windows and macOS wheels are the CPU build
    facts = _read_arches(sample, patch, None, today, inspect, learned, pypi=True)
    return None if facts is None else facts.variant or "cpu"
