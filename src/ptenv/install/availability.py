"""What a source really holds: the plan if its wheels are there, else the newest version there
that the policy allows (PyPI's untagged build included, where it is the planned variant).
`ptenv install` and `ptenv plan --mirror/--find-links/--use-pip-config/--pypi` share it, so
the two never disagree.
"""

from __future__ import annotations

from dataclasses import replace

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from ptenv import releases
from ptenv.errors import NoCompatibleBuild, UsageError
from ptenv.install import index
from ptenv.install.pypi import build_for_patch, plan_from_pypi
from ptenv.install.sources import (
    Source,
    SourceKind,
    SourceOptions,
    foreign_links,
    list_project,
    source_for,
)
from ptenv.models import Machine, Plan, Request
from ptenv.resolve import parse_torch_spec, resolve


def plan_and_source(
    machine: Machine, request: Request, data: releases.ReleaseData, options: SourceOptions
) -> tuple[Plan, Source, list[str]]:
    """The plan, the source it comes from, and what reading the source had to say."""
    warnings: list[str] = []
    plan = (
        plan_from_pypi(machine, request, data) if options.pypi else resolve(machine, request, data)
    )
    source = source_for(plan.variant, options)
    if source.kind is SourceKind.PYPI:
        plan = replace(plan, index_url=source.index_url or "PyPI")
        if source.index_url is None:  # PyPI itself holds every release's build: not read
            return plan, source, warnings
    return available(plan, source, machine, request, data, warnings), source, warnings


def available(
    plan: Plan,
    source: Source,
    machine: Machine,
    request: Request,
    data: releases.ReleaseData,
    warnings: list[str],
) -> Plan:
    """The plan if the source holds it; else the newest fitting version it does hold."""
    files = list_project(source, "torch")
    foreign = foreign_links(source, files)
    if foreign and source.label != "official index":
        warnings.append(
            f"{source.label} links its wheels to {', '.join(foreign)}: downloads "
            "come from there, not from the mirror."
        )
    wheels = index.wheels(files, "torch")
    tags = index.target_tags(machine)
    fitting = sorted({w.version for w in wheels if w.tags & set(tags)}, reverse=True)
    newest_known = data.newest.latest
    newer = index.newer_than_data(source.label, fitting, newest_known)
    if newer:
        warnings.append(newer)
    wanted = plan.packages[0].version
    if wanted in fitting:
        return _check_companions(plan, source, tags)
    spec = parse_torch_spec(request.torch)
    untagged = _untagged_build(plan, fitting, machine, request, data, spec, source)
    if untagged is not None:
        return _check_companions(untagged, source, tags)
    for version in fitting:
        if version.release > newest_known.release:
            continue
        if spec is not None and not spec.contains(version.public, prereleases=True):
            continue
        try:
            fallback = resolve(machine, replace(request, torch=f"=={version.public}"), data)
        except (NoCompatibleBuild, UsageError):
            continue
        pinned = fallback.packages[0].version
        # The exact build, local tag included: an untagged Linux wheel is not the +cpu one.
        if fallback.variant == plan.variant and pinned in fitting:
            reasons = (
                *fallback.reasons,
                f"{source.label} does not hold torch {plan.torch}; "
                f"{fallback.torch} is the newest build there that the policy allows.",
            )
            return _check_companions(replace(fallback, reasons=reasons), source, tags)
    held = ", ".join(str(v) for v in fitting[:8]) or "no torch wheel for this Python/platform"
    raise NoCompatibleBuild(
        f"{source.label} holds no torch build that fits ({plan.packages[0]} was planned).",
        hint=f"It holds: {held}.",
    )


def _untagged_build(
    plan: Plan,
    fitting: list[Version],
    machine: Machine,
    request: Request,
    data: releases.ReleaseData,
    spec: SpecifierSet | None,
    source: Source,
) -> Plan | None:
    """A wheelhouse from `pip download torch`, a PyPI mirror: untagged wheels, which are
    PyPI's build of their release; taken where that build serves the planned variant."""
    if machine.os.system == "macos":
        return None  # macOS wheels are untagged everywhere: the normal path handles them
    newest_known = data.newest.latest
    for version in fitting:
        if version.local is not None or version.release > newest_known.release:
            continue
        if spec is not None and not spec.contains(version, prereleases=True):
            continue
        found = build_for_patch(machine, request, data, version, wanted=plan.variant)
        if found is not None and found.packages[0].version == version:
            note = f"{source.label} holds PyPI's build of torch {version} (untagged)."
            return replace(found, index_url=plan.index_url, reasons=(*found.reasons, note))
    return None


def _check_companions(plan: Plan, source: Source, tags: list[Tag]) -> Plan:
    for pin in plan.packages[1:]:
        name = pin.name
        wheels = index.wheels(list_project(source, name), name)
        if index.pick(wheels, pin.version, tags) is None:
            held = sorted({str(w.version) for w in wheels}, key=Version)[-5:]
            raise NoCompatibleBuild(
                f"{source.label} has no {pin} wheel for this target.",
                hint=f"It holds {name} {', '.join(held)}." if held else f"It holds no {name}.",
            )
    return plan
