"""The plan written into a uv project's pyproject.toml, so that a plain `uv lock` / `uv sync`
gets the planned build: the variant's index (explicit: only what is routed to it comes from
it), `[tool.uv.sources]` routing torch and its companions there on the planned platform, the
exact pins, and with --platforms the `environments` uv's universal resolution covers.

Edited with tomlkit, so the user's comments, order and layout stay; a second run with the same
plan changes nothing. `drift` says, sentence by sentence, where a project no longer fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
import tomlkit.exceptions
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.items import AoT, Array, Table

from ptenv.errors import UsageError
from ptenv.install.sources import Source, SourceKind
from ptenv.models import Plan

# ptenv platform -> the PEP 508 marker that selects it
PLATFORM_MARKERS = {
    "linux-x86_64": "sys_platform == 'linux' and platform_machine == 'x86_64'",
    "linux-aarch64": "sys_platform == 'linux' and platform_machine == 'aarch64'",
    "windows-x86_64": "sys_platform == 'win32' and platform_machine == 'AMD64'",
    "macos-arm64": "sys_platform == 'darwin' and platform_machine == 'arm64'",
}
INDEX_PREFIX = "pytorch-"  # the indexes ptenv writes (and replaces): pytorch-cu128, pytorch-cpu


@dataclass(frozen=True, kw_only=True)
class UvConfig:
    """What the project needs for the plan."""

    index_name: str | None  # None: torch comes from the default index (PyPI's own build)
    index_url: str | None
    flat: bool  # a flat listing (the aliyun layout): uv's `format = "flat"`
    requirements: tuple[str, ...]  # torch==2.15.0, torchvision==0.30.0
    marker: str  # the platform the index serves torch for
    environments: tuple[str, ...]  # empty: uv's default (every platform)


def config_for(plan: Plan, source: Source, platforms: Sequence[str] = ()) -> UvConfig:
    """The uv configuration that gets `plan` from `source` on plan.platform."""
    unknown = [p for p in (plan.platform, *platforms) if p not in PLATFORM_MARKERS]
    if unknown:
        raise UsageError(
            f"ptenv cannot write uv markers for {unknown[0]}.",
            hint="Platforms: " + ", ".join(PLATFORM_MARKERS) + ".",
        )
    if source.kind is SourceKind.WHEELHOUSE and not source.find_links[0].startswith("http"):
        raise UsageError(
            "A uv project cannot take torch from a local folder of wheels portably.",
            hint="Export from an index (--index-base, --mirror), or use `ptenv bundle` for "
            "machines without a network.",
        )
    if source.kind is SourceKind.PYPI:
        name = url = None
        flat = False
    elif source.index_url:
        name, url, flat = INDEX_PREFIX + plan.variant.tag, source.index_url, False
    elif source.find_links:
        name, url, flat = INDEX_PREFIX + plan.variant.tag, source.find_links[0], True
    else:
        raise UsageError(
            f"{source.label} names no index that uv can be pointed at.",
            hint="Export from an index URL (--index-base) or a named --mirror.",
        )
    return UvConfig(
        index_name=name,
        index_url=url,
        flat=flat,
        requirements=tuple(f"{pin.name}=={pin.version.public}" for pin in plan.packages),
        marker=PLATFORM_MARKERS[plan.platform],
        environments=tuple(PLATFORM_MARKERS[p] for p in dict.fromkeys(platforms)),
    )


def parse(text: str, where: str) -> tomlkit.TOMLDocument:
    """The project's pyproject.toml; UsageError when it is not TOML or has no [project]."""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise UsageError(
            f"{where} is not valid TOML ({error}).", hint="Fix the file, then run again."
        ) from None
    project = document.get("project")
    if not isinstance(project, dict) or not project.get("name"):
        raise UsageError(
            f"{where} has no [project] table with a name.",
            hint="Run `uv init` in the folder first (or add [project] name and version).",
        )
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list):
        raise UsageError(f"{where}: [project] dependencies is not a list.", hint="Fix the file.")
    return document


