"""PyPI's own torch wheels as a build of their own.

On PyPI a release has one build per platform, and its file name and METADATA carry no local
tag: `torch-2.15.0-cp312-...whl` is the cu132 build on Linux (only `torch/version.py` says
`2.15.0+cu132`), the CPU build on Windows and macOS. It carries no PTX, so a GPU it has no
SASS for does not run it at all (pytorch-compat.md §13.2). A `pip download torch` wheelhouse
and a PyPI mirror hold the same files.
"""

from __future__ import annotations

from dataclasses import replace

from packaging.version import Version

from ptenv.errors import NoCompatibleBuild, UsageError
from ptenv.models import Machine, Pin, Plan, Request, Variant, VariantKind
from ptenv.releases import ReleaseData
from ptenv.releases.coverage import sass_runs_on
from ptenv.resolve import judge, parse_torch_spec, resolve


def pypi_variant(version: Version, platform: str, data: ReleaseData) -> Variant | None:
    """The variant of PyPI's torch `version` on `platform`; None for a release ptenv lacks."""
    release = data.release(f"{version.major}.{version.minor}")
    return release.pypi_variant(platform) if release is not None else None


def as_pypi_build(plan: Plan, machine: Machine, data: ReleaseData) -> Plan | None:
    """The plan with PyPI's untagged wheels, when PyPI's build of that release is the planned
    variant and has SASS for every visible GPU; else None."""
    version = Version(plan.torch)
    variant = pypi_variant(version, plan.platform, data)
    if variant != plan.variant or _gpu_without_sass(plan, machine, data):
        return None
    pins = tuple(Pin(pin.name, Version(pin.version.public)) for pin in plan.packages)
    release = data.release(f"{version.major}.{version.minor}")
    toolkit = release.toolkit.get(version) if release is not None else None
    built = f" (CUDA toolkit {toolkit})" if toolkit else ""
    note = (
        f"PyPI's torch {version} is the {variant} build{built} for {plan.platform}: its file name "
        "carries no local tag, so ptenv confirms the build from torch/version.py once it is "
        "installed."
    )
    if variant.kind is VariantKind.CUDA:
        note += " PyPI's CUDA wheels carry no PTX: only GPUs with SASS in it run it."
    return replace(plan, packages=pins, reasons=(*plan.reasons, note))


def _gpu_without_sass(plan: Plan, machine: Machine, data: ReleaseData) -> bool:
    if plan.variant.kind is not VariantKind.CUDA:
        return False
    rule = data.arches(plan.variant.tag, plan.platform, Version(plan.torch), pypi=True)
    if rule is None:
        return False  # unknown lists: the plan already warned about it
    cuda = Version(plan.variant.version) if plan.variant.version else None
    for gpu in machine.nvidia.visible_gpus:
        cc = gpu.compute_capability
        if cc is not None and not any(sass_runs_on(code, cc, cuda) for code in rule.sass):
            return True
    return False


def plan_from_pypi(machine: Machine, request: Request, data: ReleaseData) -> Plan:
    """--pypi: the plan if PyPI holds it, else the newest release whose PyPI build fits."""
    first = resolve(machine, request, data)
    found = as_pypi_build(first, machine, data)
    if found is not None:
        return found
    for patch in _patches_newest_first(request, data):
        fallback = build_for_patch(
            machine, request, data, patch, wanted=first.variant, cuda_for_cpu=request.cuda == "auto"
        )
        if fallback is not None:
            return replace(
                fallback,
                reasons=(
                    *fallback.reasons,
                    f"PyPI's torch {first.torch} is not the {first.variant} build planned "
                    f"from the index; PyPI's {fallback.torch} ({fallback.variant}) is the "
                    "newest PyPI build that fits this machine.",
                ),
            )
    raise NoCompatibleBuild(
        f"No torch build on PyPI fits this machine ({first.packages[0]} was planned, and "
        f"PyPI's torch {first.torch} is the "
        f"{pypi_variant(Version(first.torch), first.platform, data) or 'unknown'} build).",
        hint="Drop --pypi to install the planned build from the PyTorch index (or --mirror).",
    )


def build_for_patch(
    machine: Machine,
    request: Request,
    data: ReleaseData,
    patch: Version,
    wanted: Variant,
    *,
    cuda_for_cpu: bool = False,
) -> Plan | None:
    """PyPI's build of one patch release, if it serves this machine as `wanted` would.

    `cuda_for_cpu`: a CUDA build may stand in for a CPU plan (it runs on the CPU, only
    larger); only for `--pypi` without an explicit --cuda, never for `--cuda cpu`."""
    variant = pypi_variant(patch, machine.platform, data)
    release = data.release(f"{patch.major}.{patch.minor}")
    if variant is None or release is None:
        return None
    if variant.kind is VariantKind.CUDA:
        # A CUDA build serves a CUDA plan where it runs on the GPUs; never ROCm or XPU.
        if not (
            wanted.kind is VariantKind.CUDA or (cuda_for_cpu and wanted.kind is VariantKind.CPU)
        ):
            return None
        gpus = machine.nvidia.visible_gpus
        if gpus and not judge(machine, release, patch, variant, data, pypi=True).usable:
            return None
    elif variant != wanted:
        return None
    try:
        plan = resolve(machine, replace(request, torch=f"=={patch}", cuda=variant.tag), data)
    except (NoCompatibleBuild, UsageError):
        return None
    if request.cuda == "auto":  # the variant was ptenv's choice here, not the user's
        asked = f"{variant} as requested with --cuda {variant.tag}."
        plan = replace(plan, reasons=tuple(r for r in plan.reasons if r != asked))
    return as_pypi_build(plan, machine, data)


def _patches_newest_first(request: Request, data: ReleaseData) -> list[Version]:
    spec = parse_torch_spec(request.torch)
    patches = [patch for release in data.releases for patch in release.patches]
    return sorted(
        (p for p in patches if spec is None or spec.contains(p, prereleases=True)), reverse=True
    )
