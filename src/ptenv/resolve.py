"""Machine + Request -> Plan. Pure: no I/O, no clock, no environment.

The policy (each step recorded in Plan.reasons):
 1. candidates: torch releases matching the request that publish wheels for the target
    Python and platform (glibc and macOS floors included when known);
 2. a CUDA variant is usable when the driver meets its minor-version-compatibility floor and
    every visible GPU is covered by its SASS (same major, minor >=) or PTX (any newer GPU,
    only with the variant's toolkit driver);
 3. among usable variants prefer native ones (variant CUDA <= driver CUDA), the highest;
    else the lowest one above it, with a warning;
 4. unpinned: the newest torch with a usable variant, saying what a newer torch would need;
 5. pinned with nothing usable: NoCompatibleBuild with the options; never silently CPU;
 6. no NVIDIA GPU: the cpu variant;
 7. --cuda X: used when published for the platform, with a warning if this machine cannot
    run it; unknown or unpublished: a usage error listing the valid ones;
 8. --with torchvision,torchaudio: the matching versions from the same index;
 9. exact pins with the local tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ptenv.errors import NoCompatibleBuild, UsageError
from ptenv.models import Gpu, Machine, Pin, Plan, Request, Variant, VariantKind
from ptenv.releases import PLATFORMS, ArchRule, CudaVariant, Release, ReleaseData
from ptenv.releases.coverage import coverage

COMPANIONS = ("torchvision", "torchaudio")
_FIRST_TORCH_2 = Version("2.0")


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """Whether one CUDA variant of one torch patch runs on the target, and why."""

    variant: Variant
    usable: bool
    native: bool
    why: str  # one clause: "needs driver >= 580", "no kernels for sm_61"
    warnings: tuple[str, ...] = ()
    needed_driver: Version | None = None  # the driver that would make it usable, if that helps


def parse_torch_spec(text: str) -> SpecifierSet | None:
    """'latest' -> None; '2.5' -> ==2.5.*; '2.5.1' -> ==2.5.1; else a PEP 440 specifier set."""
    cleaned = text.strip()
    if cleaned in ("", "latest"):
        return None
    try:
        version = Version(cleaned)
    except InvalidVersion:
        try:
            spec = SpecifierSet(cleaned)
        except InvalidSpecifier:
            raise UsageError(
                f"--torch {text!r} is not a version or version range.",
                hint="Use 2.5, 2.5.1 or a range such as '>=2.3,<2.6'.",
            ) from None
    else:
        if version < _FIRST_TORCH_2:
            raise UsageError(
                f"--torch {text}: ptenv handles PyTorch 2.x only.", hint="Ask for 2.0 or newer."
            )
        exact = len(version.release) >= 3
        spec = SpecifierSet(f"=={version}" if exact else f"=={version}.*")
    return spec


def python_tag(machine: Machine) -> str:
    return machine.python.minor_version + ("t" if machine.python.free_threaded else "")


def resolve(machine: Machine, request: Request, data: ReleaseData) -> Plan:
    platform = machine.platform
    if platform not in PLATFORMS:
        raise UsageError(
            f"PyTorch publishes no wheels for {platform}.",
            hint="Supported: " + ", ".join(PLATFORMS) + ".",
        )
    spec = parse_torch_spec(request.torch)
    reasons: list[str] = []
    warnings: list[str] = []
    candidates = _candidates(machine, spec, data, reasons)
    requested = _requested_variant(request.cuda)
    if requested is not None:
        release, patch, variant = _explicit(machine, candidates, requested, data, warnings)
        reasons.append(f"{variant} as requested with --cuda {request.cuda}.")
    else:
        release, patch, variant = _automatic(
            machine, candidates, spec is not None, data, reasons, warnings
        )
    packages = _pins(machine, release, patch, variant, request.with_packages, reasons, warnings)
    reasons += _learned_facts(release, patch, variant, platform, data)
    return Plan(
        torch=str(patch),
        variant=variant,
        index_url=f"{request.index_base.rstrip('/')}/{variant.tag}",
        packages=packages,
        python=python_tag(machine),
        platform=platform,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def _learned_facts(
    release: Release, patch: Version, variant: Variant, platform: str, data: ReleaseData
) -> list[str]:
    """Where the decision rests on the user's overlay rather than the built-in data."""
    said = []
    if patch in release.learned_patches:
        said.append(
            f"torch {patch} is not in ptenv's built-in data: {release.learned_patches[patch]}."
        )
    rule = data.arches(variant.tag, platform, patch) if variant.kind is VariantKind.CUDA else None
    if rule is not None and rule.learned:
        said.append(f"The architecture list of torch {patch} {variant} was {rule.learned}.")
    return said