def apply(text: str, config: UvConfig, where: str = "pyproject.toml") -> str:
    """pyproject.toml's text with the config in place; the rest as it was."""
    document = parse(text, where)
    _set_dependencies(document, config)
    # a new [tool.uv] with no keys of its own is written as its sub-tables only
    uv = _table(
        _table(document, "tool", super_table=True), "uv", super_table=not config.environments
    )
    if config.environments:
        environments = tomlkit.array()
        environments.extend(config.environments)
        uv["environments"] = environments.multiline(True)
    if config.index_name is not None:
        _set_index(uv, config)
        sources = _table(uv, "sources")
        for requirement in config.requirements:
            name = Requirement(requirement).name
            route = tomlkit.inline_table()
            route.update({"index": config.index_name, "marker": config.marker})
            routes = tomlkit.array()
            routes.append(route)
            sources[name] = routes
    return tomlkit.dumps(document)


def drift(text: str, config: UvConfig, where: str = "pyproject.toml") -> list[str]:
    """Where the project does not hold the config: one sentence each; [] when it fits."""
    document = parse(text, where)
    changes: list[str] = []
    have = _requirements(document)
    for wanted in config.requirements:
        key = canonicalize_name(Requirement(wanted).name)
        found = have.get(key)
        if found is None or str(found.specifier) != str(Requirement(wanted).specifier):
            changes.append(f"dependency {wanted} is {found or 'missing'}")
    uv = document.get("tool", {}).get("uv", {})
    if config.index_name is not None:
        index = next((i for i in uv.get("index", []) if i.get("name") == config.index_name), None)
        if index is None or index.get("url") != config.index_url:
            changes.append(f"index {config.index_name} ({config.index_url}) is missing")
        for wanted in config.requirements:
            name = Requirement(wanted).name
            route = _plain(uv.get("sources", {}).get(name))
            expected = [{"index": config.index_name, "marker": config.marker}]
            if route != expected:
                changes.append(f"{name} is not routed to {config.index_name} on {config.marker}")
    if config.environments and _plain(uv.get("environments")) != list(config.environments):
        changes.append("[tool.uv] environments are " + str(_plain(uv.get("environments"))))
    return changes


def _set_dependencies(document: tomlkit.TOMLDocument, config: UvConfig) -> None:
    """Each pin replaces the requirement of the same name, in its place; new ones go last."""
    project = document["project"]
    assert isinstance(project, Table)
    dependencies = project.get("dependencies")
    if not isinstance(dependencies, Array):
        dependencies = tomlkit.array()
        project["dependencies"] = dependencies
    for wanted in config.requirements:
        key = canonicalize_name(Requirement(wanted).name)
        at = next(
            (i for i, text in enumerate(dependencies) if _name_of(str(text)) == key),
            None,
        )
        if at is None:
            dependencies.append(wanted)
        elif str(dependencies[at]) != wanted:
            dependencies[at] = wanted
    if len(dependencies) > 1:
        dependencies.multiline(True)


def _set_index(uv: Table, config: UvConfig) -> None:
    """The variant's index, replacing any other pytorch-* index ptenv (or a guide) wrote."""
    entry = tomlkit.table()
    entry.update({"name": config.index_name, "url": config.index_url, "explicit": True})
    if config.flat:
        entry["format"] = "flat"
    indexes = uv.get("index")
    if not isinstance(indexes, AoT):
        uv["index"] = tomlkit.aot()
        indexes = uv["index"]
    assert isinstance(indexes, AoT)
    kept = [i for i in indexes if not str(i.get("name", "")).startswith(INDEX_PREFIX)]
    same = [i for i in indexes if i.get("name") == config.index_name]
    if same and _plain(same[0]) == _plain(entry) and len(kept) + 1 == len(indexes):
        return  # already there, as written: leave its layout alone
    while len(indexes):
        indexes.pop(0)
    for table in (*kept, entry):
        indexes.append(table)


def _requirements(document: tomlkit.TOMLDocument) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for text in document["project"].get("dependencies", []):
        try:
            requirement = Requirement(str(text))
        except InvalidRequirement:
            continue
        found[canonicalize_name(requirement.name)] = requirement
    return found


def _name_of(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _table(parent: Any, key: str, *, super_table: bool = False) -> Table:
    existing = parent.get(key)
    if isinstance(existing, Table):
        return existing
    table = tomlkit.table(is_super_table=super_table)
    parent[key] = table
    return table


def _plain(value: Any) -> Any:
    """tomlkit's items as plain Python values, for comparing."""
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if unwrap is not None else value
