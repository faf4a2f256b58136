"""What a source really holds: the plan if its wheels are there, else the newest version there
that the policy allows. `ptenv install` and `ptenv plan --mirror/--find-links/--use-pip-config`
share it, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import replace

from packaging.tags import Tag
from packaging.version import Version

from ptenv import releases
from ptenv.errors import NoCompatibleBuild, UsageError
from ptenv.install import index
from ptenv.install.sources import Source, foreign_links, list_project
from ptenv.models import Machine, Plan, Request
from ptenv.resolve import parse_torch_spec, resolve


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