# --- step 1: candidates --------------------------------------------------------------------


def _candidates(
    machine: Machine, spec: SpecifierSet | None, data: ReleaseData, reasons: list[str]
) -> list[tuple[Release, Version]]:
    """(release, patch) pairs, newest first, that publish wheels for this Python/platform."""
    platform, python = machine.platform, python_tag(machine)
    wanted = [
        (r, p)
        for r in reversed(data.releases)
        for p in reversed(r.patches)
        if spec is None or spec.contains(p, prereleases=True)
    ]
    if spec is not None and not wanted:
        raise UsageError(
            f"No PyTorch release ptenv knows matches --torch {spec}; its data "
            f"covers 2.0 to {data.newest.latest}.",
            hint="Pick a version from `ptenv matrix`, or update ptenv for newer releases.",
        )
    if not any(python in r.pythons(p) for r in data.releases for p in PLATFORMS):
        oldest, newest = data.python_range()
        raise UsageError(
            f"No PyTorch 2.x release publishes wheels for Python {python}.",
            hint=f"Use a Python between {oldest} and {newest}.",
        )
    fitting = []
    glibc_floors: list[str] = []
    for release, patch in wanted:
        if platform not in release.variants:
            continue
        if python not in release.pythons(platform, patch):
            continue
        if _below_macos_floor(machine, release):
            continue
        floor = _glibc_blocks(machine, release, Variant.parse("cpu"))
        if floor:  # not even its CPU build loads on this host's glibc
            glibc_floors.append(floor)
            continue
        fitting.append((release, patch))
    if not fitting and glibc_floors:
        raise NoCompatibleBuild(
            f"torch {spec or 'of any version'} for {platform} needs glibc >= "
            f"{min(glibc_floors, key=Version)}; this host has glibc {machine.os.libc_version}.",
            hint="Pin an older torch (`ptenv matrix` lists the floors), or use a newer "
            "distribution.",
        )
    if not fitting:
        raise _no_release_fits(spec, python, platform, data)
    newest_release = fitting[0][0]
    skipped = [
        r.minor
        for r in {r.minor: r for r, _ in wanted}.values()
        if r.version > newest_release.version
    ]
    detail = f" ({', '.join(skipped)} not for this Python/platform)" if skipped else ""
    reasons.append(
        f"Candidates: torch {fitting[-1][1]} to {fitting[0][1]} publish wheels for "
        f"Python {python} on {platform}{detail}."
    )
    return fitting


def _below_macos_floor(machine: Machine, release: Release) -> bool:
    if machine.platform != "macos-arm64" or not release.macos_arm64_min:
        return False
    if "os" in machine.overridden or not machine.os.release:
        return False
    try:
        return Version(machine.os.release) < Version(release.macos_arm64_min)
    except InvalidVersion:
        return False


def _glibc_blocks(machine: Machine, release: Release, variant: Variant) -> str | None:
    """The glibc floor that this host fails for (release, variant), or None."""
    if machine.os.system != "linux" or "os" in machine.overridden:
        return None
    floor = release.glibc_floor(machine.platform, variant.tag)
    if not floor or machine.os.libc_name != "glibc" or not machine.os.libc_version:
        return None
    return floor if Version(machine.os.libc_version) < Version(floor) else None


# --- steps 2-6: automatic choice -----------------------------------------------------------


