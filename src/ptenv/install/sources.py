"""Where wheels come from: the official index, a named mirror, a wheelhouse (a folder or a
flat listing URL), PyPI (or a PyPI mirror), or the sources the user's pip is configured with.
Lists what a source holds for one project.

Torch and its dependencies may come from different places: a flat-listing mirror holds torch
wheels only, so the dependencies come from the installer's default index, which is PyPI, a
PyPI mirror (--pypi-mirror), or the user's own default index (PIP_INDEX_URL,
UV_DEFAULT_INDEX, pip's index-url).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ptenv import DEFAULT_INDEX_BASE, _proc
from ptenv.errors import UsageError
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
    WHEELHOUSE = "wheelhouse"  # a folder or flat listing of wheels, nothing else (--find-links)
    PYPI = "pypi"  # PyPI's own untagged wheels, or a PyPI mirror's (--pypi)


@dataclass(frozen=True, kw_only=True)
class Source:
    """One place to install from, already specialised to a variant."""

    kind: SourceKind
    label: str  # for people: "official index", "mirror nju", "wheelhouse /srv/wheels"
    index_url: str | None  # PEP 503 index for --index-url; None: the installer's default
    find_links: tuple[str, ...] = ()  # folders or flat listing URLs
    extra_index_urls: tuple[str, ...] = ()
    # The installer's default index where index_url is None and it is not a wheelhouse:
    # a PyPI mirror or the user's own default; None: the installer's (PyPI).
    default_index: str | None = None

    @property
    def offline(self) -> bool:
        """Only the find-links, no index at all: a wheelhouse without a --pypi-mirror."""
        return self.kind is SourceKind.WHEELHOUSE and self.default_index is None

    @property
    def official(self) -> bool:
        return self.kind is SourceKind.INDEX and self.label == OFFICIAL_LABEL


OFFICIAL_LABEL = "official index"


@cache
def _mirror_file() -> dict[str, Any]:
    text = resources.files("ptenv.releases").joinpath("mirrors.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    return raw


def _mirror_table(table: str, layout: str | None = None) -> dict[str, Mirror]:
    return {
        m["name"]: Mirror(
            name=m["name"],
            label=m["label"],
            url=m["url"],
            layout=layout or m["layout"],
            source=m["source"],
            unverified=bool(m.get("unverified")),
        )
        for m in _mirror_file()[table]
    }


def mirrors() -> dict[str, Mirror]:
    """Mirrors of the PyTorch index (--mirror NAME)."""
    return _mirror_table("mirror")


def pypi_mirrors() -> dict[str, Mirror]:
    """Mirrors of PyPI (--pypi-mirror NAME): simple indexes, all."""
    return _mirror_table("pypi_mirror", layout="index")


def pypi_mirror_url(value: str, insecure: bool = False) -> tuple[str, str]:
    """--pypi-mirror NAME|URL -> (URL, label)."""
    if "://" in value:
        index.check_url(value, insecure, what="--pypi-mirror")
        return value.rstrip("/"), f"PyPI mirror {value}"
    mirror = pypi_mirrors().get(value)
    if mirror is None:
        raise UsageError(
            f"--pypi-mirror {value!r} is not a PyPI mirror ptenv knows.",
            hint="Known: " + ", ".join(sorted(pypi_mirrors())) + "; or give its URL "
            "(https://host/simple).",
        )
    return mirror.url, f"PyPI mirror {mirror.name}"


# The user's own default index for the dependencies, as each installer would read it.
DEFAULT_INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    index_base: str
    mirror: str | None = None
    find_links: str | None = None  # a folder, or the URL of a flat listing
    use_pip_config: bool = False
    insecure: bool = False
    pypi: bool = False  # torch from PyPI (or the PyPI mirror): its untagged build
    pypi_mirror: str | None = None  # NAME or URL: the dependencies' index (torch's too, --pypi)
    env: Mapping[str, str] = field(default_factory=dict)  # for the user's default index


def source_for(
    variant: Variant, options: SourceOptions, pip_config: dict[str, str] | None = None
) -> Source:
    """The Source for one variant, from the user's choice of official / mirror / wheelhouse."""
    chosen = [
        options.mirror is not None,
        options.find_links is not None,
        options.use_pip_config,
        options.pypi,
    ]
    if sum(chosen) > 1:
        raise UsageError(
            "--mirror, --find-links, --use-pip-config and --pypi exclude each other.",
            hint="Pick one source for torch (--pypi-mirror combines with any of them).",
        )
    if options.pypi:
        if options.pypi_mirror is None:
            return Source(kind=SourceKind.PYPI, label="PyPI", index_url=None)
        url, label = pypi_mirror_url(options.pypi_mirror, options.insecure)
        return Source(kind=SourceKind.PYPI, label=label, index_url=url)
    if options.find_links is not None:
        return _wheelhouse(options)
    if options.mirror is not None:
        return _mirror(variant, options, pip_config)
    if options.use_pip_config:
        return _pip_config(options, pip_config)
    index.check_url(options.index_base, options.insecure)
    return Source(
        kind=SourceKind.INDEX,
        label=OFFICIAL_LABEL if options.index_base == DEFAULT_INDEX_BASE else "index",
        index_url=f"{options.index_base.rstrip('/')}/{variant.tag}",
    )


