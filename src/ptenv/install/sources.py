"""Where wheels come from: the official index, a named mirror, an offline wheelhouse, or the
sources the user's pip is configured with. Lists what a source holds for one project.
"""

from __future__ import annotations

import re
import shutil
import sys
import urllib.parse
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ptenv import DEFAULT_INDEX_BASE, _proc
from ptenv.errors import InstallFailed, UsageError
from ptenv.install import index
from ptenv.install.index import IndexFile
from ptenv.models import Variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True, kw_only=True)
class Mirror:
    name: str
    label: str
    url: str
    layout: str  # index | find-links
    source: str
    unverified: bool


class SourceKind(str, Enum):
    """Which kind of place the wheels come from; decides what the installer may add."""

    INDEX = "index"  # the official PyTorch index, or another at --index-base
    MIRROR = "mirror"  # a named mirror of the PyTorch index (--mirror)
    PIP_CONFIG = "pip-config"  # whatever pip is configured with (--use-pip-config)
    WHEELHOUSE = "wheelhouse"  # a folder of wheels and nothing else (--find-links)


@dataclass(frozen=True, kw_only=True)
class Source:
    """One place to install from, already specialised to a variant."""

    kind: SourceKind
    label: str  # for people: "official index", "mirror nju", "wheelhouse /srv/wheels"
    index_url: str | None  # PEP 503 index for --index-url; None: the installer's default
    find_links: tuple[str, ...] = ()  # folders or flat listing URLs
    extra_index_urls: tuple[str, ...] = ()

    @property
    def offline(self) -> bool:
        """Only the find-links, no index at all: a wheelhouse (`--find-links DIR`)."""
        return self.kind is SourceKind.WHEELHOUSE

    @property
    def official(self) -> bool:
        return self.kind is SourceKind.INDEX and self.label == OFFICIAL_LABEL


OFFICIAL_LABEL = "official index"


@cache
def mirrors() -> dict[str, Mirror]:
    text = resources.files("ptenv.releases").joinpath("mirrors.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    return {
        m["name"]: Mirror(
            name=m["name"],
            label=m["label"],
            url=m["url"],
            layout=m["layout"],
            source=m["source"],
            unverified=bool(m.get("unverified")),
        )
        for m in raw["mirror"]
    }


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    index_base: str
    mirror: str | None = None
    find_links: Path | None = None
    use_pip_config: bool = False
    insecure: bool = False


def source_for(
    variant: Variant, options: SourceOptions, pip_config: dict[str, str] | None = None
) -> Source:
    """The Source for one variant, from the user's choice of official / mirror / wheelhouse."""
    chosen = [options.mirror is not None, options.find_links is not None, options.use_pip_config]
    if sum(chosen) > 1:
        raise UsageError(
            "--mirror, --find-links and --use-pip-config exclude each other.",
            hint="Pick one source.",
        )
    if options.find_links is not None:
        folder = options.find_links
        if not folder.is_dir():
            raise UsageError(
                f"--find-links {folder}: no such folder.",
                hint="Point it at a folder of .whl files (a wheelhouse).",
            )
        return Source(
            kind=SourceKind.WHEELHOUSE,
            label=f"wheelhouse {folder}",
            index_url=None,
            find_links=(str(folder.absolute()),),
        )
    if options.mirror is not None:
        mirror = mirrors().get(options.mirror)
        if mirror is None:
            raise UsageError(
                f"--mirror {options.mirror!r} is not a mirror ptenv knows.",
                hint="Known: " + ", ".join(sorted(mirrors())) + "; or give --index-base URL.",
            )
        url = f"{mirror.url}/{variant.tag}"
        flat = mirror.layout == "find-links"
        return Source(
            kind=SourceKind.MIRROR,
            label=f"mirror {mirror.name}",
            index_url=None if flat else url,
            find_links=(url,) if flat else (),
        )
    if options.use_pip_config:
        config = pip_config if pip_config is not None else read_pip_config()
        index_url = config.get("index-url")
        extra = tuple(config.get("extra-index-url", "").split())
        links = tuple(config.get("find-links", "").split())
        if not (index_url or extra or links):
            raise UsageError(
                "--use-pip-config: pip has no index-url, extra-index-url or find-links configured.",
                hint="Check `pip config list`.",
            )
        for url in [index_url or "", *extra, *(link for link in links if "://" in link)]:
            if url:
                index.check_url(url, options.insecure, what="pip's configured index")
        return Source(
            kind=SourceKind.PIP_CONFIG,
            label="pip config",
            index_url=index_url,
            find_links=links,
            extra_index_urls=extra,
        )
    index.check_url(options.index_base, options.insecure)
    return Source(
        kind=SourceKind.INDEX,
        label=OFFICIAL_LABEL if options.index_base == DEFAULT_INDEX_BASE else "index",
        index_url=f"{options.index_base.rstrip('/')}/{variant.tag}",
    )


_PIP_CONFIG_LINE = re.compile(r"^(?:global|install|:env:)\.([\w-]+)='?(.*?)'?$")


def parse_pip_config(text: str) -> dict[str, str]:
    """`pip config list` output -> {'index-url': ..., 'extra-index-url': ..., 'find-links': ...}."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIP_CONFIG_LINE.match(line.strip())
        if match and match.group(1) in ("index-url", "extra-index-url", "find-links"):
            values[match.group(1)] = match.group(2).strip("'\"")
    return values


def read_pip_config(python: str = sys.executable) -> dict[str, str]:
    """What the user's pip is configured with, as `pip config list` reports it.

    ptenv's own environment may have no pip (bootstrap, `uv tool install`), so the pip on
    PATH answers when this interpreter's cannot: the configuration files are the same.
    """
    candidates = [[python, "-m", "pip"]]
    candidates += [[found] for found in (shutil.which("pip3"), shutil.which("pip")) if found]
    for pip in candidates:
        done = _proc.run([*pip, "config", "list"], timeout=30)
        if done.ok:
            return parse_pip_config(done.stdout)
    return {}


def list_project(source: Source, project: str) -> list[IndexFile]:
    """Every file the source holds for a project (index page, flat listing or folder)."""
    files: list[IndexFile] = []
    if source.index_url is not None:
        files += index.fetch_project(source.index_url, project)
    for url in source.extra_index_urls:
        files += index.fetch_project(url, project)
    for link in source.find_links:
        files += _flat_listing(link)
    return files


def _flat_listing(link: str) -> list[IndexFile]:
    if "://" not in link or link.startswith("file://"):
        folder = Path(urllib.parse.urlsplit(link).path if link.startswith("file://") else link)
        return [
            IndexFile(p.name, p.absolute().as_uri(), None)
            for p in sorted(folder.glob("*"))
            if p.is_file()
        ]
    from ptenv import _http  # noqa: PLC0415 - the network stack only when a page is read

    page = link.rstrip("/") + "/"
    try:
        found = _http.get_page(page, timeout=index.FETCH_TIMEOUT_S)
    except _http.HttpError as error:
        raise InstallFailed(
            f"Cannot reach {page}: {error.reason}.",
            hint="Try another --mirror, or --find-links with a local folder.",
        ) from None
    return index.parse_simple_html(found.url, found.text)


def foreign_links(source: Source, files: list[IndexFile]) -> list[str]:
    """Hosts that a mirror's wheel links point to other than the mirror itself."""
    own = {
        urllib.parse.urlsplit(u).hostname
        for u in [source.index_url or "", *source.find_links, *source.extra_index_urls]
        if u
    }
    hosts = {urllib.parse.urlsplit(f.url).hostname for f in files}
    return sorted(h for h in hosts if h and h not in own)