def _driver(machine: Machine) -> Version | None:
    driver = machine.nvidia.driver_version
    return driver.key if driver is not None else None


def _driver_cuda(machine: Machine, data: ReleaseData) -> Version | None:
    text = machine.nvidia.cuda_driver_version
    if text:
        return Version(text)
    driver = machine.nvidia.driver_version
    return data.cuda_for_driver(driver) if driver else None


def judge(
    machine: Machine,
    release: Release,
    patch: Version,
    variant: Variant,
    data: ReleaseData,
    *,
    pypi: bool = False,
) -> Verdict:
    """Step 2: can this CUDA variant of this patch run on every visible GPU of the machine?
    (pypi: PyPI's own wheel of that patch, whose architecture list is its own.)"""
    facts = data.cuda_variants[variant.tag]
    driver = _driver(machine)
    notes: list[str] = []
    glibc = _glibc_blocks(machine, release, variant)
    if glibc:
        return _unusable(
            variant, f"needs glibc >= {glibc} (this host has {machine.os.libc_version})"
        )
    old_driver = _below_driver_floor(driver, facts, variant, machine.os.system, notes)
    rule = data.arches(variant.tag, machine.platform, patch, pypi=pypi)
    if rule is None:
        return _unusable(
            variant, "its GPU architecture list is unknown (UNVERIFIED in the release data)"
        )
    if old_driver is not None:
        # A newer driver helps only if the build has kernels (or PTX) for every GPU.
        uncovered = _uncovered_gpu(machine, rule, facts, None, variant, [])
        return uncovered if uncovered is not None else old_driver
    if rule.unverified:
        notes.append(
            f"the architecture list of torch {release.minor} {variant} on {machine.platform} "
            f"is UNVERIFIED (best guess from {data.cite(rule.source)})"
        )
    blocked = _uncovered_gpu(machine, rule, facts, driver, variant, notes)
    if blocked is not None:
        return blocked
    if release.is_unverified("variants", f"variants.{machine.platform}.{variant.tag}"):
        notes.append(
            f"that torch {release.minor} publishes {variant} for {machine.platform} is UNVERIFIED"
        )
    driver_cuda = _driver_cuda(machine, data)
    native = driver_cuda is None or facts.cuda <= driver_cuda
    return Verdict(variant=variant, usable=True, native=native, why="usable", warnings=tuple(notes))


def _unusable(variant: Variant, why: str, needed_driver: Version | None = None) -> Verdict:
    return Verdict(
        variant=variant, usable=False, native=False, why=why, needed_driver=needed_driver
    )


def _below_driver_floor(
    driver: Version | None, facts: CudaVariant, variant: Variant, os_name: str, notes: list[str]
) -> Verdict | None:
    """The driver must reach the variant's minor-version-compatibility floor."""
    floor = Version(facts.floor[os_name])
    if driver is None:
        notes.append(
            f"no driver version known: assumed >= {floor} for {variant}; give --driver to check it"
        )
    elif driver < floor:
        return _unusable(variant, f"needs driver >= {floor}", needed_driver=floor)
    elif "floor" in facts.unverified and driver < Version(facts.toolkit_driver[os_name]):
        notes.append(
            f"{variant}: the exact minimum driver of CUDA {facts.cuda.major}.x is "
            f"UNVERIFIED (R{floor} branch assumed)"
        )
    return None