def _mirror(variant: Variant, options: SourceOptions, pip_config: dict[str, str] | None) -> Source:
    mirror = mirrors().get(options.mirror or "")
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
        default_index=_dependency_index(options, pip_config) if flat else None,
    )


def _pip_config(options: SourceOptions, pip_config: dict[str, str] | None) -> Source:
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
    from ptenv import _http  # noqa: PLC0415 - pip's cert and proxy for ptenv's own reads

    _http.configure(_http.Network.from_env(options.env or os.environ, config))
    return Source(
        kind=SourceKind.PIP_CONFIG,
        label="pip config",
        index_url=index_url,
        find_links=links,
        extra_index_urls=extra,
        default_index=None if index_url else _dependency_index(options, pip_config),
    )


def _wheelhouse(options: SourceOptions) -> Source:
    """--find-links DIR (offline) or --find-links URL (a flat listing, nothing else)."""
    link = options.find_links or ""
    if "://" in link and not link.startswith("file://"):
        index.check_url(link, options.insecure, what="--find-links")
        return Source(
            kind=SourceKind.WHEELHOUSE,
            label=f"wheelhouse {link}",
            index_url=None,
            find_links=(link,),
            default_index=_explicit_pypi_mirror(options),
        )
    folder = (
        Path(urllib.parse.unquote(urllib.parse.urlsplit(link).path))
        if "://" in link
        else Path(link)
    )
    if not folder.is_dir():
        raise UsageError(
            f"--find-links {link}: no such folder.",
            hint="Point it at a folder of .whl files (a wheelhouse), or at a flat listing URL.",
        )
    return Source(
        kind=SourceKind.WHEELHOUSE,
        label=f"wheelhouse {folder}",
        index_url=None,
        find_links=(str(folder.absolute()),),
        default_index=_explicit_pypi_mirror(options),
    )


def _explicit_pypi_mirror(options: SourceOptions) -> str | None:
    """A wheelhouse stays offline unless a PyPI mirror is named for what it lacks."""
    if options.pypi_mirror is None:
        return None
    return pypi_mirror_url(options.pypi_mirror, options.insecure)[0]


def _dependency_index(options: SourceOptions, pip_config: dict[str, str] | None) -> str | None:
    """Where the dependencies come from when torch's source holds torch alone."""
    if options.pypi_mirror is not None:
        return pypi_mirror_url(options.pypi_mirror, options.insecure)[0]
    for name in DEFAULT_INDEX_VARIABLES:
        if options.env.get(name):
            return options.env[name]
    config = pip_config if pip_config is not None else read_pip_config()
    return config.get("index-url") or None


_PIP_CONFIG_LINE = re.compile(r"^(?:global|install|download|:env:)\.([\w-]+)='?(.*?)'?$")
# Where wheels come from (ptenv decides these) ...
PIP_SOURCE_KEYS = ("index-url", "extra-index-url", "find-links")
# ... and how to reach them (the user decides these; passed on to the installer).
PIP_NETWORK_KEYS = (
    "cert",
    "client-cert",
    "proxy",
    "trusted-host",
    "keyring-provider",
    "timeout",
    "default-timeout",  # PIP_DEFAULT_TIMEOUT
    "retries",
)


def parse_pip_config(text: str) -> dict[str, str]:
    """`pip config list` output -> {'index-url': ..., 'cert': ..., 'proxy': ...}."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIP_CONFIG_LINE.match(line.strip())
        if match and match.group(1) in (*PIP_SOURCE_KEYS, *PIP_NETWORK_KEYS):
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
    if source.kind is SourceKind.PYPI and source.index_url is None:
        return files  # PyPI itself: the installer's default index, not read by ptenv
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
        found = _http.get_page(page)
    except _http.HttpError as error:
        raise index.unreachable(error, "the flat listing") from None
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