def _uncovered_gpu(
    machine: Machine,
    rule: ArchRule,
    facts: CudaVariant,
    driver: Version | None,
    variant: Variant,
    notes: list[str],
) -> Verdict | None:
    """Every visible GPU needs SASS for its architecture, or PTX the driver can JIT."""
    toolkit_driver = Version(facts.toolkit_driver[machine.os.system])
    for gpu in machine.nvidia.visible_gpus:
        cc = gpu.compute_capability
        if cc is None:
            notes.append(f"GPU {gpu.index}: compute capability unknown, not checked")
            continue
        how = coverage(cc, rule.sass, rule.ptx, facts.cuda)
        if how is None:
            return _unusable(variant, f"has no kernels for {_gpu_label(gpu)}")
        if how != "ptx":
            continue
        if driver is not None and driver < toolkit_driver:
            return _unusable(
                variant,
                f"runs {_gpu_label(gpu)} only by PTX JIT, which needs driver >= {toolkit_driver}",
                needed_driver=toolkit_driver,
            )
        notes.append(
            f"{_gpu_label(gpu)} runs {variant} only through PTX JIT (slow first "
            "run)" + (" — PTX presence is UNVERIFIED" if rule.unverified_ptx else "")
        )
    return None


def _gpu_label(gpu: Gpu) -> str:
    assert gpu.compute_capability is not None
    name = f"{gpu.name} " if gpu.name and not gpu.name.startswith("target ") else ""
    return f"{name}{gpu.compute_capability.sm}".strip()


def _cuda_variants(release: Release, patch: Version, platform: str) -> list[Variant]:
    return [v for v in release.variants_for(platform, patch) if v.kind is VariantKind.CUDA]


def _pick(verdicts: list[Verdict]) -> Verdict | None:
    """Step 3: the highest native variant, else the lowest usable one above the driver."""
    usable = [v for v in verdicts if v.usable]
    native = [v for v in usable if v.native]
    if native:
        return max(native, key=lambda v: Version(v.variant.version or "0"))
    if usable:
        return min(usable, key=lambda v: Version(v.variant.version or "0"))
    return None


def _automatic(
    machine: Machine,
    candidates: list[tuple[Release, Version]],
    pinned: bool,
    data: ReleaseData,
    reasons: list[str],
    warnings: list[str],
) -> tuple[Release, Version, Variant]:
    gpus = machine.nvidia.visible_gpus
    if not gpus:
        return _without_nvidia(machine, candidates, data, reasons, warnings)
    labels = ", ".join(_gpu_label(g) for g in gpus if g.compute_capability) or "unknown GPUs"
    others = [f"{g.name} ({g.gfx or 'gfx unknown'})" for g in machine.amd.visible_gpus]
    others += [f"{g.family} ({g.device_id})" for g in machine.intel.gpus if g.xpu]
    if others:  # mixed vendors: NVIDIA by default, never the other card in silence
        warnings.append(
            f"Also here: {', '.join(others)}. This plan is for the NVIDIA GPU(s); "
            "--cuda rocmX.Y or --cuda xpu plans for the other card instead."
        )
    driver = machine.nvidia.driver_version or "unknown"
    driver_cuda = _driver_cuda(machine, data)
    reasons.append(
        f"Target: {labels}; driver {driver}"
        + (f" (supports CUDA {driver_cuda})" if driver_cuda else "")
        + "."
    )
    rejected: dict[str, list[Verdict]] = {}
    for release, patch in candidates:
        verdicts = [
            judge(machine, release, patch, v, data)
            for v in _cuda_variants(release, patch, machine.platform)
        ]
        chosen = _pick(verdicts)
        if chosen is None:
            rejected.setdefault(release.minor, verdicts)
            continue
        _explain_choice(chosen, verdicts, patch, machine, data, reasons, warnings)
        if release.version != candidates[0][0].version:
            reasons.append(_newer_needs(candidates[0][0], rejected))
        return release, patch, chosen.variant
    older = _newest_serving(machine, data) if pinned else None
    raise _nothing_usable(candidates, rejected, pinned, older)


def _rocm(
    machine: Machine,
    candidates: list[tuple[Release, Version]],
    data: ReleaseData,
    reasons: list[str],
    warnings: list[str],
) -> tuple[Release, Version, Variant]:
    """AMD GPUs and no NVIDIA one: the newest ROCm build compiled for every visible GPU's gfx
    target. Never the CPU build in silence: no fitting ROCm build is exit 3."""
    amd = machine.amd.visible_gpus
    labels = ", ".join(f"{g.name} ({g.gfx or 'gfx target unknown'})" for g in amd)
    reasons.append(f"Target: {labels}; no NVIDIA GPU visible, so a ROCm build.")
    if any(g.gfx is None for g in amd):
        raise NoCompatibleBuild(
            f"AMD GPU(s) found ({labels}), but the kernel shows no KFD node for them "
            "(/sys/class/kfd), so their gfx target and ROCm support are unknown.",
            hint="Load the amdgpu driver with ROCm's KFD (a recent kernel or the amdgpu-dkms "
            "driver), then run ptenv again; or --cuda cpu for the CPU build.",
        )
    wanted = sorted({g.gfx for g in amd if g.gfx})
    if machine.arch != "x86_64":
        raise NoCompatibleBuild(
            f"PyTorch publishes ROCm builds for Linux x86_64 only; this is {machine.platform} "
            f"with {', '.join(wanted)}.",
            hint="Use --cuda cpu for the CPU build.",
        )
    for release, patch in candidates:
        builds = [
            v for v in release.variants_for(machine.platform, patch) if v.kind is VariantKind.ROCM
        ]
        for variant in sorted(builds, key=lambda v: Version(v.version or "0"), reverse=True):
            known = data.rocm_targets(release.minor, variant.tag)
            if known is not None and all(gfx in known.targets for gfx in wanted):
                reasons.append(
                    f"torch {patch}: {variant} is the newest ROCm build compiled for "
                    f"{', '.join(wanted)} (targets from {data.cite(known.source)})."
                )
                if known.unverified:
                    warnings.append(
                        f"The gfx list of {variant} is UNVERIFIED in ptenv's data (not read "
                        "from its release branch); `ptenv check` on the GPU proves it."
                    )
                if release.version != candidates[0][0].version:
                    reasons.append(
                        f"torch {candidates[0][1]} has no ROCm build compiled for "
                        f"{', '.join(wanted)} in ptenv's data."
                    )
                return release, patch, variant
    raise NoCompatibleBuild(
        f"No ROCm build of torch {candidates[-1][1]} to {candidates[0][1]} is compiled for "
        f"{', '.join(wanted)}.",
        hint=_rocm_hint(wanted, data),
    )


def _without_nvidia(
    machine: Machine,
    candidates: list[tuple[Release, Version]],
    data: ReleaseData,
    reasons: list[str],
    warnings: list[str],
) -> tuple[Release, Version, Variant]:
    """No NVIDIA GPU visible: a Jetson, AMD (ROCm), Intel (xpu), else the CPU build."""
    if machine.jetson is not None and "gpu" not in machine.overridden:
        raise _jetson(machine, candidates, data)
    if machine.amd.visible_gpus and machine.os.system == "linux":
        return _rocm(machine, candidates, data, reasons, warnings)
    if any(g.xpu for g in machine.intel.gpus):
        found = _xpu(machine, candidates, reasons, warnings)
        if found is not None:
            return found
    for gpu in machine.intel.gpus:
        if not gpu.xpu:
            reasons.append(
                f"{gpu.family} ({gpu.device_id}): not a GPU the xpu builds are made for, "
                "so not chosen on its own (--cuda xpu tries it)."
            )
    release, patch = candidates[0]
    what = "the default build with MPS" if machine.platform == "macos-arm64" else "cpu"
    reasons.append(f"No NVIDIA GPU visible: {what} (torch {patch}).")
    _warn_intel_mac(machine, warnings)
    return release, patch, Variant(VariantKind.CPU)


def _jetson(
    machine: Machine, candidates: list[tuple[Release, Version]], data: ReleaseData
) -> NoCompatibleBuild:
    """A Jetson: the aarch64 server (SBSA) wheels ptenv plans are not built for its GPU,
    except Thor's sm_110; never the CPU build in silence on a board bought for its GPU."""
    board = machine.jetson
    assert board is not None
    where = f"{board.model} ({board.soc or 'Tegra'}"
    where += f", L4T {board.l4t}, JetPack {board.jetpack or '?'})" if board.l4t else ")"
    cc = board.compute_capability
    serving = []
    for release, patch in candidates:
        for variant in release.variants_for(machine.platform, patch):
            rule = data.arches(variant.tag, machine.platform, patch)
            if cc and rule is not None and any(str(code) == cc for code in rule.sass):
                serving.append(f"torch {patch} {variant}")
    if serving:
        return NoCompatibleBuild(
            f"{where}: its GPU is sm_{(cc or '').replace('.', '')}, which {serving[0]} (an "
            "aarch64 server wheel) carries; NVML cannot see a Jetson's GPU, so ptenv does not "
            "pick it on its own.",
            hint=f"Install it with `ptenv install --cuda {serving[0].split()[-1]}` "
            f"(--torch {serving[0].split()[1]}), or --cuda cpu for the CPU build.",
        )
    return NoCompatibleBuild(
        f"{where}: PyTorch's aarch64 wheels are built for server GPUs, not this board's "
        f"integrated sm_{(cc or '?').replace('.', '')}; installing one would leave the GPU unused.",
        hint=f"Use NVIDIA's PyTorch wheels for JetPack {board.jetpack or '(your version)'} "
        "(NVIDIA's 'Installing PyTorch for Jetson Platform' guide, or the jetson-containers "
        "images); or --cuda cpu for the CPU build here.",
    )


def _xpu(
    machine: Machine,
    candidates: list[tuple[Release, Version]],
    reasons: list[str],
    warnings: list[str],
) -> tuple[Release, Version, Variant] | None:
    """An Intel GPU of a family the xpu wheels are built for, and no NVIDIA or AMD GPU."""
    xpu = Variant(VariantKind.XPU)
    names = ", ".join(f"{g.family} ({g.device_id})" for g in machine.intel.gpus if g.xpu)
    for release, patch in candidates:
        if xpu in release.variants_for(machine.platform, patch):
            reasons.append(f"Target: {names}; no NVIDIA or AMD GPU, so the xpu build.")
            reasons.append(f"torch {patch}: xpu is published for {machine.platform}.")
            warnings.append(
                "Which Intel GPUs the xpu wheels are built for is UNVERIFIED in ptenv's data "
                "(PyTorch's hardware list, not the build flags); `ptenv check` proves it."
            )
            if machine.os.system == "linux" and not machine.intel.level_zero:
                warnings.append(
                    "Intel's Level Zero runtime (libze_loader.so.1) was not found: install the "
                    "GPU runtime packages (libze1, intel-level-zero-gpu or intel-opencl-icd), "
                    "or torch.xpu.is_available() will be False."
                )
            return release, patch, xpu
    return None


def _rocm_hint(wanted: list[str], data: ReleaseData) -> str:
    """A near miss (gfx1031 beside gfx1030) runs with HSA_OVERRIDE_GFX_VERSION, at the
    user's own risk; say so, with the CPU build as the safe way."""
    every = data.every_gfx
    overrides = []
    for gfx in wanted:
        digits = gfx.removeprefix("gfx")
        family = f"gfx{digits[:-1]}0"
        if family in every and family != gfx and len(digits) >= 3:
            major, minor = digits[:-2], int(digits[-2], 16)
            overrides.append(
                f"{gfx} is not {family}; HSA_OVERRIDE_GFX_VERSION={major}.{minor}.0 makes "
                f"ROCm run {family} code on it, unsupported and at your own risk"
            )
    return "; ".join([*overrides, "--cuda cpu installs the CPU build"]) + "."


def _explain_choice(
    chosen: Verdict,
    verdicts: list[Verdict],
    patch: Version,
    machine: Machine,
    data: ReleaseData,
    reasons: list[str],
    warnings: list[str],
) -> None:
    others = [f"{v.variant} {v.why}" for v in verdicts if not v.usable]
    if others:
        reasons.append(f"torch {patch}: " + "; ".join(others) + ".")
    usable = [str(v.variant) for v in verdicts if v.usable]
    if chosen.native:
        reasons.append(
            f"torch {patch}: {chosen.variant} is the highest usable variant the driver "
            f"supports natively (usable: {', '.join(usable)})."
        )
    else:
        facts = data.cuda_variants[chosen.variant.tag]
        native_driver = facts.toolkit_driver[machine.os.system]
        reasons.append(
            f"torch {patch}: no usable variant is native to this driver; "
            f"{chosen.variant} is the lowest one above it."
        )
        warnings.append(
            f"{chosen.variant} runs under CUDA minor-version compatibility (no PTX "
            f"JIT); driver >= {native_driver} would make it native."
        )
    warnings.extend(chosen.warnings)


def _newer_needs(newest: Release, rejected: dict[str, list[Verdict]]) -> str:
    verdicts = rejected.get(newest.minor, [])
    drivers = [v.needed_driver for v in verdicts if v.needed_driver is not None]
    if drivers:
        return f"torch {newest.latest} would need driver >= {min(drivers)}."
    whys = "; ".join(f"{v.variant} {v.why}" for v in verdicts) or "publishes no CUDA variant here"
    return f"torch {newest.latest} is not usable: {whys}."


def _no_release_fits(
    spec: SpecifierSet | None, python: str, platform: str, data: ReleaseData
) -> NoCompatibleBuild:
    """Name what does exist for this platform, whatever --torch and --python asked for."""
    published = [r for r in data.releases if platform in r.variants]
    what = "release" if spec is None else f"release matching {spec}"
    if not published:
        return NoCompatibleBuild(
            f"No PyTorch 2.x release publishes wheels for {platform}.",
            hint="Supported: " + ", ".join(PLATFORMS) + ".",
        )
    for_python = [r.minor for r in published if python in r.pythons(platform)]
    listed = ", ".join(f"{r.minor} (Python {_span(r.pythons(platform))})" for r in published)
    return NoCompatibleBuild(
        f"No PyTorch {what} publishes wheels for Python {python} on {platform}.",
        hint=f"Releases for {platform}: {listed}. "
        + (
            f"For Python {python}: --torch {for_python[-1]}."
            if for_python
            else "Pick a Python those releases have (--python)."
        ),
    )


def _span(pythons: tuple[str, ...]) -> str:
    regular = sorted((p for p in pythons if not p.endswith("t")), key=Version)
    return f"{regular[0]}-{regular[-1]}" if regular else "?"


def _nothing_usable(
    candidates: list[tuple[Release, Version]],
    rejected: dict[str, list[Verdict]],
    pinned: bool,
    older: Version | None,
) -> NoCompatibleBuild:
    newest = candidates[0][0]
    whys = (
        "; ".join(f"{v.variant} {v.why}" for v in rejected.get(newest.minor, []))
        or "no CUDA variant is published for this platform"
    )
    options = []
    drivers = [v.needed_driver for vs in rejected.values() for v in vs if v.needed_driver]
    if drivers:
        options.append(f"upgrade the driver to >= {min(drivers)}")
    if older is not None and older > candidates[0][1]:
        options.append(f"ask for a newer torch: --torch {older.major}.{older.minor} runs here")
    elif older is not None:
        options.append(f"pin torch <= {older}")
    options.append("use --cuda cpu for the CPU build")
    scope = f"torch {newest.minor}" if pinned else "any torch release"
    return NoCompatibleBuild(
        f"No CUDA build of {scope} runs here: {whys}.", hint="Options: " + "; ".join(options) + "."
    )


def _newest_serving(machine: Machine, data: ReleaseData) -> Version | None:
    """The newest torch of any release with a usable CUDA variant here (for a pinned miss)."""
    try:
        everything = _candidates(machine, None, data, [])
    except NoCompatibleBuild:
        return None
    for release, patch in everything:
        verdicts = [
            judge(machine, release, patch, v, data)
            for v in _cuda_variants(release, patch, machine.platform)
        ]
        if _pick(verdicts) is not None:
            return patch
    return None


def _warn_intel_mac(machine: Machine, warnings: list[str]) -> None:
    if machine.platform == "macos-x86_64":
        warnings.append("Intel Macs get no torch newer than 2.2.2.")


# --- step 7: an explicit variant -----------------------------------------------------------


def _requested_variant(text: str) -> Variant | None:
    if text.strip().lower() in ("", "auto"):
        return None
    try:
        return Variant.parse(text)
    except ValueError:
        raise UsageError(
            f"--cuda {text!r} is not a variant.",
            hint="Use auto, cpu, cu126 (or 12.6), rocm6.4 or xpu.",
        ) from None


def _explicit(
    machine: Machine,
    candidates: list[tuple[Release, Version]],
    variant: Variant,
    data: ReleaseData,
    warnings: list[str],
) -> tuple[Release, Version, Variant]:
    platform = machine.platform
    for release, patch in candidates:
        if variant in release.variants_for(platform, patch):
            break
    else:
        release, patch = candidates[0]
        valid = ", ".join(v.tag for v in release.variants_for(platform, patch))
        raise UsageError(
            f"torch {patch} publishes no {variant} build for {platform}.",
            hint=f"Valid for torch {patch} on {platform}: {valid}.",
        )
    if variant.kind is VariantKind.CUDA:
        verdict = judge(machine, release, patch, variant, data)
        if not machine.nvidia.visible_gpus:
            warnings.append(
                f"This machine has no visible NVIDIA GPU; {variant} is planned for another machine."
            )
        elif not verdict.usable:
            warnings.append(f"{variant} {verdict.why}: it will not run on this machine.")
        warnings.extend(verdict.warnings)
    elif variant.kind is VariantKind.CPU and machine.nvidia.visible_gpus:
        warnings.append("The CPU build ignores this machine's NVIDIA GPU(s).")
    elif variant.kind is VariantKind.ROCM and release.is_unverified(
        f"variants.{platform}.{variant.tag}"
    ):
        warnings.append(f"That torch {release.minor} publishes {variant} is UNVERIFIED.")
    return release, patch, variant


# --- steps 8-9: pins -----------------------------------------------------------------------


def _pins(
    machine: Machine,
    release: Release,
    patch: Version,
    variant: Variant,
    with_packages: tuple[str, ...],
    reasons: list[str],
    warnings: list[str],
) -> tuple[Pin, ...]:
    # macOS wheels carry no local tag, even on the cpu index.
    tag = "" if machine.os.system == "macos" else f"+{variant.tag}"
    pins = [Pin("torch", Version(f"{patch}{tag}"))]
    unknown = [name for name in with_packages if name not in COMPANIONS]
    if unknown:
        raise UsageError(
            f"--with {','.join(unknown)}: ptenv pairs only {' and '.join(COMPANIONS)} with torch.",
            hint="Install other packages after ptenv, with your usual tools.",
        )
    if not with_packages:
        return tuple(pins)
    companions = release.companions.get(patch)
    if companions is None:
        raise NoCompatibleBuild(
            f"ptenv's data has no torchvision/torchaudio pairing for torch {patch}.",
            hint="Install them yourself from the same index.",
        )
    for name in COMPANIONS:
        if name not in with_packages:
            continue
        version = companions.torchvision if name == "torchvision" else companions.torchaudio
        local = "" if name in companions.untagged else tag
        pins.append(Pin(name, Version(f"{version}{local}")))
        if release.is_unverified("companions", f"companions.{patch}", f"companions.{name}"):
            warnings.append(f"The {name} {version} pairing with torch {patch} is UNVERIFIED.")
    reasons.append(f"Companions of torch {patch}: " + ", ".join(map(str, pins[1:])) + ".")
    if "torchaudio" in with_packages and release.version > Version("2.11"):
        reasons.append(
            "torchaudio has no release after 2.11: its 2.11 line serves every later "
            "torch (same CUDA major)."
        )
    if "torchvision" in with_packages and python_tag(machine).startswith("3.15"):
        warnings.append("torchvision publishes no Python 3.15 wheels.")
    return tuple(pins)
